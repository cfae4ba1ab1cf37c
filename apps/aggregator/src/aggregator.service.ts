// aggregator: ingests every node's events, writes the recording (one frame per epoch and node,
// hash-chained), folds the summary and feeds the viewers. It is a barrier participant like the
// others: at a grant it waits for exactly the event messages sent to it during the previous
// window and records them epoch by epoch, so the recording's order never depends on delivery
// order nor on how many epochs a grant covered. It sends nothing to a simulation node, so it
// never bounds a lookahead window.
// Failover (cluster): a restarted aggregator rebuilds the recording from the start of the run
// with every event batch of the run's log (the same bytes in the same order give the same hash
// chain). A run that ends without completing keeps its recording as PATH.partial, valid up to
// the last epoch written (the recording reader's "writer died" case).
// Every message to the aggregator is checked on receipt against its sender's report, relayed
// in the grant (batch-check.ts in @vpmu/transport): one that does not match is dead-lettered and
// never recorded, and the genuine one is still accepted under the same (epoch, source, seq).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { decodeEventBatch, pb, type vpmu } from '@vpmu/proto';
import { PARTIAL_SUFFIX, RecordingWriter, type RecordingWriteResult } from '@vpmu/recording';
import { SummaryBuilder, type RunSummary } from '@vpmu/summary';
import {
  AGGREGATOR_NODE,
  checkAgainstReport,
  checkKey,
  EpochParticipants,
  TOPICS,
  MESSAGE_BUS,
  runContextFromStart,
  type Adoption,
  type AdoptionPort,
  type MessageBus,
  type Participant,
  type RunContext,
  type StepOutcome,
} from '@vpmu/transport';
import type { SimEvent } from '@vpmu/sim';
import type { OtlpExporterFactory } from '@vpmu/telemetry';
import { GUEST_DIR, GuestFilesAssembler } from './guest-files.assembler';
import { asOutputWriteError } from './output-write.error';
import { TelemetrySink } from './telemetry.sink';

export const AGGREGATOR_CONFIG = Symbol('AGGREGATOR_CONFIG');
export interface AggregatorConfig {
  outDir: string;
  transport: 'in-process' | 'kafka';
  /** OTLP http/protobuf traces endpoint; null = no export. */
  otlpUrl?: string | null;
  /** Tests inject the exporter (Jest's sandbox cannot load the default one). */
  otlpExporterFactory?: OtlpExporterFactory;
  /** false = no report.html / trace.perfetto.json (bench of the bare pipeline). */
  viewers?: boolean;
}

/** Extra consumers of the decoded event stream (viewers). */
export interface EventSink {
  onEpoch(epoch: number, events: readonly SimEvent[]): void;
  finish(summary: RunSummary, outDir: string): Promise<string[]>;
  abort?(): void;
}

export interface RunArtifacts {
  summary: RunSummary;
  recording: RecordingWriteResult;
  files: string[];
}

interface AggregatorRun {
  ctx: RunContext;
  writer: RecordingWriter;
  summary: SummaryBuilder;
  participants: EpochParticipants<null>;
  eventCount: number;
  /** The last epoch recorded (written, or empty), -1 before the first. */
  lastRecordedEpoch: number;
  /** The guest perf files the guest-vm services send at the run's end. */
  guestFiles: GuestFilesAssembler;
  /** The highest grant seen: messages sent before it can be checked, later ones wait in `held`. */
  grantedUpTo: number;
  /**
   * "source\0seq" -> what the sender reported (a node's seq is unique over the run). A grant
   * carries the reports of the whole previous window, so its checks cover every epoch sent in it.
   */
  checks: Map<string, vpmu.v1.ISentCheck>;
  /** Sent epochs whose grant carried checks (a conductor that sends none: delivered unchecked). */
  checkedEpochs: Set<number>;
  held: Map<number, vpmu.v1.Envelope[]>;
  /** Batches decoded by the check, so the epoch step does not decode them again. */
  decoded: WeakMap<vpmu.v1.Envelope, readonly SimEvent[]>;
}

