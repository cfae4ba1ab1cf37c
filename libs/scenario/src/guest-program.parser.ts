// `vms[].program` of a scenario: the guest's scripted steps (one operation per step: MSR and
// PMC accesses, loops, paravirt hypercalls, arm64 PMU registers) and `expect` checks that point
// at an earlier step.

import { ARM_PMU_REGS } from '@vpmu/pmu';
import { PV_HYPERCALLS, type ProgramOp } from '@vpmu/world-spec';
import { isMap } from 'yaml';

import { U32_MAX } from './scenario.defaults';
import { ScenarioBuildContext } from './scenario-build.context';
import { keysOf, PROGRAM_OPS, PV_HW_CONFIG } from './scenario.fields';
import { childPath, Field, MapView } from './yaml-node.reader';

const PROGRAM_KEYS = Object.fromEntries(PROGRAM_OPS.map((op) => [op, keysOf(op)])) as Record<(typeof PROGRAM_OPS)[number], readonly string[]>;

export function readProgram(ctx: ScenarioBuildContext, f: Field, vmLabel: string, vcpus: number | undefined): ProgramOp[] {
  const items = ctx.r.list(f);
  if (!items) return [];
  const ops: (ProgramOp | undefined)[] = [];
  items.forEach((it, index) => ops.push(readProgramStep(ctx, it, index, ops, vmLabel, vcpus)));
  return ops.filter((op): op is ProgramOp => op !== undefined);
}

function readProgramStep(
  ctx: ScenarioBuildContext,
  f: Field,
  index: number,
  earlier: readonly (ProgramOp | undefined)[],
  vmLabel: string,
  vcpus: number | undefined,
): ProgramOp | undefined {
  const example = 'a one-key mapping such as `- rdmsr: { msr: 0x186 }`';
  const outer = ctx.r.map(f, PROGRAM_OPS, {});
  if (!outer) return undefined;
  const keys = outer.keys();
  if (keys.length !== 1) {
    if (keys.length === 0 && isMap(f.node) && f.node.items.length === 0) ctx.r.error(f, `empty step; expected ${example}`);
    else if (keys.length > 1) ctx.r.error(f, `a step has exactly one operation, got ${keys.join(' and ')}; expected ${example}`);
    return undefined;
  }
  const op = keys[0] as (typeof PROGRAM_OPS)[number];
  const body = outer.get(op)!;
  const m = ctx.r.map(body, PROGRAM_KEYS[op]);
  if (!m) return undefined;
  const vcpu = (): number => {
    const x = m.get('vcpu');
    if (!x) return 0;
    const v = ctx.r.int(x, { min: 0 });
    if (v !== undefined && vcpus !== undefined && v >= vcpus) {
      ctx.r.error(x, `vCPU ${v} does not exist (VM ${vmLabel} has ${vcpus})`);
    }
    return v ?? 0;
  };
  const msr = (): number | undefined => ctx.optReq(m, 'msr', (x) => ctx.r.intOrHex(x, { min: 0, max: U32_MAX }));
  const value = (key: string, required: boolean): number | undefined =>
    required ? ctx.optReq(m, key, (x) => ctx.r.intOrHex(x, { min: 0 })) : ctx.opt(m, key, (x) => ctx.r.intOrHex(x, { min: 0 }));

  switch (op) {
    case 'wrmsr': {
      const a = msr();
      const v = value('value', true);
      const c = vcpu();
      return a === undefined || v === undefined ? undefined : { op, msr: a, value: v, vcpu: c };
    }
    case 'rdmsr': {
      const a = msr();
      const c = vcpu();
      return a === undefined ? undefined : { op, msr: a, vcpu: c };
    }
    case 'rdpmc': {
      const i = ctx.optReq(m, 'index', (x) => ctx.r.intOrHex(x, { min: 0, max: U32_MAX }));
      const c = vcpu();
      return i === undefined ? undefined : { op, index: i, vcpu: c };
    }
    case 'loop': {
      const n = ctx.optReq(m, 'instructions', (x) => ctx.r.intOrHex(x, { min: 1 }));
      const b = ctx.opt(m, 'branches', (x) => ctx.r.intOrHex(x, { min: 0 })) ?? 0;
      if (n !== undefined && b > n) ctx.r.error(m.get('branches')!, `${b} branches exceed the loop's ${n} instructions`);
      const c = vcpu();
      return n === undefined ? undefined : { op, instructions: n, branches: b, vcpu: c };
    }
    case 'expect':
      return readExpectStep(ctx, m, index, earlier);
    case 'setPmu': {
      const pmu = ctx.optReq(m, 'pmu', (x) => ctx.nonEmptyString(x));
      return pmu === undefined ? undefined : { op, pmu };
    }
    case 'setNrCounters': {
      const n = ctx.optReq(m, 'n', (x) => ctx.r.int(x, { min: 0, max: 31 }));
      return n === undefined ? undefined : { op, n };
    }
    case 'hypercall': {
      const call = ctx.optReq(m, 'call', (x) => ctx.r.oneOf(x, PV_HYPERCALLS));
      const id = ctx.optReq(m, 'id', (x) => ctx.r.intOrHex(x, { min: 0 }));
      const count = ctx.opt(m, 'count', (x) => ctx.r.int(x, { min: 1, max: 100_000 })) ?? 1;
      if (count > 1 && call !== undefined && call !== 'open') ctx.r.error(m.get('count')!, 'count repeats open only');
      const event = ctx.opt(m, 'event', (x) => ctx.r.oneOf(x, Object.keys(PV_HW_CONFIG)));
      const config = ctx.opt(m, 'config', (x) => ctx.r.intOrHex(x, { min: 0 }));
      const flag = (key: string): boolean => ctx.opt(m, key, (x) => ctx.r.bool(x)) ?? false;
      const attr = {
        type: ctx.opt(m, 'type', (x) => ctx.r.int(x, { min: 0, max: U32_MAX })) ?? 0,
        config: config ?? (event !== undefined ? PV_HW_CONFIG[event] : 1),
        period: ctx.opt(m, 'period', (x) => ctx.r.intOrHex(x, { min: 0 })) ?? 0,
        freq: flag('freq'),
        sampleType: ctx.opt(m, 'sampleType', (x) => ctx.r.intOrHex(x, { min: 0, max: U32_MAX })) ?? 0,
        flags: ctx.opt(m, 'flags', (x) => ctx.r.intOrHex(x, { min: 0, max: U32_MAX })) ?? 0,
        excludeUser: flag('excludeUser'),
        excludeKernel: flag('excludeKernel'),
      };
      const c = vcpu();
      return call === undefined || id === undefined ? undefined : { op, call, id, vcpu: c, count, attr };
    }
    case 'armRead':
    case 'armWrite': {
      const reg = ctx.optReq(m, 'reg', (x) => ctx.r.oneOf(x, ARM_PMU_REGS));
      const n = ctx.opt(m, 'n', (x) => ctx.r.int(x, { min: 0, max: 31 }));
      const c = vcpu();
      if (reg === undefined) return undefined;
      if (op === 'armRead') return { op, reg, vcpu: c, ...(n !== undefined && { n }) };
      const v = value('value', true);
      return v === undefined ? undefined : { op, reg, value: v, vcpu: c, ...(n !== undefined && { n }) };
    }
  }
}

