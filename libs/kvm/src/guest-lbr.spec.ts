import { LBR_DEBUGCTL, LbrStack, hostLbrOwner } from '@vpmu/pmu';
import { Prng, SnapshotRegistry, decodeSnapshot, encodeSnapshot, type FindingEvent } from '@vpmu/sim';
import { CostModel } from './cost-model';
import {
  GuestLbr,
  LBR_POLLUTED_FINDING,
  MSR_IA32_DEBUGCTL,
  MSR_KVM_PV_LBR_CTRL,
  guestLbrCosts,
  guestLbrReadWindowNs,
  type GuestLbrMode,
  type GuestLbrOutcome,
} from './guest-lbr';

const DEPTH = 32;
const PERIOD_NS = 1_000_000;
// 2 GHz: msrTrap 1375 ns, legacy save/restore 32 x 3 x 75 ns = 7200 ns.
const COSTS = guestLbrCosts(new CostModel({}, 2), DEPTH, false);
const NOISE = hostLbrOwner('noise0');

/** A two-pCPU host: the per-pCPU stacks, one vCPU, and a host noise thread. */
function rig(mode: GuestLbrMode, lazyLbrReleaseNs = PERIOD_NS) {
  const stacks = [new LbrStack(DEPTH, { pcpu: 0 }), new LbrStack(DEPTH, { pcpu: 1 })];
  const g = new GuestLbr({ host: 'h1', vm: 'vm1', vcpu: 0, mode, lazyLbrReleaseNs, costs: COSTS });
  const prng = Prng.fromSeed(42).child('lbr');
  const all: GuestLbrOutcome[] = [];
  const keep = (o: GuestLbrOutcome) => (all.push(o), o);
  return {
    g,
    stacks,
    all,
    keep,
    /** The guest runs `branches` taken branches on pCPU `cpu`. */
    guestRuns: (cpu: number, branches: number) => stacks[cpu].fill(branches, g.owner, prng),
    /** A host thread runs on `cpu` (its DEBUGCTL loaded at switch-in: LBR iff it uses the LBR). */
    noiseRuns: (cpu: number, branches: number, lbr = true) => {
      stacks[cpu].writeDebugCtl(lbr ? LBR_DEBUGCTL.LBR : 0);
      return stacks[cpu].fill(branches, NOISE, prng);
    },
    findings: () => all.flatMap((o) => o.events).filter((e): e is FindingEvent => e.kind === 'finding'),
    cost: () => all.reduce((s, o) => s + o.costNs, 0),
  };
}

/** The seed's pollution window: the vCPU is preempted between clearing DEBUGCTL.LBR and the read. */
function pollutionWindow(mode: GuestLbrMode, noiseBranches = 5, preemptNs = 100_000, lazyLbrReleaseNs = PERIOD_NS) {
  const r = rig(mode, lazyLbrReleaseNs);
  const { g, stacks, keep } = r;
  keep(g.vcpuSchedIn(0, stacks[0]));
  keep(g.guestCallStackUserAdd(10, stacks[0]));
  r.guestRuns(0, 10_000);
  keep(g.guestReadBegin(1_000, stacks[0], 'sched-task'));
  keep(g.vcpuSchedOut(1_100, stacks[0])); // a high-priority host thread preempts the vCPU
  r.noiseRuns(0, noiseBranches);
  // the lazy release timer fires while the vCPU is out
  for (let t = g.nextTimerNs(); t !== null && t <= 1_100 + preemptNs; t = g.nextTimerNs()) keep(g.timer(t));
  keep(g.vcpuSchedIn(1_100 + preemptNs, stacks[0]));
  const read = keep(g.guestReadEnd(1_200 + preemptNs, stacks[0]));
  return { ...r, read };
}

