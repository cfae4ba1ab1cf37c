// The swarm's world generator: from (seed, index) a scenario document nobody wrote, in the
// scenario format of docs/scenario.md. Every choice comes from a child stream of the seed
// (`Prng` of libs/sim), so `vpmu swarm --seed N` always makes the same worlds, and the feature
// choices follow "swarm testing" (Groce et al., ISSTA 2012): each world first picks which
// features it has at all, so some worlds are dense in one feature instead of all being a thin
// average of every feature. Worlds are small (a few ms of virtual time) so each runs in seconds.
//
// The test-only fault kinds (test-leak-host-counter, test-filter-bypass,
// test-migration-drop-state) are never generated: a world's counter-leak or filter-bypass must
// then come from a model defect, which is what the swarm hunts.
import { Prng } from '@vpmu/sim';

/** A scenario document as YAML would hold it (plain data, serialized by the swarm command). */
export type WorldDoc = {
  version: 1;
  name: string;
  seed: number;
  duration: string;
  epoch: string;
  checkpointEvery: number;
  sampleInterval: string;
  hosts: HostDoc[];
  vms: VmDoc[];
  timeline: TimelineDoc[];
};
export type HostDoc = { id: string; cpu: string; pcpus: number; vpmuModes: string[]; nmiWatchdog: boolean; perf?: Record<string, unknown>[]; noise?: Record<string, unknown>[] };
export type VmDoc = { id: string; host: string; vcpus: number; memory: string; vpmu: Record<string, unknown>; workload: Record<string, unknown>; guestPerf?: Record<string, unknown>[]; program?: Record<string, unknown>[]; affinity?: number[] };
export type TimelineDoc = { at: string } & Record<string, unknown>;

/** The real (non-test) fault kinds of docs/findings.md "Fault kinds", with params in range. */
const FAULTS: readonly ((r: Prng) => { kind: string; params?: Record<string, string | number> })[] = [
  (r) => ({ kind: 'pmi-skid', params: { meanNs: `${r.nextRange(100, 5000)}ns` } }),
  (r) => ({ kind: 'drop-pmi', params: { probability: pick(r, [0.25, 0.5, 1]) } }),
  (r) => ({ kind: 'late-pmi', params: { delayNs: `${r.nextRange(10, 500)}us` } }),
  (r) => ({ kind: 'pmi-overcount', params: { events: r.nextRange(1, 50) } }),
  (r) => ({ kind: 'counter-stuck-zero', params: { event: pick(r, ['all', 'instructions', 'cycles']) } }),
  (r) => ({ kind: 'kernel-leak-into-user', params: { fraction: pick(r, [0.01, 0.05, 0.2]) } }),
  (r) => ({ kind: 'branch-miscount-at-exit', params: { delta: r.nextRange(1, 4) } }),
];

const X86_CPUS = ['intel-spr', 'intel-icx', 'intel-skx'] as const;
const ARM_CPUS = ['arm-a76-a55', 'arm-hetero-n6-n4'] as const;
const ARM_PMUS: Record<string, readonly string[]> = {
  'arm-a76-a55': ['armv8_cortex_a76', 'armv8_cortex_a55'],
  'arm-hetero-n6-n4': ['armv8_cortex_a76', 'armv8_synthetic_little'],
};
const X86_MODES = ['none', 'emulated', 'passthrough', 'paravirt'] as const;
const PERF_EVENTS = ['instructions', 'cycles', 'ref-cycles', 'branches', 'branch-misses', 'cache-references', 'cache-misses'] as const;
const ARM_PERF_EVENTS = ['instructions', 'cycles', 'branches', 'branch-misses'] as const;
const PROFILES = ['specint', 'fio', 'idle', 'branchy'] as const;
/** Intel architectural event selects (SDM vol. 3B, table "architectural performance events"). */
const X86_EVENT_SELECTS = [0x3c, 0xc0, 0xc4, 0xc5, 0x2e] as const;

