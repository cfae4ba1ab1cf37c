// Public surface of the generated protobuf code (proto/vpmu/v1) and its small codecs.
// The generated module is produced by `npm run proto:gen`; never edit it by hand.
import { vpmu } from './generated/vpmu';

export { vpmu };
export const pb = vpmu.v1;
export type Envelope = vpmu.v1.IEnvelope;
export type EventBatch = vpmu.v1.IEventBatch;
export * from './event-batch.codec';
export * from './envelope.codec';
export * from './guest-file.pieces';
