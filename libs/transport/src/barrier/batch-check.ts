// Per-message checks of what reaches the aggregator (docs/architecture.md "The epoch protocol").
// A sender reports, for each message it sent the aggregator in an epoch, the digest of the payload
// the aggregator records and, for an event batch, its event count (EpochReport.sent_checks); the
// conductor relays them in the next grant (EpochGrant.checks). The aggregator records only what
// matches: a garbage batch, one that decodes to a different number of events, or a forged
// envelope that reuses a real (epoch, source, seq) is dead-lettered, never recorded, and the
// genuine message (or a re-sent one after a takeover) is still accepted under the same key.
import { createHash } from 'node:crypto';
import { decodeEventBatch, type vpmu } from '@vpmu/proto';
import type { SimEvent } from '@vpmu/sim';
import type { BatchMemo } from './batch-memo';

/** sha256 of the payload as recorded (the batch or the checkpoint bytes), tagged by its kind. */
export function payloadDigest(env: Pick<vpmu.v1.IEnvelope, 'events' | 'checkpoint' | 'guestOutput' | 'guestFile'>): Buffer {
  const h = createHash('sha256');
  if (env.events) h.update('events\u0000').update(env.events);
  else if (env.checkpoint) h.update(`checkpoint\u0000${env.checkpoint.epoch ?? 0}\u0000${env.checkpoint.node ?? ''}\u0000`).update(env.checkpoint.state ?? new Uint8Array());
  else if (env.guestOutput) h.update(`guest-output\u0000${env.guestOutput.vm ?? ''}\u0000${String(env.guestOutput.workloadUnits ?? 0)}\u0000${String(env.guestOutput.guestNs ?? 0)}`);
  else if (env.guestFile) h.update(`guest-file\u0000${env.guestFile.vm ?? ''}\u0000${env.guestFile.name ?? ''}\u0000${String(env.guestFile.offset ?? 0)}\u0000`).update(env.guestFile.content ?? new Uint8Array());
  else h.update('other');
  return h.digest();
}

export const checkKey = (source: string, seq: number): string => `${source}\u0000${seq}`;

export type CheckOutcome = { ok: true; events: readonly SimEvent[] | null } | { ok: false; reason: string };

/**
 * Checks one delivered message against its sender's report. `events` is the decoded batch (an
 * event batch decoded once here, so the epoch step need not decode it again), or the events its
 * sender encoded it from when `memo` holds them (same process: batch-memo.ts).
 */
export function checkAgainstReport(env: vpmu.v1.Envelope, check: vpmu.v1.ISentCheck | undefined, memo?: BatchMemo): CheckOutcome {
  const what = `${env.events ? 'event batch' : env.checkpoint ? 'checkpoint' : 'message'} from ${env.sourceNode} (epoch ${env.epoch}, seq ${env.seq})`;
  if (!check) return { ok: false, reason: `${what} was not reported by its sender` };
  const digest = payloadDigest(env);
  if (!digest.equals(Buffer.from(check.digest ?? new Uint8Array()))) return { ok: false, reason: `${what} differs from what its sender reported (digest ${digest.toString('hex').slice(0, 16)}…, reported ${Buffer.from(check.digest ?? new Uint8Array()).toString('hex').slice(0, 16)}…)` };
  if (!env.events) return { ok: true, events: null };
  let events: readonly SimEvent[];
  try {
    events = memo?.take(digest) ?? decodeEventBatch(env.events);
  } catch (err) {
    return { ok: false, reason: `${what} cannot be decoded: ${(err as Error).message}` };
  }
  if (events.length !== (check.eventCount ?? 0)) return { ok: false, reason: `${what} decodes to ${events.length} events, its sender reported ${check.eventCount ?? 0}` };
  return { ok: true, events };
}
