// The host scheduler, through HostWorld's records and inspect(): wake-up placement, time slices,
// high-priority noise preemption.
import { oneHost, SmallWorld } from '../testing/small-world.fixture';

const vm = (o: { vcpus: number; affinity?: string; workload?: string }) => `  - id: vm1
    host: h1
    vcpus: ${o.vcpus}${o.affinity ? `\n    affinity: ${o.affinity}` : ''}
    vpmu: { mode: emulated }
    workload: ${o.workload ?? 'specint'}`;

describe('scheduler part', () => {
  it('places woken vCPU threads on idle allowed pCPUs, lowest index first', () => {
    const w = SmallWorld.of(oneHost({ pcpus: 3, vms: vm({ vcpus: 2 }) }));
    const pcpus = w.host().inspect().pcpus;
    expect(pcpus.map((c) => c.running)).toEqual(['vcpu:vm1/0', 'vcpu:vm1/1', 'idle']);
    expect(pcpus.every((c) => c.runqueue.length === 0)).toBe(true);
    const first = w.runUntil(1).of('contextSwitch');
    expect(first.map((e) => [e.at.pcpu, e.prevThread, e.nextThread, e.preempted])).toEqual([
      [0, 'idle', 'vcpu:vm1/0', false],
      [1, 'idle', 'vcpu:vm1/1', false],
    ]);
  });

  it('queues a thread whose allowed pCPUs are busy and rotates the two at each time slice', () => {
    const w = SmallWorld.of(oneHost({ pcpus: 2, host: '    timeslice: 2ms', vms: vm({ vcpus: 2, affinity: '[0, 0]' }) }));
    expect(w.host().inspect().pcpus[0]).toEqual({ pcpu: 0, running: 'vcpu:vm1/0', runqueue: ['vcpu:vm1/1'] });
    w.runUntil(9_000_000);
    const slices = w.of('contextSwitch').filter((e) => e.preempted);
    expect(slices.map((e) => e.atNs)).toEqual([2_000_000, 4_000_000, 6_000_000, 8_000_000]);
    expect(slices.map((e) => e.nextThread)).toEqual(['vcpu:vm1/1', 'vcpu:vm1/0', 'vcpu:vm1/1', 'vcpu:vm1/0']);
    // Being descheduled forces the running vCPU out of guest mode.
    const preemptions = w.of('vmExit').filter((e) => e.reason === 'preemption');
    expect(preemptions.map((e) => e.atNs)).toEqual(slices.map((e) => e.atNs));
    // pCPU 1 is not allowed: it never runs a vCPU.
    expect(w.of('contextSwitch').some((e) => e.at.pcpu === 1)).toBe(false);
  });

  it('a high-priority noise thread preempts at once; the preempted vCPU resumes after its burst', () => {
    const noise = `    noise:
      - { id: irq, cpus: [0], period: 2ms, runtime: 100us, priority: high }`;
    const w = SmallWorld.of(oneHost({ pcpus: 1, host: noise, vms: vm({ vcpus: 1 }) })).runUntil(10_000_000);
    const cs = w.of('contextSwitch');
    const ins = cs.filter((e) => e.nextThread === 'noise:irq');
    expect(ins.length).toBeGreaterThan(0);
    for (const e of ins) {
      expect(e).toMatchObject({ prevThread: 'vcpu:vm1/0', preempted: true });
      // The burst ends after its runtime and the vCPU gets its pCPU back.
      const back = cs.find((x) => x.atNs > e.atNs && x.prevThread === 'noise:irq')!;
      expect(back).toMatchObject({ atNs: e.atNs + 100_000, nextThread: 'vcpu:vm1/0' });
    }
    expect(w.of('vmExit').filter((e) => e.reason === 'preemption').map((e) => e.atNs)).toEqual(ins.map((e) => e.atNs));
  });

  it('a pCPU whose thread blocks steals a queued thread that may run there', () => {
    const vms = `  - id: idler
    host: h1
    vcpus: 1
    affinity: [1]
    vpmu: { mode: emulated }
    workload: idle
  - id: busy
    host: h1
    vcpus: 2
    vpmu: { mode: emulated }
    workload: specint`;
    const w = SmallWorld.of(oneHost({ pcpus: 2, host: '    timeslice: 50ms', vms }));
    // busy/1 found both pCPUs taken and queued on the first of the shortest queues.
    expect(w.host().inspect().pcpus).toEqual([
      { pcpu: 0, running: 'vcpu:busy/0', runqueue: ['vcpu:busy/1'] },
      { pcpu: 1, running: 'vcpu:idler/0', runqueue: [] },
    ]);
    w.runUntil(10_000_000);
    const halt = w.of('vmExit').find((e) => e.reason === 'hlt' && e.at.vm === 'idler')!;
    expect(halt).toBeDefined();
    // The idle guest halts: its pCPU takes busy/1 from pCPU 0's run queue instead of idling.
    const next = w.of('contextSwitch').find((e) => e.atNs === halt.atNs && e.at.pcpu === 1)!;
    expect(next).toMatchObject({ prevThread: 'vcpu:idler/0', nextThread: 'vcpu:busy/1', preempted: false });
  });
});
