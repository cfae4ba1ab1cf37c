// Test fixtures (not exported): small deterministic recordings with a mix of event kinds.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeEventBatch } from '@vpmu/proto';
import type { SimEvent } from '@vpmu/sim';
import type { RecordingHeaderInit } from './recording.format';
import { EpochFrameInput, RecordingWriter, RecordingWriteResult } from './recording.writer';

export const EPOCH_NS = 1_000_000;

export function sampleHeader(overrides: Partial<RecordingHeaderInit> = {}): RecordingHeaderInit {
  return {
    toolVersion: '0.1.0-test',
    runId: 'run-42',
    seed: 42,
    scenarioText: 'version: 1\nname: fixture\n',
    scenarioName: 'fixture',
    epochNs: EPOCH_NS,
    durationNs: 8 * EPOCH_NS,
    ...overrides,
  };
}

/** Deterministic events for one node in one epoch; `n` of them, kinds rotating. */
export function sampleEvents(epoch: number, node: string, n: number): SimEvent[] {
  const out: SimEvent[] = [];
  const base = epoch * EPOCH_NS;
  for (let i = 0; i < n; i++) {
    const atNs = base + i * 1000 + node.length;
    const at = { host: node, pcpu: i % 4, vm: 'vm1', vcpu: i % 2 };
    switch (i % 4) {
      case 0:
        out.push({ kind: 'counterSample', atNs, at, event: 'instructions', actual: 1000 * (i + 1) + epoch, observed: 1000 * (i + 1) + epoch });
        break;
      case 1:
        out.push({ kind: 'contextSwitch', atNs, at: { host: node, pcpu: i % 4 }, prevThread: 'vcpu0', nextThread: 'noise1', preempted: true });
        break;
      case 2:
        out.push({ kind: 'vmExit', atNs, at, reason: 'msr-write', costNs: 1200, msr: 0x38f });
        break;
      default:
        out.push({ kind: 'lbrSnapshot', atNs, at, fromIps: [0x1000 + i, 0x2000 + i], toIps: [0x3000 + i, 0x4000 + i], foreignEntries: 0 });
    }
  }
  return out;
}

export interface SampleEpoch {
  epoch: number;
  frames: EpochFrameInput[];
}

export interface SampleSpec {
  epochs?: number[];
  nodes?: string[];
  eventsPerFrame?: number;
  /** Checkpoint every node before these epochs. */
  checkpointEpochs?: number[];
}

export function sampleEpochs(spec: SampleSpec = {}): SampleEpoch[] {
  const epochs = spec.epochs ?? [0, 1, 2, 3];
  const nodes = spec.nodes ?? ['host-b', 'host-a'];
  const n = spec.eventsPerFrame ?? 5;
  return epochs.map((epoch) => ({
    epoch,
    frames: nodes.map((node) => {
      const events = sampleEvents(epoch, node, n);
      return { node, batch: encodeEventBatch(events), eventCount: events.length };
    }),
  }));
}

export function checkpointState(epoch: number, node: string): Uint8Array {
  return new TextEncoder().encode(`state of ${node} at epoch ${epoch}`);
}

export function writeSample(file: string, spec: SampleSpec = {}, header = sampleHeader()): { result: RecordingWriteResult; epochs: SampleEpoch[] } {
  const epochs = sampleEpochs(spec);
  const nodes = spec.nodes ?? ['host-b', 'host-a'];
  const w = new RecordingWriter().open(file, header);
  for (const e of epochs) {
    if (spec.checkpointEpochs?.includes(e.epoch)) for (const node of nodes) w.writeCheckpoint(e.epoch, node, checkpointState(e.epoch, node));
    w.writeEpoch(e.epoch, e.frames);
  }
  return { result: w.close(), epochs };
}

export function tempDir(prefix = 'vpmu-recording-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
