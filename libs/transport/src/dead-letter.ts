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
