// The summary's findings: repeats (same kind, place and detail class) fold into one entry with a
// count and the first/last time; the number of entries is bounded whatever the run raises.
import { parseScenario } from '@vpmu/scenario';
import type { SimEvent } from '@vpmu/sim';
import { SummaryBuilder } from './summary.builder';
import { MAX_FINDING_ENTRIES } from './summary.types';

const parsed = parseScenario(`version: 1
duration: 10ms
hosts: [{ id: h1, cpu: intel-spr, pcpus: 2 }]
vms: [{ id: vm1, host: h1, vcpus: 2 }]
`);
if (!parsed.ok) throw new Error('fixture scenario invalid');
const scenario = parsed.scenario;

const finding = (atNs: number, detail: string, extra: Partial<Extract<SimEvent, { kind: 'finding' }>> = {}): SimEvent => ({
  kind: 'finding',
  atNs,
  at: { host: 'h1', vm: 'vm1', vcpu: 0 },
  findingKind: 'lbr-polluted',
  detail,
  ...extra,
});

const summarize = (events: SimEvent[]) => {
  const b = new SummaryBuilder(scenario);
  b.onEvents(events);
  return b.finish({ id: 'r', seed: 1, toolVersion: 't', transport: 'in-process' }, { digestHex: '', contentDigestHex: '' }, 10);
};

describe('SummaryBuilder findings', () => {
  it('folds repeats of the same kind, place and detail class, keeping the first detail and the first/last time', () => {
    const s = summarize([
      finding(1000, 'read returned 32 foreign entries of 32 at 990 ns'),
      finding(5000, 'read returned 7 foreign entries of 32 at 4990 ns'),
      finding(6000, 'read returned 3 foreign entries of 32 at 5990 ns', { at: { host: 'h1', vm: 'vm1', vcpu: 1 } }),
      finding(9000, 'read returned 1 foreign entries of 32 at 8990 ns', { count: 10 }),
      finding(9500, 'a different detail'),
      finding(9600, 'watchdog blind on cpu1'),
      finding(9700, 'watchdog blind on cpu2'),
    ]);
    expect(s.findings).toEqual([
      { kind: 'lbr-polluted', atNs: 1000, lastAtNs: 9000, count: 12, host: 'h1', vm: 'vm1', vcpu: 0, detail: 'read returned 32 foreign entries of 32 at 990 ns' },
      { kind: 'lbr-polluted', atNs: 6000, lastAtNs: 6000, count: 1, host: 'h1', vm: 'vm1', vcpu: 1, detail: 'read returned 3 foreign entries of 32 at 5990 ns' },
      { kind: 'lbr-polluted', atNs: 9500, lastAtNs: 9500, count: 1, host: 'h1', vm: 'vm1', vcpu: 0, detail: 'a different detail' },
      // A number inside a name says where: not folded.
      { kind: 'lbr-polluted', atNs: 9600, lastAtNs: 9600, count: 1, host: 'h1', vm: 'vm1', vcpu: 0, detail: 'watchdog blind on cpu1' },
      { kind: 'lbr-polluted', atNs: 9700, lastAtNs: 9700, count: 1, host: 'h1', vm: 'vm1', vcpu: 0, detail: 'watchdog blind on cpu2' },
    ]);
  });

  it(`keeps at most ${MAX_FINDING_ENTRIES} entries: later new detail classes join their kind's entry at that place`, () => {
    const words = (i: number) => i.toString(26).replace(/[0-9]/g, (d) => 'qrstuvwxyz'[Number(d)]); // no digits: every detail its own class
    const events = Array.from({ length: 5000 }, (_, i) => finding(i, `detail ${words(i)}`));
    const s = summarize(events);
    expect(s.findings).toHaveLength(MAX_FINDING_ENTRIES + 1);
    expect(s.findings.reduce((n, f) => n + f.count, 0)).toBe(5000);
    const rest = s.findings[MAX_FINDING_ENTRIES];
    expect(rest).toMatchObject({ atNs: MAX_FINDING_ENTRIES, lastAtNs: 4999, count: 5000 - MAX_FINDING_ENTRIES });
    expect(rest.detail).toMatch(/with the later lbr-polluted findings here whose details differ/);
    expect(JSON.stringify(s.findings).length).toBeLessThan(500_000);
  });
});
