// The conductor drives a run: it announces the run, grants epochs with the counted barrier
// (each grant carries how many messages every node must receive from the previous grant's
// window, and the window and the timeline actions due in it from the engine's epoch schedule,
// @vpmu/engine), waits for every node's report, and ends the run after two drain epochs (guest
// results, then their recording by the aggregator).
// Lookahead windows: one grant covers every epoch up to the one in which some simulation node
// may first send to another (the earliest of the hosts' reported next hand-off and the
// migrations the timeline starts), capped by windowEpochCap (maxWindowEpochs, and fewer epochs
// for worlds of many hosts: a replica runs a window in one turn). Messages are still applied at the
// epochs one grant per epoch applies them, so only the number of round trips changes.
// On a cluster it also publishes the failover supervisor's Takeover (a new placement mid-run):
// the adopters re-simulate from the log and report again; reports are idempotent per epoch, so
// a node's report for the current epoch counts once whoever sends it, and older ones are ignored.
import { Inject, Injectable } from '@nestjs/common';
import { pb, type vpmu } from '@vpmu/proto';
import type { Scenario } from '@vpmu/scenario';
import { actionsDueIn, DEFAULT_MAX_WINDOW_EPOCHS, lookaheadWindowEnd, runEpochCount, runEpochWindow, timelineHandOffBoundNs, windowEpochCap } from '@vpmu/engine';
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
  /**
   * The most epochs one grant may cover (lookahead windows); 1 grants every epoch on its own
   * (`vpmu run --no-lookahead`). Default DEFAULT_MAX_WINDOW_EPOCHS.
   */
  maxWindowEpochs?: number;
}

export interface ConductorProgress {
  epoch: number;
  epochs: number;
  events: number;
}

export interface ConductorOutcome {
  epochs: number;
  events: number;
  /** Barrier round trips (grants) the run took, drain epochs included. */
  grants: number;
}

export class RunAbortedError extends Error {}

@Injectable()
export class ConductorService {
  private run: RunRequest | null = null;
  private nodes: string[] = [];
  private epochs = 0;
  private current = -1;
  /** Exclusive end of the current grant's window. */
  private currentEnd = 0;
  private grants = 0;
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
    this.grants = 0;
    this.grant(0, new Map(), Infinity);
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
    let nextSendNs = Infinity;
    const checks: vpmu.v1.ISentCheck[] = [];
    for (const node of this.nodes) {
      const r = this.reports.get(node)!;
      this.events += r.eventCount ?? 0;
      for (const s of r.sentTo ?? []) expected.set(s.node ?? '', (expected.get(s.node ?? '') ?? 0) + (s.count ?? 0));
      if (r.nextSendNs !== undefined && r.nextSendNs !== null) nextSendNs = Math.min(nextSendNs, Number(r.nextSendNs));
      checks.push(...(r.sentChecks ?? []));
    }
    const next = this.currentEnd;
    this.progressListener?.({ epoch: Math.min(next, this.epochs), epochs: this.epochs, events: this.events });
    if (next <= this.epochs + 1) {
      this.grant(next, expected, nextSendNs, checks);
      return;
    }
    const run = this.run;
    this.publish(next, { runEnd: { runId: run.runId, finalEpoch: this.current, reason: 'completed' } });
    this.run = null;
    this.resolve?.({ epochs: this.epochs, events: this.events, grants: this.grants });
  }

  /**
   * Grants the window from `epoch`: up to the epoch in which the earliest send between
   * simulation nodes may happen, the hosts' reported `nodesNextSendNs` or a migration the
   * timeline starts from the window's start on (at epoch 0 no host has anything in flight).
   */
  private grant(epoch: number, expected: Map<string, number>, nodesNextSendNs: number, checks: vpmu.v1.ISentCheck[] = []): void {
    const s = this.run!.scenario;
    const startNs = runEpochWindow(s, epoch).startNs;
    const earliestSendNs = Math.min(nodesNextSendNs, timelineHandOffBoundNs(s.timeline, startNs));
    const endEpoch = lookaheadWindowEnd(s, epoch, earliestSendNs, windowEpochCap(s.hosts.length, this.run!.maxWindowEpochs ?? DEFAULT_MAX_WINDOW_EPOCHS));
    // Drain epochs (after the last simulated one) get an empty window at the end of the run: no actions.
    const endNs = runEpochWindow(s, endEpoch - 1).endNs;
    const actions = actionsDueIn(s.timeline, startNs, endNs).map((t) => toActionMessage(t.atNs, t.action));
    this.current = epoch;
    this.currentEnd = endEpoch;
    this.grants++;
    this.reports = new Map();
    this.grantStartedMs = performance.now(); // wall-clock ok: bench figure only
    const grant: vpmu.v1.IEpochGrant = {
      epoch,
      startNs,
      endNs,
      expected: [...expected.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([node, count]) => ({ node, count })),
      actions,
      // Written only for a window of several epochs: a one-epoch grant stays as it always was.
      ...(endEpoch > epoch + 1 && { endEpoch }),
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