function readExpectStep(ctx: ScenarioBuildContext, m: MapView, index: number, earlier: readonly (ProgramOp | undefined)[]): ProgramOp | undefined {
  const stepField = m.require('step', 'the index of an earlier step, counting from 0');
  let step = stepField && ctx.r.int(stepField, { min: 0 });
  if (stepField && step !== undefined) {
    if (step >= index) {
      ctx.r.error(stepField, `step ${step} is not an earlier step (this is step ${index}; steps count from 0)`);
      step = undefined;
    } else if (earlier[step]?.op === 'expect') {
      ctx.r.error(stepField, `step ${step} is itself an expect; point at the step that does something`);
      step = undefined;
    }
  }
  const equals = ctx.opt(m, 'equals', (x) => ctx.r.intOrHex(x, { min: 0 }));
  const atLeast = ctx.opt(m, 'atLeast', (x) => ctx.r.intOrHex(x, { min: 0 }));
  const atMost = ctx.opt(m, 'atMost', (x) => ctx.r.intOrHex(x, { min: 0 }));
  const fault = ctx.opt(m, 'fault', (x) => ctx.r.oneOf(x, ['none', 'gp', 'undefined'] as const));
  const errno = ctx.opt(m, 'errno', (x) => ctx.nonEmptyString(x));
  if (errno !== undefined && !/^E[A-Z0-9]+$/.test(errno)) ctx.r.error(m.get('errno')!, `${errno} is not an errno name (EBUSY, EINVAL, ...)`);
  if (!m.has('equals') && !m.has('atLeast') && !m.has('atMost') && !m.has('fault') && !m.has('errno')) {
    ctx.diag.error(m.path, 'give at least one of equals, atLeast, atMost or fault (or errno)', m.line);
    return undefined;
  }
  if (atLeast !== undefined && atMost !== undefined && atLeast > atMost) {
    ctx.diag.error(childPath(m.path, 'atLeast'), `atLeast ${atLeast} is above atMost ${atMost}`, m.get('atLeast')!.line);
  }
  const target = step === undefined ? undefined : earlier[step];
  const checksValue = m.has('equals') || m.has('atLeast') || m.has('atMost');
  if (target && checksValue && target.op !== 'rdmsr' && target.op !== 'rdpmc' && target.op !== 'hypercall' && target.op !== 'armRead') {
    ctx.r.error(stepField!, `step ${step} (${target.op}) returns no value; only rdmsr, rdpmc, hypercall and armRead do (use fault or errno to check it)`);
  }
  if (step === undefined) return undefined;
  const out: ProgramOp = { op: 'expect', step };
  if (equals !== undefined) out.equals = equals;
  if (atLeast !== undefined) out.atLeast = atLeast;
  if (atMost !== undefined) out.atMost = atMost;
  if (fault !== undefined) out.fault = fault;
  if (errno !== undefined) out.errno = errno;
  return out;
}