/** The world `index` of the swarm seeded with `seed`. */
export function generateWorld(seed: number, index: number): WorldDoc {
  const root = Prng.fromSeed(seed).child(`swarm/world/${index}`);
  // Swarm testing: first which features this world has, each on its own stream.
  const f = root.child('features');
  const features = {
    arm: f.chance(0.25),
    hostPerf: f.chance(0.5),
    noise: f.chance(0.4),
    guestPerf: f.chance(0.7),
    programs: f.chance(0.5),
    filters: f.chance(0.4),
    lbr: f.chance(0.35),
    migrations: f.chance(0.5),
    faults: f.chance(0.4),
    perfToggles: f.chance(0.4),
  };
  const r = root.child('shape');
  const durationUs = r.nextRange(2, 8) * 1000;
  const epochUs = pick(r, [250, 500, 1000]);
  const world: WorldDoc = {
    version: 1,
    name: `swarm-${seed}-${index}`,
    seed: r.nextRange(1, 1_000_000),
    duration: `${durationUs}us`,
    epoch: `${epochUs}us`,
    checkpointEvery: r.nextRange(1, 4),
    sampleInterval: `${pick(r, [100, 250, 500])}us`,
    hosts: [],
    vms: [],
    timeline: [],
  };
  const hostCount = r.nextRange(1, features.migrations ? 3 : 2);
  for (let h = 0; h < hostCount; h++) world.hosts.push(genHost(root.child(`host/${h}`), `h${h + 1}`, features, durationUs));
  const vmCount = r.nextRange(1, 3);
  for (let v = 0; v < vmCount; v++) {
    const host = world.hosts[r.nextInt(world.hosts.length)];
    world.vms.push(genVm(root.child(`vm/${v}`), `vm${v + 1}`, host, features, durationUs));
  }
  genTimeline(root.child('timeline'), world, features, durationUs);
  return world;
}

type Features = Record<'arm' | 'hostPerf' | 'noise' | 'guestPerf' | 'programs' | 'filters' | 'lbr' | 'migrations' | 'faults' | 'perfToggles', boolean>;

function genHost(r: Prng, id: string, f: Features, durationUs: number): HostDoc {
  const cpu = f.arm ? pick(r, ARM_CPUS) : pick(r, X86_CPUS);
  const host: HostDoc = {
    id,
    cpu,
    pcpus: r.nextRange(2, 8),
    // Sometimes a host offers fewer designs, so a migration to it is refused (migration-refused-incompatible).
    vpmuModes: f.arm ? ['emulated'] : r.chance(0.7) ? [...X86_MODES.slice(1)] : X86_MODES.slice(1).filter(() => r.chance(0.6)),
    nmiWatchdog: r.chance(0.7),
  };
  if (host.vpmuModes.length === 0) host.vpmuModes = ['emulated'];
  if (f.hostPerf && !f.arm) {
    host.perf = [];
    for (let i = r.nextRange(1, 2); i > 0; i--) {
      const startUs = r.chance(0.5) ? 0 : r.nextRange(0, durationUs / 2);
      const session: Record<string, unknown> = {
        id: `hp${i}`,
        events: pickSome(r, PERF_EVENTS, 1, 3),
        group: r.chance(0.3),
        excludeGuest: r.chance(0.5),
        pinned: r.chance(0.3),
        start: `${startUs}us`,
      };
      if (r.chance(0.5)) session.sample = r.chance(0.5) ? { freq: pick(r, [1000, 4000, 10000]) } : { period: pick(r, [100000, 1000000]) };
      if (r.chance(0.4)) session.stop = `${r.nextRange(startUs + 1, durationUs)}us`;
      host.perf.push(session);
    }
  }
  if (f.noise) {
    const periodUs = r.nextRange(100, 2000);
    host.noise = [{ id: 'noise0', period: `${periodUs}us`, runtime: `${r.nextRange(1, Math.floor(periodUs / 2))}us`, lbr: !f.arm && r.chance(0.5), priority: r.chance(0.5) ? 'high' : 'normal' }];
  }
  return host;
}

