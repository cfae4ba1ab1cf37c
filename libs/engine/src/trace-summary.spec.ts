import type { SimEvent } from '@vpmu/sim';
import { summarizeTrace } from './trace-summary';

const at = (vcpu: number) => ({ host: 'h1', pcpu: vcpu, vm: 'vm1', vcpu });
const exit = (atNs: number, vcpu: number, reason: string, costNs: number): SimEvent => ({ kind: 'vmExit', atNs, at: at(vcpu), reason, costNs, msr: 0 });
const entry = (atNs: number, vcpu: number, pmuSwitchNs: number, pmiInjected: boolean): SimEvent => ({ kind: 'vmEntry', atNs, at: at(vcpu), pmuSwitchNs, pmiInjected });
const pmi = (atNs: number, vcpu: number, lost: boolean): SimEvent => ({
  kind: 'pmi',
  atNs,
  at: at(vcpu),
  counter: 'cycles',
  owner: 'guest',
  deliveredTo: 'guest',
  vector: 0xfe,
  overflowNs: atNs,
  skidNs: 10,
  lost,
});
const sample: SimEvent = { kind: 'counterSample', atNs: 1500, at: at(0), event: 'cycles', actual: 9, observed: 9 };

describe('summarizeTrace (scenario trace: summary)', () => {
  const events = [exit(1000, 0, 'rdpmc', 300), entry(1100, 0, 50, false), sample, exit(1600, 1, 'hlt', 200), pmi(1700, 0, false), exit(1800, 0, 'rdpmc', 310), pmi(1900, 0, true), entry(1950, 0, 40, true)];

  it('counts each vCPU exits per reason, entries and PMIs per counter and owner, with their totals, at the epoch start', () => {
    const out = summarizeTrace(events, 1000);
    const summaries = out.filter((e) => e.kind === 'traceSummary');
    expect(summaries).toEqual([
      { kind: 'traceSummary', atNs: 1000, at: { host: 'h1', vm: 'vm1', vcpu: 0 }, of: 'vmExit', reason: 'rdpmc', count: 2, costNs: 610, flagged: 0 },
      { kind: 'traceSummary', atNs: 1000, at: { host: 'h1', vm: 'vm1', vcpu: 0 }, of: 'vmEntry', reason: '', count: 2, costNs: 90, flagged: 1 },
      { kind: 'traceSummary', atNs: 1000, at: { host: 'h1', vm: 'vm1', vcpu: 1 }, of: 'vmExit', reason: 'hlt', count: 1, costNs: 200, flagged: 0 },
      { kind: 'traceSummary', atNs: 1000, at: { host: 'h1', vm: 'vm1', vcpu: 0 }, of: 'pmi', reason: 'cycles', count: 2, costNs: 0, flagged: 1, owner: 'guest' },
    ]);
  });

  it('keeps every other event as it was, after the summaries, so the batch stays in time order', () => {
    const out = summarizeTrace(events, 1000);
    expect(out.filter((e) => e.kind !== 'traceSummary')).toEqual([sample]);
    for (let i = 1; i < out.length; i++) expect(out[i].atNs).toBeGreaterThanOrEqual(out[i - 1].atNs);
  });

  it('is a function of the events alone (same input, same output)', () => {
    expect(summarizeTrace(events, 1000)).toEqual(summarizeTrace([...events], 1000));
    expect(summarizeTrace([], 0)).toEqual([]);
  });
});
