// Shrinking a world that violates an invariant: smaller worlds, one change at a time (a host and
// what is on it, a VM, a timeline action, a perf session, a program, noise, a filter, half the
// duration, fewer vCPUs), each kept only when the same invariant still fails. Greedy, like
// QuickCheck's shrinking and TigerBeetle's VOPR reductions: the result is a local minimum, small
// enough to read, that still shows the violation. Candidates are plain data; the swarm command
// runs each (world-check.ts) and asks for the next.

import type { TimelineDoc, VmDoc, WorldDoc } from './world-generator';

/** One smaller world and what was taken away (for the swarm's log). */
export interface ShrinkCandidate {
  change: string;
  world: WorldDoc;
}

/** Every one-step reduction of `w`, biggest cuts first. Candidates may be invalid: the caller validates. */
export function shrinkCandidates(w: WorldDoc): ShrinkCandidate[] {
  const out: ShrinkCandidate[] = [];
  for (const h of w.hosts) {
    if (w.hosts.length === 1) break;
    const gone = new Set([h.id, ...w.vms.filter((v) => v.host === h.id).map((v) => v.id)]);
    out.push({ change: `remove host ${h.id} and its VMs`, world: withoutIds(w, gone) });
  }
  for (const v of w.vms) out.push({ change: `remove VM ${v.id}`, world: withoutIds(w, new Set([v.id])) });
  w.timeline.forEach((t, i) => out.push({ change: `remove timeline[${i}] (${actionName(t)})`, world: { ...clone(w), timeline: w.timeline.filter((_, j) => j !== i) } }));
  const durationUs = parseInt(w.duration, 10);
  if (durationUs >= 2000) out.push({ change: `halve the duration to ${Math.floor(durationUs / 2)}us`, world: withDuration(w, Math.floor(durationUs / 2)) });
  for (const v of w.vms) {
    const edit = (change: string, f: (vm: VmDoc) => void) => {
      const c = clone(w);
      f(c.vms.find((x) => x.id === v.id)!);
      out.push({ change: `${v.id}: ${change}`, world: c });
    };
    if (v.program) edit('remove its program', (vm) => delete vm.program);
    for (const s of v.guestPerf ?? []) {
      const id = s.id as string;
      const c = clone(w);
      const vm = c.vms.find((x) => x.id === v.id)!;
      vm.guestPerf = vm.guestPerf!.filter((x) => x.id !== id);
      if (vm.guestPerf.length === 0) delete vm.guestPerf;
      c.timeline = c.timeline.filter((t) => !((t.guestPerf as { vm?: string; session?: string } | undefined)?.vm === v.id && (t.guestPerf as { session?: string }).session === id));
      out.push({ change: `${v.id}: remove guest perf session ${id}`, world: c });
    }
    if (v.vpmu.filter) edit('remove its event filter', (vm) => delete vm.vpmu.filter);
    if (v.vpmu.lbr !== undefined) edit('remove its LBR mode', (vm) => delete vm.vpmu.lbr);
    if (v.vcpus > 1) edit('one vCPU', (vm) => (vm.vcpus = 1));
    if (v.workload.overrides) edit('no workload overrides', (vm) => delete vm.workload.overrides);
  }
  for (const h of w.hosts) {
    for (const s of h.perf ?? []) {
      const id = s.id as string;
      const c = clone(w);
      const host = c.hosts.find((x) => x.id === h.id)!;
      host.perf = host.perf!.filter((x) => x.id !== id);
      if (host.perf.length === 0) delete host.perf;
      c.timeline = c.timeline.filter((t) => !((t.hostPerf as { host?: string } | undefined)?.host === h.id && (t.hostPerf as { session?: string }).session === id));
      out.push({ change: `${h.id}: remove host perf session ${id}`, world: c });
    }
    if (h.noise) {
      const c = clone(w);
      delete c.hosts.find((x) => x.id === h.id)!.noise;
      out.push({ change: `${h.id}: remove its noise`, world: c });
    }
    if (h.nmiWatchdog) {
      const c = clone(w);
      c.hosts.find((x) => x.id === h.id)!.nmiWatchdog = false;
      out.push({ change: `${h.id}: no NMI watchdog`, world: c });
    }
  }
  return out;
}

/** A number that only goes down as a world shrinks (the shrinker keeps a candidate only if it is smaller). */
export function worldSize(w: WorldDoc): number {
  let n = w.hosts.length * 1000 + w.vms.length * 500 + w.timeline.length * 100 + parseInt(w.duration, 10) / 100;
  for (const h of w.hosts) n += (h.perf?.length ?? 0) * 50 + (h.noise ? 50 : 0) + (h.nmiWatchdog ? 10 : 0);
  for (const v of w.vms) {
    n += v.vcpus * 20 + (v.guestPerf?.length ?? 0) * 50 + (v.program?.length ?? 0) * 10 + (v.vpmu.filter ? 30 : 0) + (v.vpmu.lbr !== undefined ? 10 : 0);
    n += v.workload.overrides ? 10 : 0;
  }
  return n;
}

function actionName(t: TimelineDoc): string {
  return Object.keys(t).find((k) => k !== 'at') ?? '?';
}

/** Refers to any of `ids` (a VM or host id) anywhere in a timeline action. */
function mentions(t: TimelineDoc, ids: ReadonlySet<string>): boolean {
  const action = t[actionName(t)] as Record<string, unknown>;
  return Object.values(action).some((v) => typeof v === 'string' && ids.has(v));
}

function withoutIds(w: WorldDoc, ids: ReadonlySet<string>): WorldDoc {
  const c = clone(w);
  c.hosts = c.hosts.filter((h) => !ids.has(h.id));
  c.vms = c.vms.filter((v) => !ids.has(v.id));
  c.timeline = c.timeline.filter((t) => !mentions(t, ids));
  return c;
}

function withDuration(w: WorldDoc, durationUs: number): WorldDoc {
  const c = clone(w);
  c.duration = `${durationUs}us`;
  if (parseInt(c.epoch, 10) > durationUs) c.epoch = `${durationUs}us`;
  const within = (t: unknown) => typeof t !== 'string' || parseInt(t, 10) < durationUs;
  c.timeline = c.timeline.filter((t) => within(t.at));
  for (const t of c.timeline) {
    const fault = t.fault as { duration?: string } | undefined;
    if (fault?.duration !== undefined && !within(fault.duration)) delete fault.duration;
  }
  const sessions = [...c.hosts.flatMap((h) => h.perf ?? []), ...c.vms.flatMap((v) => v.guestPerf ?? [])];
  for (const s of sessions) {
    if (!within(s.start)) s.start = '0us';
    if (!within(s.stop)) delete s.stop;
  }
  return c;
}

function clone(w: WorldDoc): WorldDoc {
  return JSON.parse(JSON.stringify(w)) as WorldDoc;
}