function genVm(r: Prng, id: string, host: HostDoc, f: Features, durationUs: number): VmDoc {
  const modes = ['none', ...host.vpmuModes];
  const mode = r.chance(0.1) ? 'none' : pick(r, modes.slice(1));
  const vm: VmDoc = {
    id,
    host: host.id,
    vcpus: r.nextRange(1, Math.min(2, host.pcpus)),
    memory: `${pick(r, [64, 128, 256])}MiB`,
    vpmu: { mode },
    workload: { profile: pick(r, PROFILES) },
  };
  if (r.chance(0.3)) vm.workload.overrides = { dirtyRate: `${pick(r, [50, 200, 800])}MB/s` };
  if (f.arm) {
    if (r.chance(0.5)) vm.vpmu.armPmu = pick(r, ARM_PMUS[host.cpu]);
  } else {
    if (f.filters && (mode === 'passthrough' || mode === 'emulated')) {
      vm.vpmu.filter = {
        action: r.chance(0.5) ? 'allow' : 'deny',
        events: pickSome(r, X86_EVENT_SELECTS, 1, 3).map((event) => ({ event, umask: 0 })),
        fixedCounterBitmap: r.nextInt(8),
      };
      if (mode === 'passthrough') vm.vpmu.interceptEventSelect = r.chance(0.8);
    }
    if (f.lbr && mode === 'passthrough') vm.vpmu.lbr = pick(r, ['none', 'pv', 'lazy']);
    if (mode === 'passthrough' && r.chance(0.3)) vm.vpmu.pmiVector = 'shared';
    if (mode === 'paravirt' && r.chance(0.5)) vm.vpmu.pvEventLimit = r.nextRange(1, 16);
  }
  if (f.guestPerf && mode !== 'none') {
    vm.guestPerf = [];
    for (let i = r.nextRange(1, 2); i > 0; i--) {
      const record = r.chance(0.5);
      const session: Record<string, unknown> = { id: `gp${i}`, command: record ? 'record' : 'stat', events: pickSome(r, f.arm ? ARM_PERF_EVENTS : PERF_EVENTS, 1, 4) };
      if (record) {
        session.sample = r.chance(0.5) ? { freq: pick(r, [1000, 4000, 20000]) } : { period: pick(r, [50000, 200000, 1000000]) };
        if (!f.arm && f.lbr && r.chance(0.5)) session.callGraph = 'lbr';
      }
      if (r.chance(0.3)) session.allCpus = true;
      if (r.chance(0.3)) session.start = `${r.nextRange(0, durationUs / 2)}us`;
      vm.guestPerf.push(session);
    }
  }
  if (f.programs) vm.program = genProgram(r.child('program'), vm, host, f);
  return vm;
}

/** A KVM-selftest-style guest program fitting the VM's architecture and vPMU design. */
function genProgram(r: Prng, vm: VmDoc, host: HostDoc, f: Features): Record<string, unknown>[] {
  const steps: Record<string, unknown>[] = [];
  const loop = () => ({ loop: { instructions: r.nextRange(1000, 200000), branches: r.nextRange(0, 500) } });
  if (f.arm) {
    steps.push({ armRead: { reg: 'PMCR_EL0' } });
    steps.push(loop());
    if (r.chance(0.5)) steps.push({ setPmu: { pmu: pick(r, ARM_PMUS[host.cpu]) } });
    if (r.chance(0.5)) steps.push({ setNrCounters: { n: r.nextRange(0, 6) } });
    return steps;
  }
  if (vm.vpmu.mode === 'paravirt') {
    // Paravirt abuse: bursts of opens past the VM's limit, duplicate ids, a read, a close.
    const id = r.nextRange(1, 50);
    steps.push({ hypercall: { call: 'open', id, count: r.nextRange(1, 40), event: pick(r, ['instructions', 'cycles', 'branches']) } });
    steps.push({ hypercall: { call: 'enable', id } });
    steps.push(loop());
    steps.push({ hypercall: { call: 'read', id } });
    if (r.chance(0.5)) steps.push({ hypercall: { call: 'open', id, event: 'cycles' } });
    steps.push({ hypercall: { call: 'close', id } });
    return steps;
  }
  const evsel = 0x430000 | pick(r, X86_EVENT_SELECTS);
  steps.push({ wrmsr: { msr: 0x186, value: evsel } });
  steps.push({ wrmsr: { msr: 0x38f, value: 1 } });
  steps.push(loop());
  steps.push({ rdpmc: { index: 0 } });
  if (r.chance(0.5)) steps.push({ rdmsr: { msr: 0x38e } });
  if (r.chance(0.3)) steps.push({ expect: { step: 0, fault: 'none' } });
  return steps;
}