describe('GuestLbr: the pollution window under each mode', () => {
  it('none: the guest reads the host thread\'s entries -> lbr-polluted with the exact foreign count', () => {
    const r = pollutionWindow('none', 5);
    expect(r.read.foreignEntries).toBe(5);
    const f = r.findings();
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ findingKind: LBR_POLLUTED_FINDING, at: { host: 'h1', vm: 'vm1', vcpu: 0, pcpu: 0 } });
    expect(f[0].detail).toMatch(/5 foreign entries of 32, recorded by host\/noise0; the vCPU thread was preempted/);
    const snap = r.read.events.find((e) => e.kind === 'lbrSnapshot');
    expect(snap).toMatchObject({ kind: 'lbrSnapshot', foreignEntries: 5 });
    expect(r.g.stats).toMatchObject({ saves: 0, restores: 0, pollutedReads: 1, foreignEntries: 5 });
    // only DEBUGCTL writes trapped (enable, clear before the read, re-enable after it)
    expect(r.all.flatMap((o) => o.exits)).toEqual([
      { msr: MSR_IA32_DEBUGCTL, write: true },
      { msr: MSR_IA32_DEBUGCTL, write: true },
      { msr: MSR_IA32_DEBUGCTL, write: true },
    ]);
    expect(r.cost()).toBe(3 * COSTS.msrTrapNs);
  });

  it('none: a full stack of host branches pollutes every entry', () => {
    expect(pollutionWindow('none', 1_000).read.foreignEntries).toBe(DEPTH);
  });

  it('none: a host thread that does not use the LBR leaves the stack alone', () => {
    const r = rig('none');
    r.keep(r.g.vcpuSchedIn(0, r.stacks[0]));
    r.keep(r.g.guestCallStackUserAdd(0, r.stacks[0]));
    r.guestRuns(0, 100);
    r.keep(r.g.guestReadBegin(10, r.stacks[0], 'pmi'));
    r.keep(r.g.vcpuSchedOut(11, r.stacks[0]));
    expect(r.noiseRuns(0, 50, false)).toBe(0);
    r.keep(r.g.vcpuSchedIn(20, r.stacks[0]));
    expect(r.keep(r.g.guestReadEnd(21, r.stacks[0])).foreignEntries).toBe(0);
    expect(r.findings()).toEqual([]);
  });

  it('pv: the host LBR event saves and restores the stack -> no pollution', () => {
    const r = pollutionWindow('pv', 5);
    expect(r.read.foreignEntries).toBe(0);
    expect(r.findings()).toEqual([]);
    expect(r.g.stats).toMatchObject({ saves: 1, restores: 1, hostEventCreates: 1, pollutedReads: 0 });
    expect(r.all.flatMap((o) => o.actions)).toEqual(
      expect.arrayContaining(['pv-ctrl-read', 'pv-ctrl-write', 'host-event-create', 'save', 'restore']),
    );
    // PV MSR read + write, 3 DEBUGCTL writes; event creation; one save and one restore
    expect(r.cost()).toBe(5 * COSTS.msrTrapNs + COSTS.hostEventCreateNs + COSTS.saveNs + COSTS.restoreNs);
  });

  it('lazy with a release period longer than the preemption: the first access restores -> no pollution', () => {
    const r = pollutionWindow('lazy', 5, 100_000, PERIOD_NS);
    expect(r.read.foreignEntries).toBe(0);
    expect(r.read.actions).toEqual(['intercept', 'restore', 'passthrough', 'read', 'debugctl-write']);
    expect(r.read.exits[0]).toEqual({ msr: 0x680, write: false });
    expect(r.findings()).toEqual([]);
  });

  it('lazy with a release period shorter than the preemption: the timer releases the event while LBR=0 -> pollution (Wang\'s objection)', () => {
    const r = pollutionWindow('lazy', 5, 3 * PERIOD_NS, PERIOD_NS);
    expect(r.g.stats.hostEventReleases).toBe(1);
    expect(r.read.foreignEntries).toBe(5);
    // the read's first access re-creates the host event; there is nothing to restore
    expect(r.read.actions).toEqual(['intercept', 'host-event-create', 'passthrough', 'read', 'debugctl-write']);
    expect(r.findings()).toHaveLength(1);
  });

  it('the read window length is depth x 3 passed-through RDMSRs', () => {
    expect(guestLbrReadWindowNs(32)).toBe(3_840);
  });
});

