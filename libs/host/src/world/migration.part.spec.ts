// Live migration between two hosts, through HostWorld's epoch results (transfers, records) and
// inspect(): phases, the hand-off of the VM's vCPUs, continuity of its counts, refusals, and
// checkpoints taken mid-migration.
import { restoreHostWorld, snapshotHostWorld } from '../host-world.snapshot';
import { SmallWorld } from '../testing/small-world.fixture';

const twoHosts = (mode: string, timeline: string) => `version: 1
name: world-migration
seed: 3
duration: 30ms
hosts:
  - { id: a, cpu: intel-spr, pcpus: 2 }
  - { id: b, cpu: intel-spr, pcpus: 2 }
  - { id: c, cpu: intel-spr, pcpus: 2 }
vms:
  - id: vm1
    host: a
    vcpus: 2
    memory: 64MiB
    vpmu: { mode: ${mode} }
    workload: specint
    guestPerf:
      - { id: stat, command: stat, events: [instructions, cycles] }
timeline:
${timeline}
`;
const MIGRATE = '  - at: 5ms\n    migrate: { vm: vm1, to: b, bandwidth: 25Gbps, maxDowntime: 5ms }';

describe('migration part', () => {
  it.each(['emulated', 'passthrough', 'paravirt'])('%s: setup, pre-copy and stop-and-copy on the source, resume on the destination; counts continue', (mode) => {
    const w = SmallWorld.of(twoHosts(mode, MIGRATE)).runUntil(4_000_000);
    expect(w.host('a').inspect().vcpus.map((v) => `${v.vm}/${v.vcpu}`)).toEqual(['vm1/0', 'vm1/1']);
    expect(w.host('b').inspect().vcpus).toEqual([]);
    w.runUntil();
    const source = w.of('migrationPhase', 'a');
    expect(source[0]).toMatchObject({ atNs: 5_000_000, phase: 'setup', fromHost: 'a', toHost: 'b', at: { host: 'a', vm: 'vm1' } });
    expect(source.slice(1, -1).every((p) => p.phase === 'precopy')).toBe(true);
    const stop = source[source.length - 1];
    expect(stop.phase).toBe('stop-and-copy');
    expect(w.transfers).toHaveLength(1);
    expect(w.transfers[0]).toMatchObject({ vm: 'vm1', fromHost: 'a', toHost: 'b', pausedAtNs: stop.atNs, readyAtNs: stop.atNs + stop.durationNs });
    const resume = w.of('migrationPhase', 'b');
    expect(resume).toHaveLength(1);
    expect(resume[0]).toMatchObject({ phase: 'resume', fromHost: 'a', toHost: 'b', at: { host: 'b', vm: 'vm1' } });
    expect(resume[0].atNs).toBeGreaterThanOrEqual(w.transfers[0].readyAtNs);
    // The vCPUs now live on b only, and run there.
    expect(w.host('a').inspect().vcpus).toEqual([]);
    const there = w.host('b').inspect();
    expect(there.vcpus.map((v) => `${v.vm}/${v.vcpu}`)).toEqual(['vm1/0', 'vm1/1']);
    expect(there.pcpus.map((c) => c.running).sort()).toEqual(['vcpu:vm1/0', 'vcpu:vm1/1']);
    expect([...w.findings('counter-discontinuity', 'a'), ...w.findings('counter-discontinuity', 'b')]).toEqual([]);
    // What the guest's perf session reads continues across the hosts: no count goes back.
    for (const vcpu of [0, 1]) {
      const seen = [...w.of('counterSample', 'a'), ...w.of('counterSample', 'b')].filter((s) => s.at.vcpu === vcpu && s.event === 'instructions').map((s) => s.observed);
      expect(seen.length).toBeGreaterThan(20);
      expect(seen.every((x, k) => k === 0 || x >= seen[k - 1])).toBe(true);
      expect(seen[seen.length - 1]).toBeGreaterThan(seen[0]);
    }
  });

  it('refuses a second migration of a VM still migrating, on the source only', () => {
    const w = SmallWorld.of(twoHosts('emulated', `${MIGRATE}\n  - at: 5500us\n    migrate: { vm: vm1, to: c, bandwidth: 25Gbps, maxDowntime: 5ms }`)).runUntil();
    const refused = w.of('migrationPhase', 'a').filter((p) => p.phase === 'refused');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ atNs: 5_500_000, detail: 'a migration of this VM is already in progress' });
    expect(w.findings('migration-refused-incompatible', 'a').map((f) => f.detail)).toEqual(['migration of vm1 to c refused: a migration of this VM is already in progress']);
    for (const other of ['b', 'c']) expect(w.of('migrationPhase', other).filter((p) => p.phase === 'refused')).toEqual([]);
    expect(w.transfers).toHaveLength(1);
  });

  it('hosts restored from checkpoints taken mid-migration continue exactly like the originals', () => {
    const text = twoHosts('emulated', MIGRATE);
    const original = SmallWorld.of(text).runUntil(6_000_000);
    const restored = SmallWorld.of(text).runUntil(6_000_000);
    restored.hosts.forEach((h, i) => (restored.hosts[i] = restoreHostWorld(snapshotHostWorld(h))));
    original.runUntil();
    restored.runUntil();
    for (const id of ['a', 'b', 'c']) expect(restored.events.get(id)).toEqual(original.events.get(id));
    expect(restored.host('b').inspect()).toEqual(original.host('b').inspect());
  });

  // Lookahead windows (docs/cluster.md) rest on this: the hand-off time a host reports while a
  // migration is in flight is the instant its stop-and-copy actually happens, from the setup
  // phase through every pre-copy pass, never later (a later bound would let a window run past it).
  it('earliestHandOffNs: nothing before the migrate action, then exactly the stop-and-copy instant until the hand-off', () => {
    const w = SmallWorld.of(twoHosts('emulated', MIGRATE)).runUntil(5_000_000);
    expect(w.host('a').earliestHandOffNs()).toBe(Infinity);
    const predicted: number[] = [];
    for (let t = 6_000_000; w.transfers.length === 0; t += 1_000_000) {
      w.runUntil(t);
      if (w.transfers.length === 0) predicted.push(w.host('a').earliestHandOffNs());
    }
    const stop = w.of('migrationPhase', 'a').find((p) => p.phase === 'stop-and-copy')!;
    expect(w.of('migrationPhase', 'a').filter((p) => p.phase === 'precopy').length).toBeGreaterThan(0);
    expect(predicted.length).toBeGreaterThan(1);
    expect(new Set(predicted)).toEqual(new Set([stop.atNs]));
    expect(w.transfers[0].pausedAtNs).toBe(stop.atNs);
    // Handed off: neither host has anything in flight any more.
    expect(w.host('a').earliestHandOffNs()).toBe(Infinity);
    expect(w.host('b').earliestHandOffNs()).toBe(Infinity);
  });
});
