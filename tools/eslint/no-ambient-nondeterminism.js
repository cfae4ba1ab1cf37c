// ESLint rule: no ambient nondeterminism in the simulated world.
// Forbids Date.now(), new Date() without arguments, Math.random(), performance.now(),
// process.hrtime, crypto.random*, and the timers (setTimeout, setInterval, setImmediate) —
// unless the line (or the line above) carries the marker `wall-clock ok`, which states that the
// use is outside the simulation (progress display, logging, benchmarks, transport plumbing).
'use strict';

const MARKER = /wall-clock ok/;
const TIMERS = new Set(['setTimeout', 'setInterval', 'setImmediate']);

module.exports = {
  meta: {
    type: 'problem',
    docs: { description: 'forbid wall-clock time, unseeded randomness and timers in simulation code' },
    schema: [],
    messages: {
      forbidden: '{{what}} is ambient nondeterminism: use the SimClock / seeded Prng, or mark a use outside the simulation with "// wall-clock ok".',
    },
  },
  create(context) {
    const source = context.sourceCode ?? context.getSourceCode();
    const marked = (node) => {
      const line = node.loc.start.line;
      const lines = source.lines;
      return MARKER.test(lines[line - 1] ?? '') || MARKER.test(lines[line - 2] ?? '');
    };
    const report = (node, what) => {
      if (!marked(node)) context.report({ node, messageId: 'forbidden', data: { what } });
    };
    const memberName = (node) => {
      if (node.type !== 'MemberExpression' || node.computed) return null;
      const obj = node.object.type === 'Identifier' ? node.object.name : node.object.type === 'MemberExpression' && !node.object.computed ? node.object.property.name : null;
      return obj ? `${obj}.${node.property.name}` : null;
    };
    return {
      MemberExpression(node) {
        const name = memberName(node);
        if (!name) return;
        if (name === 'Date.now' || name === 'Math.random' || name === 'performance.now' || name === 'process.hrtime') report(node, name);
        else if (/^crypto\.random/.test(name)) report(node, name);
      },
      NewExpression(node) {
        if (node.callee.type === 'Identifier' && node.callee.name === 'Date' && node.arguments.length === 0) report(node, 'new Date()');
      },
      CallExpression(node) {
        if (node.callee.type === 'Identifier' && TIMERS.has(node.callee.name)) report(node, node.callee.name);
        if (node.callee.type === 'Identifier' && /^random(UUID|Bytes|Int)$/.test(node.callee.name)) report(node, node.callee.name);
      },
    };
  },
};
