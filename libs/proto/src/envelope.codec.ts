// Envelope framing for every message on a transport: protobuf bytes end to end.
import { vpmu } from './generated/vpmu';

export class EnvelopeDecodeError extends Error {}

export function encodeEnvelope(env: vpmu.v1.IEnvelope): Buffer {
  const bytes = vpmu.v1.Envelope.encode(env).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes and sanity-checks an envelope; throws EnvelopeDecodeError with the reason. */
export function decodeEnvelope(bytes: Uint8Array): vpmu.v1.Envelope {
  let env: vpmu.v1.Envelope;
  try {
    env = vpmu.v1.Envelope.decode(bytes);
  } catch (err) {
    throw new EnvelopeDecodeError(`not a vpmu.v1.Envelope: ${(err as Error).message}`);
  }
  if (!env.runId) throw new EnvelopeDecodeError('envelope has no run id');
  if (!env.sourceNode) throw new EnvelopeDecodeError('envelope has no source node');
  if (!env.payload) throw new EnvelopeDecodeError('envelope has no payload');
  return env;
}
