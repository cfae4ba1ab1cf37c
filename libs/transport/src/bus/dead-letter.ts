// Undecodable or foreign messages never stop a run silently: they are forwarded to the
// dead-letter topic with the reason in a header, and counted.
import { decodeEnvelope, EnvelopeDecodeError, type vpmu } from '@vpmu/proto';
import type { BusMessage, MessageBus } from './message-bus.port';
import { TOPICS } from './topics';

export class DeadLetterCounter {
  count = 0;
  readonly reasons: string[] = [];
}

/**
 * Decodes a delivered message. Returns the envelope, or null after dead-lettering it when it
 * cannot be decoded or belongs to another run (`runId` given). Old-epoch and duplicate checks
 * are the NodeEndpoint's.
 */
export function decodeOrDeadLetter(
  bus: MessageBus,
  message: BusMessage,
  counter: DeadLetterCounter,
  runId: string | null,
): vpmu.v1.Envelope | null {
  let reason: string;
  try {
    const env = decodeEnvelope(message.value);
    if (runId === null || env.runId === runId) return env;
    reason = `foreign run ${env.runId} (current run ${runId})`;
  } catch (err) {
    if (!(err instanceof EnvelopeDecodeError)) throw err;
    reason = err.message;
  }
  counter.count++;
  if (counter.reasons.length < 100) counter.reasons.push(`${message.topic}: ${reason}`);
  if (message.topic !== TOPICS.deadletter) {
    bus.publish({ topic: TOPICS.deadletter, key: message.key, value: message.value, headers: { 'vpmu-reason': reason, 'vpmu-topic': message.topic } });
  }
  return null;
}

/** The key argument a transport server passes in its RPC context (`[topic, key, headers]`). */
interface DeliveryContext {
  getArgByIndex(index: number): unknown;
}

/** decodeOrDeadLetter for a message delivered to an @EventPattern handler. */
export function decodeDelivery(
  bus: MessageBus,
  topic: string,
  value: Buffer,
  ctx: DeliveryContext,
  counter: DeadLetterCounter,
  runId: string | null,
): vpmu.v1.Envelope | null {
  return decodeOrDeadLetter(bus, { topic, key: String(ctx.getArgByIndex(1) ?? ''), value }, counter, runId);
}
