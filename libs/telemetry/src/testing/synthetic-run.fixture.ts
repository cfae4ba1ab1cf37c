// A small, deterministic, self-consistent run made without the simulator: two hosts, three VMs
// (passthrough, emulated, paravirt), host scheduling with a noise thread, guest task switches,
// VM exits, PMIs (one lost), counter samples, a host perf event going to ERROR, findings and a
// live migration of vm1 from h1 to h2. Used by the viewer tests and by the export benchmark;
// `durationMs` scales it up. Every choice comes from a seeded LCG: same options, same run.
import type { SimEvent } from '@vpmu/sim';
import type { RunSummary, VmSummary, FindingSummary } from '@vpmu/summary';
import { formatVcpuThreadName } from '../thread-names';

export interface SyntheticRunOptions {
  seed?: number;
  durationMs?: number;
  epochMs?: number;
}

export interface SyntheticRun {
  /** Event batches as the aggregator would receive them: per epoch, per host. */
  batches: SimEvent[][];
  summary: RunSummary;
}

const MS = 1_000_000;
const US = 1_000;

interface VcpuDef {
  vm: string;
  vcpu: number;
  cpus: Record<string, number[]>;
}

export function makeSyntheticRun(options: SyntheticRunOptions = {}): SyntheticRun {
  const seed = options.seed ?? 42;
  const durationNs = (options.durationMs ?? 20) * MS;
  const epochNs = (options.epochMs ?? 1) * MS;
  let state = (seed >>> 0) || 1;
  const rand = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
  const events: SimEvent[] = [];
  const emit = (e: SimEvent): void => {
    events.push(e);
  };

  const hosts = { h1: 4, h2: 4 } as Record<string, number>;
  const modes: Record<string, string> = { vm1: 'passthrough', vm2: 'emulated', vm3: 'paravirt' };
  const vcpus: VcpuDef[] = [
    { vm: 'vm1', vcpu: 0, cpus: { h1: [0, 1], h2: [2, 3] } },
    { vm: 'vm1', vcpu: 1, cpus: { h1: [1, 2], h2: [3, 2] } },
    { vm: 'vm2', vcpu: 0, cpus: { h1: [2, 3] } },
    { vm: 'vm2', vcpu: 1, cpus: { h1: [3, 0] } },
    { vm: 'vm3', vcpu: 0, cpus: { h2: [0, 1] } },
  ];
  // vm1 migrates h1 -> h2 at 45% of the run; its vCPUs stop during stop-and-copy.
  const migStart = Math.round(durationNs * 0.45);
  const phases: { phase: 'setup' | 'precopy' | 'stop-and-copy' | 'resume'; dur: number; bytes: number; iteration: number }[] = [
    { phase: 'setup', dur: 200 * US, bytes: 0, iteration: 0 },
    { phase: 'precopy', dur: Math.round(durationNs * 0.1), bytes: 512 << 20, iteration: 1 },
    { phase: 'precopy', dur: Math.round(durationNs * 0.04), bytes: 96 << 20, iteration: 2 },
    { phase: 'stop-and-copy', dur: 150 * US, bytes: 12 << 20, iteration: 0 },
    { phase: 'resume', dur: 50 * US, bytes: 0, iteration: 0 },
  ];
  let t = migStart;
  const phaseStarts: number[] = [];
  for (const p of phases) {
    phaseStarts.push(t);
    emit({ kind: 'migrationPhase', atNs: t, at: { vm: 'vm1', host: 'h1' }, fromHost: 'h1', toHost: 'h2', phase: p.phase, durationNs: p.dur, bytes: p.bytes, iteration: p.iteration });
    t += p.dur;
  }
  const pauseStart = phaseStarts[3];
  const migEnd = t;
  const hostOf = (v: VcpuDef, at: number): string | null => {
    if (v.vm !== 'vm1') return Object.keys(v.cpus)[0];
    if (at < pauseStart) return 'h1';
    if (at < migEnd) return null;
    return 'h2';
  };

  // Host scheduling: every pCPU picks, at each switch, the next runnable thread whose affinity
  // includes it and that is not running elsewhere. Processed in global time order.
  interface Cpu { host: string; index: number; nextNs: number; current: string | null; rr: number }
  const cpus: Cpu[] = [];
  for (const [h, n] of Object.entries(hosts)) for (let i = 0; i < n; i++) cpus.push({ host: h, index: i, nextNs: 0, current: null, rr: i });
  const running = new Set<string>();
  const counters = new Map<string, { instr: number; cycles: number; obsInstr: number; obsCycles: number }>();
  const guestTask = new Map<string, number>();
  const exitsByVm: Record<string, Record<string, number>> = { vm1: {}, vm2: {}, vm3: {} };
  const pmisByVm: Record<string, { delivered: number; lost: number }> = { vm1: { delivered: 0, lost: 0 }, vm2: { delivered: 0, lost: 0 }, vm3: { delivered: 0, lost: 0 } };
  const guestRun: Record<string, number> = { vm1: 0, vm2: 0, vm3: 0 };
  let lostEmitted = false;

  const runSlice = (v: VcpuDef, host: string, pcpu: number, start: number, end: number): void => {
    const key = `${v.vm}/${v.vcpu}`;
    const place = { host, pcpu, vm: v.vm, vcpu: v.vcpu };
    guestRun[v.vm] += end - start;
    // guest task switches every ~300 us
    let task = guestTask.get(key) ?? 0;
    for (let g = start + Math.round(150 * US + rand() * 300 * US); g < end; g += Math.round(200 * US + rand() * 300 * US)) {
      const next = (task + 1) % 3;
      emit({ kind: 'guestContextSwitch', atNs: g, at: place, prevTask: taskName(v, task), nextTask: taskName(v, next) });
      task = next;
    }
    guestTask.set(key, task);
    // VM exits: the emulated VM traps a lot (MSR writes), others rarely.
    const exitGapNs = v.vm === 'vm2' ? 20 * US : 180 * US;
    for (let x = start + Math.round(rand() * exitGapNs); x < end; x += Math.round(exitGapNs * (0.5 + rand()))) {
      const reason = v.vm === 'vm2' ? (rand() < 0.8 ? 'msr-write' : 'rdpmc') : rand() < 0.5 ? 'io' : 'hlt';
      exitsByVm[v.vm][reason] = (exitsByVm[v.vm][reason] ?? 0) + 1;
      emit({ kind: 'vmExit', atNs: x, at: place, reason, costNs: reason === 'msr-write' ? 1800 : 900, msr: reason === 'msr-write' ? 0x186 : 0 });
    }
    // PMIs every ~250 us of guest time.
    for (let p = start + Math.round(100 * US + rand() * 150 * US); p < end; p += Math.round(250 * US * (0.7 + rand() * 0.6))) {
      const lost = !lostEmitted && v.vm === 'vm2' && p > durationNs * 0.35;
      if (lost) lostEmitted = true;
      pmisByVm[v.vm][lost ? 'lost' : 'delivered']++;
      emit({ kind: 'pmi', atNs: p, at: place, counter: v.vm === 'vm3' ? 'gp1' : 'gp0', owner: 'guest', deliveredTo: 'guest', vector: 0xfe, overflowNs: p - 400, skidNs: 400, lost });
      if (lost) emit({ kind: 'finding', atNs: p, at: place, findingKind: 'pmi-lost', detail: `PMI for ${v.vm}/vcpu${v.vcpu} gp0 dropped while the backing event was inactive` });
    }
    const c = counters.get(key) ?? { instr: 0, cycles: 0, obsInstr: 0, obsCycles: 0 };
    const dur = end - start;
    const starved = v.vm === 'vm2' && start > durationNs * 0.3 && start < durationNs * 0.6;
    c.instr += Math.round(dur * 2.1);
    c.cycles += Math.round(dur * 3.0);
    c.obsInstr += starved ? Math.round(dur * 2.1 * 0.6) : Math.round(dur * 2.1);
    c.obsCycles += starved ? Math.round(dur * 3.0 * 0.6) : Math.round(dur * 3.0);
    counters.set(key, c);
  };

  const openSlice = new Map<string, { host: string; pcpu: number; start: number }>();
  const threadOf = (v: VcpuDef) => formatVcpuThreadName(v.vm, v.vcpu);
  while (true) {
    cpus.sort((a, b) => a.nextNs - b.nextNs || (a.host < b.host ? -1 : a.host > b.host ? 1 : a.index - b.index));
    const cpu = cpus[0];
    if (cpu.nextNs >= durationNs) break;
    const now = cpu.nextNs;
    const candidates = vcpus.filter((v) => {
      const h = hostOf(v, now);
      return h === cpu.host && (v.cpus[h] ?? []).includes(cpu.index) && (!running.has(threadOf(v)) || cpu.current === threadOf(v));
    });
    let next: string;
    const noise = ((cpu.host === 'h1' && cpu.index === 0) || (cpu.host === 'h2' && cpu.index === 3)) && rand() < 0.25;
    const others = candidates.filter((v) => threadOf(v) !== cpu.current);
    if (noise) next = 'noise:irq';
    else if (rand() < 0.15) next = 'idle'; // guest halted for a while
    else if (others.length > 0 && rand() < 0.7) next = threadOf(others[cpu.rr++ % others.length]);
    else if (candidates.length > 0) next = threadOf(candidates[cpu.rr++ % candidates.length]);
    else next = 'idle';
    const prev = cpu.current ?? 'idle';
    if (prev !== next) {
      if (prev !== 'idle') {
        running.delete(prev);
        const o = openSlice.get(prev);
        if (o) {
          runSlice(vcpus.find((d) => threadOf(d) === prev)!, o.host, o.pcpu, o.start, now);
          openSlice.delete(prev);
        }
      }
      emit({ kind: 'contextSwitch', atNs: now, at: { host: cpu.host, pcpu: cpu.index }, prevThread: prev, nextThread: next, preempted: prev !== 'idle' });
      if (next !== 'idle') {
        running.add(next);
        if (next.startsWith('vcpu:')) openSlice.set(next, { host: cpu.host, pcpu: cpu.index, start: now });
      }
      cpu.current = next === 'idle' ? null : next;
    }
    // A vCPU of vm1 must leave h1 when stop-and-copy starts: cut the slice there.
    let sliceNs = noise ? 80 * US : Math.round(400 * US + rand() * 800 * US);
    if (cpu.current?.startsWith('vcpu:vm1/') && now < pauseStart && now + sliceNs > pauseStart) sliceNs = pauseStart - now;
    if (cpu.current === null && now < migEnd && now + sliceNs > migEnd && cpu.host === 'h2') sliceNs = Math.max(1, migEnd - now);
    cpu.nextNs = Math.min(durationNs, now + sliceNs);
  }
  for (const [thread, o] of openSlice) {
    const v = vcpus.find((d) => threadOf(d) === thread)!;
    runSlice(v, o.host, o.pcpu, o.start, durationNs);
  }

  // Counter samples every epoch: cumulative values at the epoch end, from the totals so far
  // (pro-rated: good enough for plots, and the final sample equals the final totals).
  const nEpochs = Math.ceil(durationNs / epochNs);
  for (const v of vcpus) {
    const c = counters.get(`${v.vm}/${v.vcpu}`) ?? { instr: 0, cycles: 0, obsInstr: 0, obsCycles: 0 };
    for (let e = 1; e <= nEpochs; e++) {
      const at = Math.min(durationNs, e * epochNs) - 1;
      const f = at / (durationNs - 1);
      // The emulated VM's counters fall behind while its backing events are starved.
      const lag = Math.min(1, Math.max(0, (f - 0.3) / 0.3));
      const host = hostOf(v, at) ?? 'h2';
      emit({ kind: 'counterSample', atNs: at, at: { host, vm: v.vm, vcpu: v.vcpu }, event: 'instructions', actual: Math.round(c.instr * f), observed: Math.round(c.instr * f - (c.instr - c.obsInstr) * lag) });
      emit({ kind: 'counterSample', atNs: at, at: { host, vm: v.vm, vcpu: v.vcpu }, event: 'cycles', actual: Math.round(c.cycles * f), observed: Math.round(c.cycles * f - (c.cycles - c.obsCycles) * lag) });
    }
  }

  // Host perf on h1: a pinned cycles event forced to ERROR at a guest entry (passthrough).
  const perfOn = Math.round(durationNs * 0.1);
  const perfErr = Math.round(durationNs * 0.3);
  const perfOff = Math.round(durationNs * 0.8);
  emit({ kind: 'perfState', atNs: perfOn, at: { host: 'h1', pcpu: 1 }, eventId: 'host-cycles', from: 'off', to: 'active', cause: 'enable', count: 0 });
  emit({ kind: 'perfState', atNs: perfErr, at: { host: 'h1', pcpu: 1 }, eventId: 'host-cycles', from: 'active', to: 'error', cause: 'guest-enter', count: 123456 });
  emit({ kind: 'perfState', atNs: perfOff, at: { host: 'h1', pcpu: 1 }, eventId: 'host-cycles', from: 'error', to: 'off', cause: 'disable', count: 123456 });
  emit({ kind: 'finding', atNs: perfErr, at: { host: 'h1', pcpu: 1 }, findingKind: 'host-event-error-state', detail: 'host-cycles (pinned) forced to ERROR at guest entry of vm1/vcpu1 and never recovered' });
  emit({ kind: 'finding', atNs: Math.round(durationNs * 0.31), at: { host: 'h1', vm: 'vm2', vcpu: 1 }, findingKind: 'guest-counter-starved', detail: 'vm2 instructions: backing host event not running, host events hold all GP counters' });
  emit({ kind: 'finding', atNs: migEnd, at: { host: 'h2', vm: 'vm1' }, findingKind: 'counter-discontinuity', detail: 'vm1/vcpu0 fixed1 jumped by 2048 across the migration' });
  emit({ kind: 'programStep', atNs: Math.round(durationNs * 0.05), at: { host: 'h2', vm: 'vm3', vcpu: 0 }, step: 0, op: 'rdpmc 0', result: 'ok', value: 1234, ok: true });
  emit({ kind: 'guestPerf', atNs: durationNs - 1, at: { vm: 'vm2' }, command: 'perf stat -e instructions', event: 'instructions', count: 1000, timeEnabledNs: durationNs, timeRunningNs: durationNs / 2, samples: 0 });

  // Batches: per epoch, per host (events without a host go with h1), each in canonical order.
  events.sort((a, b) => a.atNs - b.atNs);
  const hostIds = Object.keys(hosts);
  const grouped: SimEvent[][] = Array.from({ length: nEpochs * hostIds.length }, () => []);
  for (const ev of events) {
    const epoch = Math.min(nEpochs - 1, Math.floor(ev.atNs / epochNs));
    grouped[epoch * hostIds.length + hostIds.indexOf(ev.at.host ?? 'h1')].push(ev);
  }
  const batches = grouped.filter((b) => b.length > 0);

  const byKind: Record<string, number> = {};
  for (const e of events) byKind[e.kind] = (byKind[e.kind] ?? 0) + 1;
  const vmSummary = (id: string, host: string): VmSummary => {
    const defs = vcpus.filter((v) => v.vm === id);
    const sum = (k: 'instr' | 'cycles' | 'obsInstr' | 'obsCycles') => defs.reduce((n, v) => n + (counters.get(`${v.vm}/${v.vcpu}`)?.[k] ?? 0), 0);
    const acc = (a: number, o: number) => ({ actual: a, guestObserved: o, errorPct: a === 0 ? 0 : ((o - a) / a) * 100 });
    return {
      host,
      vpmu: modes[id],
      workloadScore: Math.round(guestRun[id] / 1000) / 10,
      guestRunNs: guestRun[id],
      counters: { instructions: acc(sum('instr'), sum('obsInstr')), cycles: acc(sum('cycles'), sum('obsCycles')) },
      vmExits: exitsByVm[id],
      pmis: pmisByVm[id],
      program: id === 'vm3' ? [{ step: 0, op: 'rdpmc 0', result: 'ok', fault: null, value: 1234, ok: true }] : [],
      migrations: id === 'vm1'
        ? [{ from: 'h1', to: 'h2', phases: phases.map((p) => ({ phase: p.phase, durationNs: p.dur, bytes: p.bytes })), downtimeNs: 200 * US, bytesSent: phases.reduce((n, p) => n + p.bytes, 0), result: 'completed' }]
        : [],
      guestPerf: [],
    };
  };
  const findings: FindingSummary[] = events
    .filter((e): e is Extract<SimEvent, { kind: 'finding' }> => e.kind === 'finding')
    .map((e) => ({ kind: e.findingKind, atNs: e.atNs, lastAtNs: e.atNs, count: e.count ?? 1, host: e.at.host ?? null, vm: e.at.vm ?? null, vcpu: e.at.vcpu ?? null, detail: e.detail }));
  const summary: RunSummary = {
    schema: 1,
    run: { id: `synthetic-${seed}`, scenario: 'synthetic-two-hosts', seed, durationNs, epochs: nEpochs, toolVersion: '0.1.0-test', transport: 'in-process' },
    digest: 'f3a9c2d47e10b5a8c6d2e4f90a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b',
    contentDigest: '0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c',
    events: { total: events.length, byKind },
    vms: { vm1: vmSummary('vm1', 'h2'), vm2: vmSummary('vm2', 'h1'), vm3: vmSummary('vm3', 'h2') },
    hosts: {
      h1: { cpu: 'intel-spr', pcpus: 4, contextSwitches: events.filter((e) => e.kind === 'contextSwitch' && e.at.host === 'h1').length, perfEvents: [{ id: 'host-cycles', state: 'error', count: 123456, timeEnabledNs: perfOff - perfOn, timeRunningNs: perfErr - perfOn }] },
      h2: { cpu: 'intel-spr', pcpus: 4, contextSwitches: events.filter((e) => e.kind === 'contextSwitch' && e.at.host === 'h2').length, perfEvents: [] },
    },
    findings,
    deadLetters: 0,
    overhead: {
      baselineScore: 1000,
      columns: ['emulated', 'passthrough', 'passthrough+filter'],
      rows: [
        { command: 'perf stat -e instructions,cycles', overheadPct: [4.2, 0.6, 0.9] },
        { command: 'perf record -F 4000 -e cycles', overheadPct: [18.5, 2.1, 2.7] },
      ],
    },
  };
  return { batches, summary };
}

function taskName(v: VcpuDef, i: number): string {
  return i === 2 ? 'idle' : `${v.vm}-task${v.vcpu * 2 + i}`;
}
