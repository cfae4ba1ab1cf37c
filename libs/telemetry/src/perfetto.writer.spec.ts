import type { SimEvent } from '@vpmu/sim';
import { PerfettoWriter } from './perfetto.writer';
import { makeSyntheticRun } from './testing/synthetic-run.fixture';
import { nsToUsDecimal } from './time-format';

interface TraceEvent {
  ph: string;
  name: string;
  ts: number;
  dur?: number;
  pid: number;
  tid?: number;
  s?: string;
  cat?: string;
  args?: Record<string, unknown>;
}

function write(batches: SimEvent[][], summary = makeSyntheticRun().summary, chunkChars?: number): { text: string; chunks: number } {
  const chunks: string[] = [];
  const w = new PerfettoWriter((c) => chunks.push(c), chunkChars === undefined ? {} : { chunkChars });
  for (const b of batches) w.onEvents(b);
  w.finish(summary);
  return { text: chunks.join(''), chunks: chunks.length };
}

/** Structural validation of a Chrome trace-event file, as ui.perfetto.dev needs it. */
function validate(trace: { traceEvents: TraceEvent[] }): void {
  const named = new Set<string>();
  const namedProcesses = new Set<number>();
  for (const e of trace.traceEvents) {
    expect(typeof e.ph).toBe('string');
    expect(typeof e.name).toBe('string');
    expect(typeof e.ts).toBe('number');
    expect(Number.isFinite(e.ts)).toBe(true);
    expect(typeof e.pid).toBe('number');
    if (e.ph !== 'C') expect(typeof e.tid).toBe('number');
    if (e.ph === 'X') expect(e.dur).toBeGreaterThanOrEqual(0);
    if (e.ph === 'i') expect(['t', 'p', 'g']).toContain(e.s);
    if (e.ph === 'C') for (const v of Object.values(e.args ?? {})) expect(typeof v).toBe('number');
    if (e.ph === 'M' && e.name === 'thread_name') named.add(`${e.pid}/${e.tid}`);
    if (e.ph === 'M' && e.name === 'process_name') namedProcesses.add(e.pid);
  }
  const byThread = new Map<string, TraceEvent[]>();
  for (const e of trace.traceEvents) {
    if (e.ph === 'M' || (e.ph === 'i' && e.s === 'g')) continue;
    expect(namedProcesses.has(e.pid)).toBe(true);
    if (e.ph === 'C') continue;
    const key = `${e.pid}/${e.tid}`;
    expect(named.has(key)).toBe(true);
    if (e.ph === 'X') {
      const list = byThread.get(key) ?? [];
      list.push(e);
      byThread.set(key, list);
    }
  }
  // Slices on one thread nest properly: two slices are either disjoint or one contains the
  // other (no partial overlap), so siblings at the same depth never overlap.
  for (const [key, slices] of byThread) {
    const sorted = [...slices].sort((a, b) => a.ts - b.ts || b.dur! - a.dur!);
    const stack: TraceEvent[] = [];
    for (const s of sorted) {
      const end = s.ts + s.dur!;
      while (stack.length > 0 && stack[stack.length - 1].ts + stack[stack.length - 1].dur! <= s.ts + 1e-9) stack.pop();
      const parent = stack[stack.length - 1];
      if (parent && end > parent.ts + parent.dur! + 1e-9) {
        throw new Error(`overlapping slices on ${key}: ${JSON.stringify(parent)} and ${JSON.stringify(s)}`);
      }
      stack.push(s);
    }
  }
}