function genTimeline(r: Prng, world: WorldDoc, f: Features, durationUs: number): void {
  const at = (lo: number, hi: number) => `${r.nextRange(Math.floor(lo), Math.floor(hi))}us`;
  const entries: { us: number; entry: TimelineDoc }[] = [];
  const add = (entry: TimelineDoc) => entries.push({ us: parseInt(entry.at, 10), entry });
  if (f.migrations && world.hosts.length > 1) {
    for (const vm of world.vms) {
      if (!r.chance(0.6)) continue;
      const targets = world.hosts.filter((h) => h.id !== vm.host && h.pcpus >= vm.vcpus);
      if (targets.length === 0) continue;
      const to = pick(r, targets);
      add({ at: at(durationUs / 5, (durationUs * 3) / 5), migrate: { vm: vm.id, to: to.id, bandwidth: pick(r, ['10Gbps', '25Gbps', '100Gbps']), maxDowntime: pick(r, ['1ms', '30ms', '300ms']) } });
    }
  }
  if (f.perfToggles) {
    for (const host of world.hosts) {
      for (const s of host.perf ?? []) if (r.chance(0.5)) add({ at: at(0, durationUs), hostPerf: { host: host.id, session: s.id, action: r.chance(0.5) ? 'stop' : 'start' } });
    }
    for (const vm of world.vms) {
      for (const s of vm.guestPerf ?? []) if (r.chance(0.5)) add({ at: at(0, durationUs), guestPerf: { vm: vm.id, session: s.id, action: r.chance(0.5) ? 'stop' : 'start' } });
    }
  }
  if (f.arm) {
    for (const vm of world.vms) {
      const host = world.hosts.find((h) => h.id === vm.host)!;
      if (r.chance(0.3)) add({ at: at(0, durationUs / 2), setPmu: { vm: vm.id, pmu: pick(r, ARM_PMUS[host.cpu]) } });
    }
  }
  if (f.faults) {
    for (let i = r.nextRange(1, 2); i > 0; i--) {
      const fault = pick(r, FAULTS)(r);
      const target = r.chance(0.7) ? pick(r, world.vms).id : pick(r, world.hosts).id;
      const entry: Record<string, unknown> = { kind: fault.kind, target };
      if (r.chance(0.5)) entry.duration = `${r.nextRange(100, durationUs)}us`;
      if (fault.params) entry.params = fault.params;
      add({ at: at(0, durationUs / 2), fault: entry });
    }
  }
  // Timeline entries are sorted by time (equal times keep the order they were made in).
  entries.sort((a, b) => a.us - b.us);
  world.timeline = entries.map((e) => e.entry);
}

function pick<T>(r: Prng, items: readonly T[]): T {
  return items[r.nextInt(items.length)];
}

/** Between lo and hi distinct items, in the list's order. */
function pickSome<T>(r: Prng, items: readonly T[], lo: number, hi: number): T[] {
  const n = r.nextRange(lo, Math.min(hi, items.length));
  const chosen = new Set<number>();
  while (chosen.size < n) chosen.add(r.nextInt(items.length));
  return [...chosen].sort((a, b) => a - b).map((i) => items[i]);
}