@Injectable()
export class AggregatorService implements AdoptionPort {
  private run: AggregatorRun | null = null;
  private extraSinks: EventSink[] = [];
  private sinks: EventSink[] = [];
  private readonly finished: ((r: RunArtifacts) => void)[] = [];
  private readonly failed: ((e: Error) => void)[] = [];
  deadLetters = 0;
  /** Told why a delivered message was dead-lettered instead of recorded (the service's log). */
  onRejected: ((reason: string) => void) | null = null;

  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(AGGREGATOR_CONFIG) private readonly config: AggregatorConfig,
  ) {}

  get runId(): string | null {
    return this.run?.ctx.runId ?? null;
  }

  /** Extra consumers to feed during the next run, besides the built-in viewers (set before RunStart). */
  setSinks(sinks: EventSink[]): void {
    this.extraSinks = sinks;
  }

  /** Resolves with the run's artifacts once RunEnd has been processed. */
  whenFinished(): Promise<RunArtifacts> {
    return new Promise((resolve, reject) => {
      this.finished.push(resolve);
      this.failed.push(reject);
    });
  }

  /**
   * Opens the run's outputs. A failure here (an output that cannot be created) removes what was
   * already opened (no epoch is recorded yet, so the recording's PATH.partial holds nothing worth
   * keeping), fails whenFinished() with it and rethrows it so the transport reports it: the
   * RunEnd the conductor then sends names a run this aggregator never started, so nothing else
   * would settle the waiters.
   */
  onRunStart(m: vpmu.v1.IRunStart): void {
    const ctx = runContextFromStart(m);
    let writer: RecordingWriter | null = null;
    const sinks = [...this.extraSinks];
    try {
      fs.mkdirSync(this.config.outDir, { recursive: true });
      writer = new RecordingWriter().open(path.join(this.config.outDir, 'recording.vpmurec'), {
        toolVersion: ctx.toolVersion,
        runId: ctx.runId,
        seed: ctx.scenario.seed,
        scenarioText: ctx.scenarioText,
        scenarioName: ctx.scenario.name,
        epochNs: ctx.scenario.epochNs,
        durationNs: ctx.scenario.durationNs,
      });
      if (this.config.viewers !== false) {
        sinks.unshift(
          new TelemetrySink({
            outDir: this.config.outDir,
            seed: ctx.scenario.seed,
            runId: ctx.runId,
            vmModes: Object.fromEntries(ctx.scenario.vms.map((v) => [v.id, v.vpmu.mode])),
            runStartUnixNs: BigInt(Date.now()) * 1_000_000n, // wall-clock ok: where the trace lands in Jaeger, not a simulation input
            otlpUrl: this.config.otlpUrl ?? null,
            ...(this.config.otlpExporterFactory && { otlpExporterFactory: this.config.otlpExporterFactory }),
          }),
        );
      }
    } catch (err) {
      writer?.abort();
      abortSinks(sinks);
      const failure = asOutputWriteError(err, this.config.outDir) as Error;
      this.settleFailed(failure);
      throw failure;
    }
    const run: AggregatorRun = {
      ctx,
      writer,
      summary: new SummaryBuilder(ctx.scenario),
      participants: new EpochParticipants<null>(ctx.runId, this.bus, (p, grant, inbound) => this.onGrantInbound(run, p, grant, inbound)),
      eventCount: 0,
      lastRecordedEpoch: -1,
      guestFiles: new GuestFilesAssembler(),
      grantedUpTo: -1,
      checks: new Map(),
      checkedEpochs: new Set(),
      held: new Map(),
      decoded: new WeakMap(),
    };
    run.participants.add(AGGREGATOR_NODE, null);
    this.sinks = sinks;
    this.run = run;
  }

  /**
   * Ends the current run, if any, as failed with `err`: the same clean-up as a RunEnd that is
   * not "completed" (the recording kept as PATH.partial, the viewers' partial files removed), and
   * whenFinished() rejects with `err`. Does nothing to a run already settled. The embedded
   * runtime calls it when a run fails in a way no RunEnd reaches this aggregator.
   */
  failRun(err: Error): void {
    const run = this.run;
    this.run = null;
    if (run) {
      keepPartialRecording(run.writer);
      abortSinks(this.sinks);
    }
    this.settleFailed(err);
  }

  private settleFailed(err: Error): void {
    for (const f of this.failed.splice(0)) f(err);
    this.finished.splice(0);
  }

  onGrant(grant: vpmu.v1.IEpochGrant): void {
    if (this.run) this.grantTo(this.run, grant);
  }

  private grantTo(run: AggregatorRun, grant: vpmu.v1.IEpochGrant): void {
    const epoch = grant.epoch ?? 0;
    if ((grant.checks ?? []).length > 0 && epoch > run.grantedUpTo) {
      for (const c of grant.checks ?? []) run.checks.set(checkKey(c.source ?? '', c.seq ?? 0), c);
      for (let sent = Math.max(0, run.grantedUpTo); sent < epoch; sent++) run.checkedEpochs.add(sent);
    }
    run.grantedUpTo = Math.max(run.grantedUpTo, epoch);
    for (const sent of [...run.held.keys()].sort((a, b) => a - b)) {
      if (sent >= run.grantedUpTo) break;
      const held = run.held.get(sent)!;
      run.held.delete(sent);
      for (const env of held) this.receive(run, env);
    }
    run.participants.onGrant(grant);
  }

  /** A message to the aggregator: checked against its sender's report once that is known, then delivered. */
  private receive(run: AggregatorRun, env: vpmu.v1.Envelope): void {
    if (env.destination !== AGGREGATOR_NODE || env.epoch < run.lastRecordedEpoch) {
      run.participants.onMessage(env); // not the aggregator's, or old: the endpoint drops it
      return;
    }
    if (env.epoch >= run.grantedUpTo) {
      let list = run.held.get(env.epoch);
      if (!list) run.held.set(env.epoch, (list = []));
      list.push(env);
      return;
    }
    // No checks in the grant (a conductor that sends none): delivered as before.
    const outcome = run.checkedEpochs.has(env.epoch) ? checkAgainstReport(env, run.checks.get(checkKey(env.sourceNode, env.seq)), this.bus.batchMemo) : { ok: true as const, events: null };
    if (!outcome.ok) {
      this.bus.publish({ topic: TOPICS.deadletter, key: env.sourceNode, value: Buffer.from(pb.Envelope.encode(env).finish()), headers: { 'vpmu-reason': outcome.reason, 'vpmu-topic': TOPICS.events } });
      this.onRejected?.(`dead-lettered instead of recorded: ${outcome.reason}`);
      return;
    }
    if (outcome.events) run.decoded.set(env, outcome.events);
    run.participants.onMessage(env);
  }

  ownedNodes(): string[] {
    return this.run ? [AGGREGATOR_NODE] : [];
  }

  release(nodes: string[]): void {
    // Only with two aggregator replicas (not a supported set-up): the other one writes the run
    // now, to the same path, so this one stops without touching the files.
    if (nodes.includes(AGGREGATOR_NODE)) this.run = null;
  }

  /** Rebuilds the run from its start: a fresh recording, summary and viewers, fed from the log. */
  adopt(a: Adoption): void {
    if (!a.nodes.includes(AGGREGATOR_NODE)) return;
    if (this.run) {
      this.run.writer.abort();
      abortSinks(this.sinks);
      this.run = null;
    }
    this.onRunStart(a.runStart);
    const run = this.run!;
    for (const env of a.envelopes) this.receive(run, env);
    for (const g of a.grants) this.grantTo(run, g);
  }

  onEvents(env: vpmu.v1.Envelope): void {
    if (this.run) this.receive(this.run, env);
  }

  async onRunEnd(m: vpmu.v1.IRunEnd): Promise<void> {
    const run = this.run;
    if (!run) return;
    this.run = null;
    try {
      if (m.reason !== 'completed') {
        const kept = keepPartialRecording(run.writer);
        abortSinks(this.sinks);
        const recorded =
          run.lastRecordedEpoch < 0
            ? 'no epoch was recorded'
            : `the recording up to epoch ${run.lastRecordedEpoch} is valid in ${kept ?? run.writer.path + PARTIAL_SUFFIX}`;
        throw new Error(`run ${run.ctx.runId} ended: ${m.reason} (${recorded})`);
      }
      const recording = run.writer.close();
      run.summary.deadLetters = this.deadLetters;
      const epochs = run.ctx.epochs;
      const summary = run.summary.finish(
        { id: run.ctx.runId, seed: run.ctx.scenario.seed, toolVersion: run.ctx.toolVersion, transport: this.config.transport },
        { digestHex: recording.finalDigestHex, contentDigestHex: recording.contentDigestHex },
        epochs,
      );
      const files = [recording.path];
      // The guest directory holds this run's files only: a previous run's sessions would read as this one's.
      fs.rmSync(path.join(this.config.outDir, GUEST_DIR), { recursive: true, force: true });
      if (run.guestFiles.size > 0) {
        summary.guestPerfFiles = run.guestFiles.writeAll(this.config.outDir);
      }
      const summaryPath = path.join(this.config.outDir, 'summary.json');
      writeFileAtomic(summaryPath, JSON.stringify(summary, null, 2) + '\n');
      files.push(summaryPath);
      if (summary.guestPerfFiles) files.push(path.join(this.config.outDir, GUEST_DIR));
      for (const s of this.sinks) files.push(...(await s.finish(summary, this.config.outDir)));
      for (const f of this.finished.splice(0)) f({ summary, recording, files });
      this.failed.splice(0);
    } catch (err) {
      // A viewer that failed to finish leaves no half-written file; the files already complete
      // (recording, summary.json, viewers finished before it) are whole and stay.
      abortSinks(this.sinks);
      this.settleFailed(asOutputWriteError(err, this.config.outDir) as Error);
    }
  }

  /**
   * Records every epoch from the last one recorded up to the grant's first epoch - 1: the
   * messages sent during the previous window, epoch by epoch, exactly as one grant per epoch
   * would have recorded them (an epoch without frames is recorded as empty).
   */
  private onGrantInbound(run: AggregatorRun, _p: Participant<null>, grant: vpmu.v1.IEpochGrant, inbound: vpmu.v1.Envelope[]): StepOutcome {
    const bySentEpoch = new Map<number, vpmu.v1.Envelope[]>();
    for (const env of inbound) {
      let list = bySentEpoch.get(env.epoch);
      if (!list) bySentEpoch.set(env.epoch, (list = []));
      list.push(env);
    }
    for (let epoch = run.lastRecordedEpoch + 1; epoch < (grant.epoch ?? 0); epoch++) this.recordEpoch(run, epoch, bySentEpoch.get(epoch) ?? []);
    return { events: 0 };
  }

  private recordEpoch(run: AggregatorRun, recordedEpoch: number, inbound: vpmu.v1.Envelope[]): void {
    const frames: { node: string; batch: Uint8Array; eventCount: number; events: readonly SimEvent[] }[] = [];
    const checkpoints: { node: string; state: Uint8Array }[] = [];
    for (const env of inbound) {
      run.checks.delete(checkKey(env.sourceNode, env.seq)); // used: a later copy under its key is old
      if (env.checkpoint) {
        checkpoints.push({ node: env.sourceNode, state: env.checkpoint.state ?? new Uint8Array() });
        continue;
      }
      if (env.guestFile) {
        run.guestFiles.add(env.guestFile);
        continue;
      }
      if (env.guestOutput) {
        const g = env.guestOutput;
        run.summary.setGuestResult(g.vm ?? '', Number(g.workloadUnits ?? 0), Number(g.guestNs ?? 0));
        continue;
      }
      if (!env.events) continue;
      const events = run.decoded.get(env) ?? decodeEventBatch(env.events);
      frames.push({ node: env.sourceNode, batch: env.events, eventCount: events.length, events });
    }
    checkpoints.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    for (const c of checkpoints) run.writer.writeCheckpoint(recordedEpoch, c.node, c.state);
    run.lastRecordedEpoch = recordedEpoch;
    if (frames.length === 0) return;
    frames.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    run.writer.writeEpoch(
      recordedEpoch,
      frames.map(({ node, batch, eventCount }) => ({ node, batch, eventCount })),
    );
    for (const f of frames) {
      run.summary.onEvents(f.events);
      for (const s of this.sinks) s.onEpoch(recordedEpoch, f.events);
      run.eventCount += f.eventCount;
    }
  }
}

/** Aborts every sink; one that fails to clean up does not keep the others from doing so. */
function abortSinks(sinks: readonly EventSink[]): void {
  for (const s of sinks) {
    try {
      s.abort?.();
    } catch {
      // best effort: the run has already failed with its own error
    }
  }
}

/**
 * Ends an unfinished recording without deleting it: RecordingWriter.abort() closes the file and
 * removes PATH.partial, so the file is moved aside around it. Every epoch in it is whole (the
 * writer writes an epoch at once), so it reads back up to its last epoch. Returns its path.
 */
function keepPartialRecording(writer: RecordingWriter): string | null {
  const partial = writer.path + PARTIAL_SUFFIX;
  const aside = `${partial}.keep`;
  try {
    fs.renameSync(partial, aside);
  } catch {
    writer.abort();
    return null; // never opened, or already gone
  }
  writer.abort();
  fs.renameSync(aside, partial);
  return partial;
}

/** Writes via a temporary file and a rename, so a crash never leaves half a file. */
export function writeFileAtomic(file: string, content: string): void {
  const tmp = `${file}.partial`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, file);
}