describe('PerfettoWriter', () => {
  const run = makeSyntheticRun();
  const { text, chunks } = write(run.batches, run.summary, 4096);
  const trace = JSON.parse(text) as { traceEvents: TraceEvent[]; displayTimeUnit: string; otherData: Record<string, unknown> };
  const ev = trace.traceEvents;
  const meta = (name: string) => ev.filter((e) => e.ph === 'M' && e.name === name).map((e) => String(e.args!.name ?? e.args!.sort_index));

  it('streams a valid Chrome trace-event JSON document in chunks', () => {
    expect(text.startsWith('{"traceEvents":[')).toBe(true);
    expect(chunks).toBeGreaterThan(5);
    expect(trace.displayTimeUnit).toBe('ns');
    expect(trace.otherData.runId).toBe(run.summary.run.id);
    expect(trace.otherData.digest).toBe(run.summary.digest);
    validate(trace);
  });

  it('names one process per host and per VM, threads for pCPUs, vCPUs and perf events', () => {
    const processes = meta('process_name');
    expect(processes).toEqual(expect.arrayContaining(['host h1 (intel-spr, 4 pCPUs)', 'host h2 (intel-spr, 4 pCPUs)', 'vm vm1 (passthrough)', 'vm vm2 (emulated)']));
    const threads = meta('thread_name');
    expect(threads).toEqual(expect.arrayContaining(['cpu0', 'cpu3', 'vm1/vcpu0', 'vm1/vcpu1', 'vm2/vcpu1', 'vm3/vcpu0', 'perf host-cycles cpu1', 'migration']));
    expect(ev.filter((e) => e.ph === 'M' && e.name === 'thread_sort_index').length).toBe(threads.length);
    // vm1's vCPU thread shows up under both hosts (it migrated).
    const vm1Threads = ev.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args!.name === 'vm1/vcpu0');
    expect(new Set(vm1Threads.map((e) => e.pid)).size).toBe(2);
  });

  it('draws run slices from context switches, with guest tasks nested inside vCPU slices', () => {
    const sched = ev.filter((e) => e.ph === 'X' && e.cat === 'sched');
    const runs = ev.filter((e) => e.ph === 'X' && e.cat === 'run');
    const tasks = ev.filter((e) => e.ph === 'X' && e.cat === 'guest-task');
    const switches = run.batches.flat().filter((e) => e.kind === 'contextSwitch');
    const toThread = switches.filter((e) => e.kind === 'contextSwitch' && e.nextThread !== 'idle');
    expect(sched.length).toBe(toThread.length);
    expect(runs.length).toBe(toThread.filter((e) => e.kind === 'contextSwitch' && e.nextThread.startsWith('vcpu:')).length);
    expect(tasks.length).toBeGreaterThan(runs.length / 2);
    expect(runs.every((r) => /^cpu\d$/.test(r.name))).toBe(true);
  });

  it('emits counters, PMIs, findings, VM exits, perf states and migration phases', () => {
    const all = run.batches.flat();
    const samples = all.filter((e) => e.kind === 'counterSample');
    const counters = ev.filter((e) => e.ph === 'C');
    expect(counters.length).toBe(samples.length);
    expect(counters[0].args).toEqual({ actual: expect.any(Number), observed: expect.any(Number) });
    expect(new Set(counters.map((c) => c.name))).toEqual(new Set(['vcpu0 instructions', 'vcpu0 cycles', 'vcpu1 instructions', 'vcpu1 cycles']));

    const pmis = ev.filter((e) => e.ph === 'i' && e.cat === 'pmi' && e.name.startsWith('PMI'));
    expect(pmis.length).toBe(all.filter((e) => e.kind === 'pmi').length);
    expect(pmis.filter((p) => p.name.startsWith('PMI lost')).length).toBe(1);

    const findings = ev.filter((e) => e.ph === 'i' && e.cat === 'finding');
    expect(findings.map((f) => f.name).sort()).toEqual(run.summary.findings.map((f) => `finding: ${f.kind}`).sort());

    // VM exits: one by one in quiet slices, aggregated in busy ones (the emulated VM traps a lot).
    const exits = ev.filter((e) => e.ph === 'i' && e.cat === 'vmexit');
    expect(exits.some((e) => e.name.startsWith('exits ×'))).toBe(true);
    expect(exits.some((e) => e.name.startsWith('exit '))).toBe(true);
    const aggregatedCount = exits.filter((e) => e.name.startsWith('exits ×')).reduce((n, e) => n + Number(e.args!.exits), 0);
    const singles = exits.filter((e) => e.name.startsWith('exit ')).length;
    expect(aggregatedCount + singles).toBe(all.filter((e) => e.kind === 'vmExit').length);

    expect(ev.filter((e) => e.ph === 'X' && e.cat === 'perf').map((e) => e.name)).toEqual(['active', 'error']);

    const mig = ev.filter((e) => e.ph === 'X' && e.cat === 'migration');
    expect(mig.map((m) => m.name)).toEqual(['setup', 'precopy #1', 'precopy #2', 'stop-and-copy', 'resume', 'migrate h1→h2']);
    const parent = mig[mig.length - 1];
    for (const p of mig.slice(0, -1)) {
      expect(p.ts).toBeGreaterThanOrEqual(parent.ts);
      expect(p.ts + p.dur!).toBeLessThanOrEqual(parent.ts + parent.dur! + 1e-9);
    }
  });

  it('keeps nanosecond precision in microsecond timestamps', () => {
    expect(nsToUsDecimal(0)).toBe('0');
    expect(nsToUsDecimal(1_234_567)).toBe('1234.567');
    expect(nsToUsDecimal(1_000_500)).toBe('1000.5');
    expect(nsToUsDecimal(999_999_999_999_999)).toBe('999999999999.999');
    const w = write([[{ kind: 'pmi', atNs: 1_234_567, at: { host: 'h', pcpu: 0 }, counter: 'gp0', owner: 'host', deliveredTo: 'host', vector: 2, overflowNs: 1_234_000, skidNs: 567, lost: false }]]);
    expect(w.text).toContain('"ts":1234.567');
  });

  it('is deterministic', () => {
    expect(write(run.batches, run.summary).text).toBe(write(run.batches, run.summary).text);
  });

  it('never overlaps slices, even with a lost switch-out or a batch that arrives late', () => {
    const cs = (atNs: number, host: string, pcpu: number, prev: string, next: string): SimEvent => ({ kind: 'contextSwitch', atNs, at: { host, pcpu }, prevThread: prev, nextThread: next, preempted: false });
    const batches: SimEvent[][] = [
      [cs(100, 'h1', 0, 'idle', 'vcpu:vm1/0'), { kind: 'guestContextSwitch', atNs: 150, at: { host: 'h1', pcpu: 0, vm: 'vm1', vcpu: 0 }, prevTask: 'idle', nextTask: 'a' }],
      // vm1/0 switched in on cpu1 without a switch-out on cpu0
      [cs(300, 'h1', 1, 'idle', 'vcpu:vm1/0'), { kind: 'guestContextSwitch', atNs: 320, at: { host: 'h1', pcpu: 1, vm: 'vm1', vcpu: 0 }, prevTask: 'a', nextTask: 'b' }],
      // a late batch with an earlier time on the same pCPU
      [cs(250, 'h1', 1, 'vcpu:vm1/0', 'idle'), cs(260, 'h1', 1, 'idle', 'noise:x'), cs(400, 'h1', 0, 'vcpu:vm1/0', 'idle')],
      // a vCPU never seen on a pCPU: guest tasks stand alone
      [{ kind: 'guestContextSwitch', atNs: 500, at: { vm: 'vm9', vcpu: 0 }, prevTask: 'idle', nextTask: 't' }],
    ];
    const t = JSON.parse(write(batches).text) as { traceEvents: TraceEvent[] };
    validate(t);
    expect(t.traceEvents.filter((e) => e.ph === 'X' && e.cat === 'guest-task').length).toBeGreaterThanOrEqual(3);
  });

  it('has a validator that does catch a partial overlap', () => {
    const m = (name: string, args: Record<string, unknown>): TraceEvent => ({ ph: 'M', name, ts: 0, pid: 1, tid: 2, args });
    const bad = { traceEvents: [m('process_name', { name: 'p' }), m('thread_name', { name: 't' }), { ph: 'X', name: 'a', ts: 0, dur: 10, pid: 1, tid: 2 }, { ph: 'X', name: 'b', ts: 5, dur: 10, pid: 1, tid: 2 }] };
    expect(() => validate(bad)).toThrow(/overlapping/);
  });

  it('refuses events after finish', () => {
    const w = new PerfettoWriter(() => undefined);
    w.finish(run.summary);
    expect(() => w.onEvents([])).toThrow(/after finish/);
  });
});
