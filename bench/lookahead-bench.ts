// The lookahead rows of `npm run bench`: barrier round trips per virtual second and throughput
// with lookahead windows on and forced off, embedded and on a cluster (1 aggregator, 2 host-node
// and 2 guest-vm processes on the kcat mock broker), for the quickstart and a 16-host fleet. The
// figures feed the scaling model of docs/cluster.md. Also runnable alone, after `npm run build`:
//   node dist/bench/lookahead-bench.js
// (VPMU_BENCH_LOOKAHEAD_WORLDS=quickstart:1000,fleet16:250 chooses worlds and virtual ms).
// Wall-clock use here is measurement, outside the simulation.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseScenario, type Scenario } from '@vpmu/scenario';
import { runEmbedded } from '../apps/cli/src/embedded-runtime';
import { deriveRunId } from '../apps/cli/src/scenario-file';
import { TOOL_VERSION } from '../apps/cli/src/version';
import { runOnCluster } from '../apps/cli/src/cluster/cluster-runtime';
import { clusterServices, spawnService, stopServices, waitForReady, type ClusterState } from '../apps/cli/src/cluster/cluster-processes';
import { kcatAvailable, startKcatMock } from '../apps/cli/src/cluster/kcat-mock';
import { fleetScenarioYaml } from './fleet-scenario';

const ROOT = path.resolve(__dirname, '..', '..');

export interface LookaheadWorld {
  name: string;
  hosts: number;
  text: string;
}

export interface LookaheadRow {
  world: string;
  hosts: number;
  where: 'embedded' | 'cluster';
  lookahead: boolean;
  virtualS: number;
  wallS: number;
  events: number;
  eventsPerSec: number;
  roundTrips: number;
  roundTripsPerVirtualS: number;
  roundTripP50Ms: number;
  /**
   * Cluster rows: CPU seconds each service process used during the run (Linux /proc; {} elsewhere),
   * by service kind: the per-host and serial (aggregator) work of the scaling model.
   */
  cpuSByService: Record<string, number>;
  contentDigest: string;
}

/** `quickstart:1000,fleet16:250`: the quickstart for 1 s of virtual time, the 16-host fleet for 0.25 s. */
export function lookaheadWorlds(spec = process.env.VPMU_BENCH_LOOKAHEAD_WORLDS ?? 'quickstart:1000,fleet16:250'): LookaheadWorld[] {
  return spec.split(',').map((cell) => {
    const m = /^(quickstart|fleet(\d+)):(\d+)$/.exec(cell.trim());
    if (!m) throw new Error(`VPMU_BENCH_LOOKAHEAD_WORLDS: "${cell}" is not quickstart:MS or fleetHOSTS:MS`);
    const ms = Number(m[3]);
    if (m[2] !== undefined) return { name: `fleet-${m[2]}h (${ms / 1000} s)`, hosts: Number(m[2]), text: fleetScenarioYaml({ hosts: Number(m[2]), durationMs: ms }) };
    const text = fs.readFileSync(path.join(ROOT, 'scenarios', 'quickstart.yaml'), 'utf8').replace(/^duration: .*$/m, `duration: ${ms}ms`);
    return { name: `quickstart (${ms / 1000} s)`, hosts: 1, text };
  });
}

function scenarioOf(w: LookaheadWorld): Scenario {
  const parsed = parseScenario(w.text);
  if (!parsed.ok) throw new Error(`${w.name}: scenario invalid`);
  return parsed.scenario;
}

function p50(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat; null when unreadable. */
function processCpuS(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

function cpuByService(services: ClusterState['services']): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of services) {
    const cpu = processCpuS(s.pid);
    if (cpu !== null) out[s.app] = (out[s.app] ?? 0) + cpu;
  }
  return out;
}

function row(w: LookaheadWorld, scenario: Scenario, where: LookaheadRow['where'], lookahead: boolean, wallMs: number, events: number, rt: number[], contentDigest: string, cpuSByService: Record<string, number> = {}): LookaheadRow {
  const virtualS = scenario.durationNs / 1e9;
  return {
    world: w.name,
    hosts: w.hosts,
    where,
    lookahead,
    virtualS,
    wallS: wallMs / 1000,
    events,
    eventsPerSec: events / (wallMs / 1000),
    roundTrips: rt.length,
    roundTripsPerVirtualS: rt.length / virtualS,
    roundTripP50Ms: p50(rt),
    cpuSByService,
    contentDigest,
  };
}

async function embeddedRow(w: LookaheadWorld, lookahead: boolean): Promise<LookaheadRow> {
  const scenario = scenarioOf(w);
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpmu-lookahead-'));
  try {
    const t0 = performance.now(); // wall-clock ok: bench
    const r = await runEmbedded({ runId: deriveRunId(w.text, scenario), scenario, scenarioText: w.text, toolVersion: TOOL_VERSION, outDir, ...(!lookahead && { maxWindowEpochs: 1 }) });
    const wallMs = performance.now() - t0; // wall-clock ok: bench
    return row(w, scenario, 'embedded', lookahead, wallMs, r.summary.events.total, r.barrierRoundTripMs, r.summary.contentDigest);
  } finally {
    fs.rmSync(outDir, { recursive: true, force: true });
  }
}

