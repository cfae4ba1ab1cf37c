// The parser test/docs/commands.test.ts relies on: which lines of a Markdown page are commands,
// what exit code each implies, and when a sample's shape matches real output.
import { extractCommands, shape, splitComment, unmatchedSampleLines } from './doc-commands';

const PAGE = [
  'Forms are not commands:',
  '```',
  'vpmu run FILE [--out DIR]',
  '```',
  '```sh',
  '# a comment line',
  'vpmu run scenarios/quickstart.yaml --out out/q   # --seed N for another run',
  "vpmu sweep x.yaml --vary 'a.b=*' \\",
  '  --seeds 3',
  "jq -c 'select(.kind == \"pmi\") # not a comment' q.jsonl",
  'vpmu validate nope.yaml   # exit 2: it does not exist',
  '```',
  '```',
  '$ vpmu replay out/q --verify',
  'identical: 200 epochs, 25369 events, digest 5233d37e…4ec0 (in 1.10s).',
  '$ vpmu inspect out/q --at 1ms   # exit 2',
  '```',
].join('\n');

describe('the doc command parser', () => {
  const cs = extractCommands('page.md', PAGE);

  it('takes every line of a sh block and the $ lines of other blocks, never a form', () => {
    expect(cs.map((c) => c.text)).toEqual([
      'vpmu run scenarios/quickstart.yaml --out out/q',
      "vpmu sweep x.yaml --vary 'a.b=*' --seeds 3",
      "jq -c 'select(.kind == \"pmi\") # not a comment' q.jsonl",
      'vpmu validate nope.yaml',
      'vpmu replay out/q --verify',
      'vpmu inspect out/q --at 1ms',
    ]);
    expect(cs.map((c) => c.line)).toEqual([7, 8, 10, 11, 14, 16]);
  });

  it('reads `# exit N` as the exit code a command is meant to have (0 otherwise)', () => {
    expect(cs.map((c) => c.expectExit)).toEqual([0, 0, 0, 2, 0, 2]);
    expect(splitComment("echo '#' x # exit 3")).toEqual({ command: "echo '#' x", comment: 'exit 3' });
  });

  it('keeps the lines after a $ command as its sample', () => {
    expect(cs[4].sample).toEqual(['identical: 200 epochs, 25369 events, digest 5233d37e…4ec0 (in 1.10s).']);
  });

  it('matches a sample by shape: figures and ids may move, words and line order may not', () => {
    expect(shape('took 2.09s wall (0.10x virtual speed, 12121 events/s)')).toBe(shape('took 13.5s wall (0.01x virtual speed, 9 events/s)'));
    expect(shape('digest: 6321caa9…')).toBe(shape('digest: 5233d37e138b9c71177e0705115730b01568f562ea42d0d9971d5bff8f8e4ec0'));
    const real = 'identical: 200 epochs, 25369 events, digest 5233d37e138b, content digest 94af5d93108d (in 5.58s).\n';
    expect(unmatchedSampleLines(['identical: 200 epochs, 1 events, digest 1234abcd…9f9f, content digest 94af5d93…5cd5 (in 1.10s).'], real)).toEqual([]);
    expect(unmatchedSampleLines(['identical: 200 epochs, 1 events, digest 1234abcd…9f9f (in 1.10s).'], real)).toHaveLength(1);
    expect(unmatchedSampleLines(['b 1', 'a 2'], 'a 1\nb 2\n')).toEqual(['a 2']);
  });
});