describe('GuestLbr: pv transitions', () => {
  // intel_pmu_lbr_add / intel_pmu_lbr_del with set_pv_lbr_ctrl_active ("[PATCH v2 6/8]
  // perf/x86/intel/lbr: guest requesting KVM for lbr stack save/restore", W. Wang, Sep 2018):
  // every add sets ACTIVE and every del clears it, for task-context user call-stack events only.
  it('ACTIVE is set at each add and cleared at each del (even with a user left); the WRMSR only when it changes', () => {
    const r = rig('pv');
    const s = r.stacks[0];
    r.g.vcpuSchedIn(0, s);
    const a1 = r.g.guestCallStackUserAdd(0, s);
    expect(a1.exits).toEqual([
      { msr: MSR_KVM_PV_LBR_CTRL, write: false },
      { msr: MSR_KVM_PV_LBR_CTRL, write: true },
      { msr: MSR_IA32_DEBUGCTL, write: true },
    ]);
    expect(r.g.pvActive && r.g.hasHostEvent).toBe(true);
    const a2 = r.g.guestCallStackUserAdd(1, s);
    expect(a2.exits).toEqual([{ msr: MSR_KVM_PV_LBR_CTRL, write: false }]);
    // The first del clears ACTIVE although a user remains: the host event goes.
    expect(r.g.guestCallStackUserDel(2, s).actions).toEqual(['pv-ctrl-read', 'pv-ctrl-write', 'host-event-release']);
    expect(r.g.pvActive || r.g.hasHostEvent).toBe(false);
    const d = r.g.guestCallStackUserDel(3, s);
    expect(d.actions).toEqual(['pv-ctrl-read', 'debugctl-write']);
    expect(r.g.pvActive || r.g.hasHostEvent || r.g.hasSavedStack).toBe(false);
    expect(s.debugCtl & LBR_DEBUGCTL.LBR).toBe(0);
    // without the event, switches cost nothing
    expect(r.g.vcpuSchedOut(4, s).costNs).toBe(0);
    expect(r.g.vcpuSchedIn(5, s).costNs).toBe(0);
  });

  it('a guest task switch deletes and re-adds each per-task event: ACTIVE cleared then set, the host event released and created (intel_pmu_lbr_del/add)', () => {
    const r = rig('pv');
    const s = r.stacks[0];
    r.g.vcpuSchedIn(0, s);
    r.g.guestCallStackUserAdd(0, s);
    const sw = r.g.guestTaskSwitch(10, s);
    expect(sw.actions).toEqual(['pv-ctrl-read', 'pv-ctrl-write', 'host-event-release', 'pv-ctrl-read', 'pv-ctrl-write', 'host-event-create']);
    expect(sw.exits).toHaveLength(4);
    expect(r.g.pvActive && r.g.hasHostEvent).toBe(true);
    expect(r.g.stats.hostEventCreates).toBe(2);
    expect(r.g.stats.hostEventReleases).toBe(1);
    for (const mode of ['none', 'lazy'] as const) {
      const o = rig(mode);
      o.g.vcpuSchedIn(0, o.stacks[0]);
      o.g.guestCallStackUserAdd(0, o.stacks[0]);
      expect(o.g.guestTaskSwitch(10, o.stacks[0]).actions).toEqual([]);
    }
  });

  it('a system-wide (-a) call-stack event has no task context: ACTIVE is never set, no host event, nothing saved', () => {
    const r = rig('pv');
    const s = r.stacks[0];
    r.g.vcpuSchedIn(0, s);
    const add = r.g.guestCallStackUserAdd(0, s, false);
    expect(add.exits).toEqual([{ msr: MSR_IA32_DEBUGCTL, write: true }]);
    expect(r.g.pvActive || r.g.hasHostEvent).toBe(false);
    expect(r.g.guestTaskSwitch(5, s).actions).toEqual([]);
    expect(r.g.vcpuSchedOut(10, s).actions).not.toContain('save');
    expect(r.g.guestCallStackUserDel(20, s, false).actions).toEqual(['debugctl-write']);
  });

  it('the stack follows the vCPU to another pCPU (restored there); under none it does not', () => {
    for (const [mode, foreign] of [['pv', 0], ['none', 7]] as const) {
      const r = rig(mode);
      r.g.vcpuSchedIn(0, r.stacks[0]);
      r.g.guestCallStackUserAdd(0, r.stacks[0]);
      r.guestRuns(0, 500);
      r.g.vcpuSchedOut(10, r.stacks[0]);
      r.noiseRuns(1, 7); // pCPU 1 last ran an LBR-using host thread
      r.g.vcpuSchedIn(20, r.stacks[1]);
      r.g.guestReadBegin(30, r.stacks[1], 'pmi');
      expect(r.g.guestReadEnd(31, r.stacks[1]).foreignEntries).toBe(foreign);
    }
  });

  it('VM entry loads the guest DEBUGCTL into the pCPU; guest writes reach the hardware while it runs', () => {
    const r = rig('pv');
    const s = r.stacks[0];
    s.writeDebugCtl(LBR_DEBUGCTL.LBR); // a host thread ran with LBR on
    r.g.vcpuSchedIn(0, s);
    expect(s.debugCtl).toBe(0);
    r.g.guestWriteDebugCtl(1, LBR_DEBUGCTL.LBR | LBR_DEBUGCTL.FREEZE_LBRS_ON_PMI, s);
    expect(s.debugCtl).toBe(LBR_DEBUGCTL.LBR | LBR_DEBUGCTL.FREEZE_LBRS_ON_PMI);
    expect(r.g.debugCtl).toBe(s.debugCtl);
  });
});