/** Every world embedded and (when kcat is there) on one cluster, windows on and off; `notes` gets what was skipped. */
export async function benchLookahead(worlds: LookaheadWorld[], notes: string[]): Promise<LookaheadRow[]> {
  const rows: LookaheadRow[] = [];
  for (const w of worlds) {
    for (const lookahead of [true, false]) {
      process.stderr.write(`bench: lookahead ${lookahead ? 'on' : 'off'}, ${w.name}, embedded ...\n`);
      rows.push(await embeddedRow(w, lookahead));
      process.stderr.write(`bench: ${JSON.stringify(rows[rows.length - 1])}\n`);
    }
  }
  if (process.env.VPMU_BENCH_CLUSTER === '0') return notes.push('lookahead cluster rows skipped (VPMU_BENCH_CLUSTER=0)'), rows;
  if (!kcatAvailable()) return notes.push('lookahead cluster rows skipped: kcat is not installed; apt-get install -y kcat'), rows;
  const broker = await startKcatMock();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpmu-lookahead-cluster-'));
  const services: ClusterState['services'] = [];
  try {
    for (const spec of clusterServices({ brokers: [broker.address], hostNodes: 2, guestVms: 2, group: 'bench-lookahead', partitions: 4, outDir: path.join(dir, 'out') })) {
      const log = path.join(dir, `${spec.name}.log`);
      const child = spawnService(spec, log, false);
      services.push({ name: spec.name, app: spec.app, pid: child.pid ?? -1, log });
    }
    const ready = await waitForReady(services, 60_000);
    if (!ready.ok) throw new Error(`bench cluster did not start: ${ready.name}: ${ready.reason}`);
    for (const w of worlds) {
      const scenario = scenarioOf(w);
      for (const lookahead of [true, false]) {
        process.stderr.write(`bench: lookahead ${lookahead ? 'on' : 'off'}, ${w.name}, cluster ...\n`);
        const cpuBefore = cpuByService(services);
        const r = await runOnCluster({
          brokers: [broker.address],
          runId: deriveRunId(w.text, scenario),
          scenario,
          scenarioText: w.text,
          toolVersion: TOOL_VERSION,
          epochTimeoutMs: 120_000,
          readyTimeoutMs: 120_000, // a loaded machine: the services may take long to answer the first probes
          ...(!lookahead && { maxWindowEpochs: 1 }),
        });
        const cpuAfter = cpuByService(services);
        // Includes the handshake before RunStart (small: a few probes).
        const cpuS = Object.fromEntries(Object.entries(cpuAfter).map(([app, s]) => [app, Math.round((s - (cpuBefore[app] ?? 0)) * 100) / 100]));
        rows.push(row(w, scenario, 'cluster', lookahead, r.runWallMs, r.summary.events.total, r.barrierRoundTripMs, r.summary.contentDigest, cpuS));
        process.stderr.write(`bench: ${JSON.stringify(rows[rows.length - 1])}\n`);
      }
    }
  } finally {
    await stopServices(services, 5000);
    await broker.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const w of new Set(rows.map((r) => r.world))) {
    const digests = new Set(rows.filter((r) => r.world === w).map((r) => r.contentDigest));
    if (digests.size !== 1) throw new Error(`${w}: content digests differ between embedded/cluster and windows on/off`);
  }
  return rows;
}

/** The rows as a table, and per world the cluster's speed against the embedded run and the cost of one round trip. */
export function formatLookahead(rows: LookaheadRow[]): string {
  const header = ['world', 'where', 'lookahead', 'wall s', 'events/s', 'round trips', 'round trips/virtual s', 'round trip p50 ms', 'CPU s: host-node, guest-vm, aggregator'];
  const body = rows.map((r) => [
    r.world,
    r.where,
    r.lookahead ? 'on' : 'off',
    r.wallS.toFixed(2),
    String(Math.round(r.eventsPerSec)),
    String(r.roundTrips),
    r.roundTripsPerVirtualS.toFixed(1),
    r.roundTripP50Ms.toFixed(2),
    r.where === 'cluster' ? ['host-node', 'guest-vm', 'aggregator'].map((a) => (r.cpuSByService[a] ?? 0).toFixed(2)).join(', ') : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i <= 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
  for (const w of new Set(rows.map((r) => r.world))) {
    const of = (where: string, on: boolean): LookaheadRow | undefined => rows.find((r) => r.world === w && r.where === where && r.lookahead === on);
    const embOn = of('embedded', true);
    const cOn = of('cluster', true);
    const cOff = of('cluster', false);
    if (!embOn || !cOn || !cOff) continue;
    // What one round trip costs on the cluster: the wall time the windows saved over the round trips they saved.
    const perRoundTripMs = ((cOff.wallS - cOn.wallS) * 1000) / Math.max(cOff.roundTrips - cOn.roundTrips, 1);
    out.push(
      `${w}: cluster/embedded throughput ${(cOn.eventsPerSec / embOn.eventsPerSec).toFixed(2)}x with windows, ${(cOff.eventsPerSec / embOn.eventsPerSec).toFixed(2)}x without; ` +
        `one cluster round trip costs ${perRoundTripMs.toFixed(1)} ms of wall time`,
    );
  }
  return out.join('\n') + '\n';
}

if (require.main === module) {
  const notes: string[] = [];
  benchLookahead(lookaheadWorlds(), notes).then(
    (rows) => {
      process.stdout.write(formatLookahead(rows));
      for (const n of notes) process.stdout.write(`note: ${n}\n`);
      process.stdout.write(JSON.stringify(rows) + '\n');
    },
    (err: Error) => {
      process.stderr.write(`lookahead bench failed: ${err.stack}\n`);
      process.exitCode = 1;
    },
  );
}
