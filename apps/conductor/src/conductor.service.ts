// The conductor drives a run: it announces the run, grants epochs one by one with the counted
// barrier (each grant carries how many messages every node must receive from the previous
// epoch, and the window and the timeline actions due in it from the engine's epoch schedule,
// @vpmu/engine), waits for every node's report, and ends the run after two drain epochs (guest
// results, then their recording by the aggregator).
// On a cluster it also publishes the failover supervisor's Takeover (a new placement mid-run):
// the adopters re-simulate from the log and report again; reports are idempotent per epoch, so
// a node's report for the current epoch counts once whoever sends it, and older ones are ignored.
import { Inject, Injectable } from '@nestjs/common';
import { pb, type vpmu } from '@vpmu/proto';
import type { Scenario } from '@vpmu/scenario';
import { actionsDueIn, runEpochCount, runEpochWindow } from '@vpmu/engine';
import { AGGREGATOR_NODE, CONDUCTOR_NODE, hostNode, MESSAGE_BUS, TOPICS, toActionMessage, vmNode, type MessageBus } from '@vpmu/transport';
import { encodeEnvelope } from '@vpmu/proto';

export interface RunRequest {
  runId: string;
  scenario: Scenario;
  scenarioText: string;
  toolVersion: string;
  /** Cluster runs: which replica owns which node (RunStart.assignments). */
  assignments?: { node: string; replica: string }[];
  /** Cluster runs: where each topic partition ended before the run (RunStart.log_start, failover). */
  logStart?: { topic: string; partition: number; offset: number }[];
}

export interface ConductorProgress {
  epoch: number;
  epochs: number;
  events: number;
}

export interface ConductorOutcome {
  epochs: number;
  events: number;
}

export class RunAbortedError extends Error {}

@Injectable()
export class ConductorService {
  private run: RunRequest | null = null;
  private nodes: string[] = [];
  private epochs = 0;
  private current = -1;
  private reports = new Map<string, vpmu.v1.IEpochReport>();
  private seq = 0;
  private events = 0;
  private resolve: ((o: ConductorOutcome) => void) | null = null;
  private reject: ((e: Error) => void) | null = null;
  private progressListener: ((p: ConductorProgress) => void) | null = null;
  /** Wall time of each barrier round trip (grant -> last report), for the bench. */
  readonly barrierRoundTripMs: number[] = [];
  private grantStartedMs = 0;

  constructor(@Inject(MESSAGE_BUS) private readonly bus: MessageBus) {}

  onProgress(listener: (p: ConductorProgress) => void): void {
    this.progressListener = listener;
  }

  /** Starts a run; resolves when the last epoch has been reported by every node. */
  start(req: RunRequest): Promise<ConductorOutcome> {
    if (this.run) throw new Error('a run is already in progress');
    this.run = req;
    this.epochs = runEpochCount(req.scenario);
    this.nodes = [
      AGGREGATOR_NODE,
      ...req.scenario.hosts.map((h) => hostNode(h.id)),
      ...req.scenario.vms.map((v) => vmNode(v.id)),
    ].sort();
    const done = new Promise<ConductorOutcome>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.publish(-1, {
      runStart: {
        runId: req.runId,
        scenarioText: req.scenarioText,
        seed: req.scenario.seed,
        epochNs: req.scenario.epochNs,
        durationNs: req.scenario.durationNs,
        toolVersion: req.toolVersion,
        assignments: req.assignments ?? [],
        logStart: req.logStart ?? [],
      },
    });
    this.grant(0, new Map());
    return done;
  }

  /** The epoch granted last (-1 before the run). */
  get currentEpoch(): number {
    return this.run ? this.current : -1;
  }

  /** Nodes whose report for the current epoch has not come in yet (canonical order). */
  missingNodes(): string[] {
    if (!this.run) return [];
    return this.nodes.filter((n) => !this.reports.has(n));
  }

  /** Failover: publishes a new placement; the owners of `adopt` restore those nodes from the log. */
  takeover(assignments: { node: string; replica: string }[], adopt: string[], reason: string): void {
    if (!this.run) return;
    this.publish(this.current, { takeover: { runId: this.run.runId, epoch: this.current, assignments, adopt, reason } });
  }

  abort(reason: string): void {
    if (!this.run) return;
    this.publish(this.current, { runEnd: { runId: this.run.runId, finalEpoch: this.current, reason } });
    this.reject?.(new RunAbortedError(reason));
    this.run = null;
  }

  onReport(env: vpmu.v1.Envelope): void {
    const report = env.report;
    if (!this.run || !report || env.runId !== this.run.runId) return;
    if (report.epoch !== this.current) return; // a duplicate of an old epoch
    const node = report.node ?? '';
    if (!this.nodes.includes(node)) return;
    this.reports.set(node, report);
    if (this.reports.size < this.nodes.length) return;
    this.barrierRoundTripMs.push(performance.now() - this.grantStartedMs); // wall-clock ok: bench figure only
    const expected = new Map<string, number>();
    const checks: vpmu.v1.ISentCheck[] = [];
    for (const node of this.nodes) {
      const r = this.reports.get(node)!;
      this.events += r.eventCount ?? 0;
      for (const s of r.sentTo ?? []) expected.set(s.node ?? '', (expected.get(s.node ?? '') ?? 0) + (s.count ?? 0));
      checks.push(...(r.sentChecks ?? []));
    }
    this.progressListener?.({ epoch: Math.min(this.current + 1, this.epochs), epochs: this.epochs, events: this.events });
    const next = this.current + 1;
    if (next <= this.epochs + 1) {
      this.grant(next, expected, checks);
      return;
    }
    const run = this.run;
    this.publish(next, { runEnd: { runId: run.runId, finalEpoch: this.current, reason: 'completed' } });
    this.run = null;
    this.resolve?.({ epochs: this.epochs, events: this.events });
  }

  private grant(epoch: number, expected: Map<string, number>, checks: vpmu.v1.ISentCheck[] = []): void {
    const s = this.run!.scenario;
    // Drain epochs (after the last simulated one) get an empty window at the end of the run: no actions.
    const w = runEpochWindow(s, epoch);
    const actions = actionsDueIn(s.timeline, w.startNs, w.endNs).map((t) => toActionMessage(t.atNs, t.action));
    this.current = epoch;
    this.reports = new Map();
    this.grantStartedMs = performance.now(); // wall-clock ok: bench figure only
    const grant: vpmu.v1.IEpochGrant = {
      epoch,
      startNs: w.startNs,
      endNs: w.endNs,
      expected: [...expected.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([node, count]) => ({ node, count })),
      actions,
      // In node order (the reports'), each node's in send order: the grant's bytes are the same every run.
      checks,
    };
    this.publish(epoch, { grant });
  }

  private publish(epoch: number, payload: Partial<vpmu.v1.IEnvelope>): void {
    const env = pb.Envelope.create({ runId: this.run!.runId, epoch: Math.max(epoch, 0), sourceNode: CONDUCTOR_NODE, seq: this.seq++, ...payload });
    this.bus.publish({ topic: TOPICS.control, key: CONDUCTOR_NODE, value: encodeEnvelope(env) });
  }
}