describe('GuestLbr: lazy transitions', () => {
  it('creates the host event at the first access, intercepts after every switch, saves only if passed through', () => {
    const r = rig('lazy');
    const s = r.stacks[0];
    expect(r.g.vcpuSchedIn(0, s).actions).toEqual([]);
    const add = r.g.guestCallStackUserAdd(100, s);
    expect(add.actions).toEqual(['debugctl-write', 'intercept', 'host-event-create', 'passthrough']);
    expect(r.g.nextTimerNs()).toBe(100 + PERIOD_NS);
    r.guestRuns(0, 100);
    expect(r.g.vcpuSchedOut(200, s).actions).toEqual(['save']);
    expect(r.g.passedThrough).toBe(false);
    // switched in: intercepted, no eager restore
    expect(r.g.vcpuSchedIn(300, s).actions).toEqual([]);
    // switched out again without any LBR access: the saved copy is still good, nothing saved
    expect(r.g.vcpuSchedOut(400, s).actions).toEqual([]);
    r.g.vcpuSchedIn(500, s);
    r.g.guestReadBegin(600, s, 'pmi');
    const first = r.g.guestReadEnd(601, s);
    expect(first.actions.slice(0, 3)).toEqual(['intercept', 'restore', 'passthrough']);
    expect(first.costNs).toBe(COSTS.msrTrapNs + COSTS.restoreNs + COSTS.msrTrapNs /* DEBUGCTL re-enable */);
    // passed through now: a second read costs only the DEBUGCTL writes
    r.g.guestReadBegin(700, s, 'pmi');
    const second = r.g.guestReadEnd(701, s);
    expect(second.actions).toEqual(['read', 'debugctl-write']);
    expect(second.costNs).toBe(COSTS.msrTrapNs);
    expect(r.g.stats).toMatchObject({ intercepts: 2, hostEventCreates: 1, saves: 1, restores: 1 });
  });

  it('hysteresis: a quick LBR toggle inside a period does not release; LBR=0 for a whole period does', () => {
    const r = rig('lazy');
    const s = r.stacks[0];
    r.g.vcpuSchedIn(0, s);
    r.g.guestCallStackUserAdd(0, s);
    // PMI handler toggles LBR within the first period
    r.g.guestReadBegin(400_000, s, 'pmi');
    r.g.guestReadEnd(400_500, s);
    const t1 = r.g.timer(PERIOD_NS);
    expect(t1.actions).toEqual(['timer']);
    expect(t1.costNs).toBe(COSTS.timerExitNs); // the vCPU runs: the timer costs it an exit
    expect(r.g.hasHostEvent).toBe(true);
    expect(r.g.nextTimerNs()).toBe(2 * PERIOD_NS);
    // the guest stops using the LBR; one full period with LBR=0 releases the event
    r.g.guestCallStackUserDel(2 * PERIOD_NS - 10, s);
    const t2 = r.g.timer(2 * PERIOD_NS);
    expect(t2.actions).toEqual(['timer']); // LBR was 1 at the start of that period
    const t3 = r.g.timer(3 * PERIOD_NS);
    expect(t3.actions).toEqual(['timer', 'host-event-release']);
    expect(t3.costNs).toBe(COSTS.timerExitNs + COSTS.hostEventReleaseNs);
    expect(r.g.nextTimerNs()).toBeNull();
    expect(r.g.hasHostEvent || r.g.hasSavedStack).toBe(false);
    // a timer call without an armed timer does nothing
    expect(r.g.timer(4 * PERIOD_NS).actions).toEqual([]);
    // the next use re-creates the event and re-arms the timer
    expect(r.g.guestCallStackUserAdd(5 * PERIOD_NS, s).actions).toContain('host-event-create');
    expect(r.g.nextTimerNs()).toBe(6 * PERIOD_NS);
  });

  it('a timer firing while the vCPU is switched out costs the vCPU no exit; a late call skips missed periods', () => {
    const r = rig('lazy');
    const s = r.stacks[0];
    r.g.vcpuSchedIn(0, s);
    r.g.guestCallStackUserAdd(0, s);
    r.g.vcpuSchedOut(10, s);
    const t = r.g.timer(3 * PERIOD_NS + 5);
    expect(t.costNs).toBe(0);
    expect(r.g.nextTimerNs()).toBe(4 * PERIOD_NS);
  });

  it('rejects a non-positive release period', () => {
    expect(() => rig('lazy', 0)).toThrow(/lazyLbrReleaseNs/);
  });
});

