import type { MigrationPhaseName, Place, SimEvent } from '@vpmu/sim';
import { OtelTraceBuilder } from './otel-trace.builder';
import { PerfettoWriter } from './perfetto.writer';
import { ReportCollector } from './report.collector';
import {
  layMigrationPhases,
  RunTimelineFold,
  type CounterPoint,
  type Migration,
  type OpenRunSlice,
  type PcpuSwitch,
  type PmiMark,
  type VcpuRunSlice,
} from './run-timeline.fold';
import { makeSyntheticRun } from './testing/synthetic-run.fixture';
import { formatVcpuThreadName } from './thread-names';

const vcpu = formatVcpuThreadName;

function sw(atNs: number, host: string, pcpu: number, nextThread: string, preempted = false): SimEvent {
  return { kind: 'contextSwitch', atNs, at: { host, pcpu }, prevThread: '?', nextThread, preempted };
}

function pmi(atNs: number, at: Place, lost = false): SimEvent {
  return { kind: 'pmi', atNs, at, counter: 'gp0', owner: 'guest', deliveredTo: 'guest', vector: 0xfe, overflowNs: atNs - 100, skidNs: 100, lost };
}

function phase(atNs: number, vm: string, p: MigrationPhaseName, durationNs: number, iteration = 0): SimEvent {
  return { kind: 'migrationPhase', atNs, at: { vm }, phase: p, iteration, bytes: 1000, durationNs, fromHost: 'h1', toHost: 'h2' };
}

/** Feeds the events and records what the listener hears, in order. */
function fold(events: SimEvent[], endNs?: number) {
  const heard: string[] = [];
  const ended: VcpuRunSlice[] = [];
  const started: OpenRunSlice[] = [];
  const switches: PcpuSwitch[] = [];
  const pmis: PmiMark[] = [];
  const points: CounterPoint[] = [];
  const migrations: Migration[] = [];
  const f = new RunTimelineFold({
    pcpuSwitch: (s) => {
      switches.push(s);
      heard.push(`switch ${s.host}/${s.pcpu} ${s.prevThread ?? 'idle'}->${s.nextThread ?? 'idle'}`);
    },
    sliceStart: (s) => {
      started.push(s);
      heard.push(`start ${s.vm}/${s.vcpu}#${s.index} on ${s.host}/${s.pcpu}`);
    },
    sliceEnd: (s) => {
      ended.push(s);
      heard.push(`end ${s.vm}/${s.vcpu}#${s.index} ${s.cause}`);
    },
    pmi: (m) => pmis.push(m),
    counterSample: (p) => points.push(p),
    migration: (m) => migrations.push(m),
  });
  for (const e of events) f.onEvent(e);
  if (endNs !== undefined) {
    f.endRunSlices(f.runEndNs(endNs));
    f.endMigrations();
  }
  return { f, heard, ended, started, switches, pmis, points, migrations };
}