describe('GuestLbr: invariants and checkpoints', () => {
  it('a read must be begun before it ends, and not begun twice; removing a missing user is a bug', () => {
    const r = rig('none');
    const s = r.stacks[0];
    r.g.vcpuSchedIn(0, s);
    expect(() => r.g.guestReadEnd(1, s)).toThrow(/without guestReadBegin/);
    r.g.guestReadBegin(2, s, 'pmi');
    expect(() => r.g.guestReadBegin(3, s, 'pmi')).toThrow(/begun twice/);
    expect(() => r.g.guestCallStackUserDel(4, s)).toThrow(/none was added/);
  });

  it('is plain data: it goes through the snapshot codec mid-window and continues identically', () => {
    const registry = new SnapshotRegistry().registerAll([GuestLbr, LbrStack]);
    const run = (restore: boolean) => {
      const r = rig('lazy', PERIOD_NS);
      let world = { g: r.g, stacks: r.stacks };
      world.g.vcpuSchedIn(0, world.stacks[0]);
      world.g.guestCallStackUserAdd(0, world.stacks[0]);
      r.guestRuns(0, 40);
      world.g.guestReadBegin(100, world.stacks[0], 'pmi');
      world.g.vcpuSchedOut(110, world.stacks[0]);
      if (restore) world = decodeSnapshot(encodeSnapshot(world, registry), registry);
      world.stacks[0].writeDebugCtl(LBR_DEBUGCTL.LBR);
      world.stacks[0].fill(3, NOISE, Prng.fromSeed(9));
      for (let t = world.g.nextTimerNs(); t !== null && t <= 5 * PERIOD_NS; t = world.g.nextTimerNs()) world.g.timer(t);
      world.g.vcpuSchedIn(5 * PERIOD_NS, world.stacks[0]);
      return { read: world.g.guestReadEnd(5 * PERIOD_NS + 1, world.stacks[0]), stats: { ...world.g.stats } };
    };
    const a = run(false);
    const b = run(true);
    expect(b).toEqual(a);
    expect(a.read.foreignEntries).toBe(3);
  });
});