describe('RunTimelineFold', () => {
  it('turns context switches into vCPU run slices on (host, pCPU)', () => {
    const { ended } = fold([sw(100, 'h1', 0, vcpu('vm1', 0)), sw(400, 'h1', 0, 'noise:n0', true), sw(500, 'h1', 0, vcpu('vm1', 0)), sw(900, 'h1', 0, 'idle')], 1000);
    expect(ended).toEqual([
      { host: 'h1', pcpu: 0, vm: 'vm1', vcpu: 0, startNs: 100, endNs: 400, index: 0, cause: 'switched-out', preempted: true },
      { host: 'h1', pcpu: 0, vm: 'vm1', vcpu: 0, startNs: 500, endNs: 900, index: 1, cause: 'switched-out', preempted: false },
    ]);
  });

  it('reports every pCPU switch, with the vCPU the next thread runs and idle as null', () => {
    const { switches } = fold([sw(100, 'h1', 2, 'noise:n0'), sw(200, 'h1', 2, vcpu('vm2', 1)), sw(300, 'h1', 2, 'idle')]);
    expect(switches.map((s) => [s.prevThread, s.nextThread, s.nextVcpu])).toEqual([
      [null, 'noise:n0', null],
      ['noise:n0', 'vcpu:vm2/1', { vm: 'vm2', vcpu: 1 }],
      ['vcpu:vm2/1', null, null],
    ]);
  });

  it('ends a slice whose switch-out was lost when the vCPU is switched in elsewhere, and the stale pCPU does not end the new one', () => {
    const { ended, f } = fold([sw(100, 'h1', 0, vcpu('vm1', 0)), sw(300, 'h1', 1, vcpu('vm1', 0)), sw(350, 'h1', 0, 'idle')]);
    expect(ended).toEqual([{ host: 'h1', pcpu: 0, vm: 'vm1', vcpu: 0, startNs: 100, endNs: 300, index: 0, cause: 'switched-in-elsewhere' }]);
    expect(f.openSlice('vm1', 0)).toEqual({ host: 'h1', pcpu: 1, vm: 'vm1', vcpu: 0, startNs: 300, index: 1 });
  });

  it('tells the listener a switch first, then the slice ended there, then the lost one, then the new slice', () => {
    const { heard } = fold([sw(100, 'h1', 0, vcpu('vm1', 0)), sw(100, 'h1', 1, vcpu('vm1', 1)), sw(200, 'h1', 0, vcpu('vm1', 1))]);
    expect(heard).toEqual([
      'switch h1/0 idle->vcpu:vm1/0',
      'start vm1/0#0 on h1/0',
      'switch h1/1 idle->vcpu:vm1/1',
      'start vm1/1#0 on h1/1',
      'switch h1/0 vcpu:vm1/0->vcpu:vm1/1',
      'end vm1/0#0 switched-out',
      'end vm1/1#0 switched-in-elsewhere',
      'start vm1/1#1 on h1/0',
    ]);
  });

  it('ends open slices at the end of the run, vCPUs in the order they first ran, never before they started', () => {
    const { ended, f } = fold([sw(100, 'h1', 0, vcpu('vm2', 0)), sw(150, 'h2', 0, vcpu('vm1', 3)), { kind: 'vmExit', atNs: 2500, at: { vm: 'vm1', vcpu: 3 }, reason: 'hlt', costNs: 10, msr: 0 }], 2000);
    expect(ended.map((s) => [s.vm, s.vcpu, s.endNs, s.cause])).toEqual([
      ['vm2', 0, 2500, 'run-end'],
      ['vm1', 3, 2500, 'run-end'],
    ]);
    expect(f.runEndNs(3000)).toBe(3000);
    const late = fold([sw(900, 'h1', 0, vcpu('vm1', 0))]);
    late.f.endAtRunEnd('vm1', 0, 500);
    expect(late.ended[0]).toMatchObject({ startNs: 900, endNs: 900, cause: 'run-end' });
  });

  it('places a PMI on its vCPU and the run slice open at the time', () => {
    const { pmis } = fold([pmi(50, { host: 'h1', vm: 'vm1', vcpu: 0 }), sw(100, 'h1', 0, vcpu('vm1', 0)), pmi(150, { host: 'h1', vm: 'vm1', vcpu: 0 }, true), pmi(160, { host: 'h1', pcpu: 0 })]);
    expect(pmis.map((m) => [m.event.atNs, m.vcpu, m.slice?.startNs ?? null])).toEqual([
      [50, { vm: 'vm1', vcpu: 0 }, null],
      [150, { vm: 'vm1', vcpu: 0 }, 100],
      [160, null, null],
    ]);
    expect(pmis[1].event.lost).toBe(true);
  });

  it('keys counter samples by series: a vCPU or VM (guest view) before a pCPU or host, -1 for the whole', () => {
    const sample = (at: Place): SimEvent => ({ kind: 'counterSample', atNs: 10, at, event: 'cycles', actual: 7, observed: 5 });
    const { points } = fold([sample({ host: 'h1', vm: 'vm1', vcpu: 2 }), sample({ vm: 'vm1' }), sample({ host: 'h1', pcpu: 3 }), sample({ host: 'h1' }), sample({})]);
    expect(points.map((p) => [p.owner, p.ownerId, p.cpu])).toEqual([
      ['vm', 'vm1', 2],
      ['vm', 'vm1', -1],
      ['host', 'h1', 3],
      ['host', 'h1', -1],
    ]);
    expect(points[0]).toMatchObject({ atNs: 10, event: 'cycles', actual: 7, observed: 5 });
  });

  it('groups a VM\'s migration phases up to resume or refused, and ends one in flight as incomplete', () => {
    const events = [
      phase(100, 'vm1', 'setup', 10),
      phase(110, 'vm2', 'setup', 10),
      phase(120, 'vm1', 'precopy', 50, 1),
      phase(170, 'vm1', 'resume', 5),
      phase(200, 'vm2', 'refused', 0),
      phase(300, 'vm1', 'setup', 10),
    ];
    const during = fold(events);
    expect(during.migrations.map((m) => [m.vm, m.index, m.result, m.phases.length])).toEqual([
      ['vm1', 0, 'completed', 3],
      ['vm2', 0, 'refused', 2],
    ]);
    const ended = fold(events, 1000);
    expect(ended.migrations.map((m) => [m.vm, m.index, m.result, m.fromHost, m.toHost])).toEqual([
      ['vm1', 0, 'completed', 'h1', 'h2'],
      ['vm2', 0, 'refused', 'h1', 'h2'],
      ['vm1', 1, 'incomplete', 'h1', 'h2'],
    ]);
  });

  it('lays migration phases end to end from their start, or from a floor', () => {
    const phases = [phase(100, 'vm1', 'setup', 30), phase(110, 'vm1', 'precopy', 50, 1), phase(400, 'vm1', 'stop-and-copy', -5)];
    const only = (e: SimEvent) => e as Extract<SimEvent, { kind: 'migrationPhase' }>;
    expect(layMigrationPhases(phases.map(only)).map((p) => [p.startNs, p.endNs])).toEqual([
      [100, 130],
      [130, 180],
      [400, 400],
    ]);
    expect(layMigrationPhases(phases.map(only), 150).map((p) => [p.startNs, p.endNs])).toEqual([
      [150, 180],
      [180, 230],
      [400, 400],
    ]);
  });

  it('gives the three viewers the same run slices (synthetic run)', () => {
    const run = makeSyntheticRun();
    const expected = fold(run.batches.flat(), run.summary.run.durationNs).ended;
    const perVcpu = (slices: { vm: string; vcpu: number; startNs: number; endNs: number }[]) =>
      slices.map((s) => `${s.vm}/${s.vcpu} ${s.startNs}..${s.endNs}`).sort();

    const chunks: string[] = [];
    const perfetto = new PerfettoWriter((c) => chunks.push(c));
    const otel = new OtelTraceBuilder({ seed: 1, runId: 'r', runStartUnixNs: 0n });
    const report = new ReportCollector({ maxSlicesPerVcpu: 1_000_000 });
    for (const b of run.batches) {
      perfetto.onEvents(b);
      otel.onEvents(b);
      report.onEvents(b);
    }
    perfetto.finish(run.summary);
    const spans = otel.finish(run.summary);
    const data = report.finish(run.summary);

    expect(expected.length).toBeGreaterThan(10);
    const trace = JSON.parse(chunks.join('')) as { traceEvents: { ph: string; cat?: string; ts: number; dur?: number; pid: number; tid?: number; args?: Record<string, unknown> }[] };
    const threadNames = new Map(trace.traceEvents.filter((e) => e.ph === 'M' && e.args?.name !== undefined).map((e) => [`${e.pid}/${e.tid}`, String(e.args!.name)]));
    const perfettoSlices = trace.traceEvents
      .filter((e) => e.ph === 'X' && e.cat === 'run')
      .map((e) => {
        const [vm, v] = threadNames.get(`${e.pid}/${e.tid}`)!.split('/vcpu');
        return { vm, vcpu: Number(v), startNs: Math.round(e.ts * 1000), endNs: Math.round((e.ts + e.dur!) * 1000) };
      });
    const otelSlices = spans
      .filter((s) => /^vm\/[^/]+\/vcpu\/\d+\/run\/\d+$/.test(s.path))
      .map((s) => ({ vm: String(s.attributes['vpmu.vm.id']), vcpu: Number(s.attributes['vpmu.vcpu.index']), startNs: s.startNs, endNs: s.endNs }));
    const reportSlices = data.vcpus.flatMap((t) => t.slices.map((s) => ({ vm: t.vm, vcpu: t.vcpu, startNs: s.startNs, endNs: s.endNs })));

    expect(perVcpu(otelSlices)).toEqual(perVcpu(expected));
    expect(perVcpu(reportSlices)).toEqual(perVcpu(expected));
    expect(perVcpu(perfettoSlices)).toEqual(perVcpu(expected));

    // ... and the same migration phases.
    const reportPhases = data.migrations.flatMap((m) => m.phases.map((p) => `${m.vm} ${p.phase} ${p.startNs}..${p.endNs}`));
    const otelPhases = spans
      .filter((s) => /\/migration\/\d+\/phase\/\d+$/.test(s.path))
      .map((s) => `${s.attributes['vpmu.vm.id']} ${s.attributes['vpmu.migration.phase']} ${s.startNs}..${s.endNs}`);
    const perfettoPhases = trace.traceEvents.filter((e) => e.ph === 'X' && e.cat === 'migration' && e.args?.iteration !== undefined).length;
    expect(reportPhases.length).toBeGreaterThan(2);
    expect(otelPhases).toEqual(reportPhases);
    expect(perfettoPhases).toBe(reportPhases.length);
  });
});
