// Epoch arithmetic of the counted-barrier protocol (docs/architecture.md).
// Virtual time is cut into fixed epochs; epoch e covers [e * epochNs, (e + 1) * epochNs),
// clipped to the run's duration.

export interface EpochWindow {
  epoch: number;
  startNs: number;
  endNs: number;
}

export function epochCount(durationNs: number, epochNs: number): number {
  if (epochNs <= 0) throw new Error('epochNs must be positive');
  return Math.ceil(durationNs / epochNs);
}

export function epochWindow(epoch: number, epochNs: number, durationNs: number): EpochWindow {
  const startNs = epoch * epochNs;
  return { epoch, startNs, endNs: Math.min(durationNs, startNs + epochNs) };
}

/** Canonical order of messages applied at the start of an epoch. */
export interface MessageKey {
  sentEpoch: number;
  sourceNode: string;
  seq: number;
}

export function compareMessageKeys(a: MessageKey, b: MessageKey): number {
  if (a.sentEpoch !== b.sentEpoch) return a.sentEpoch - b.sentEpoch;
  if (a.sourceNode !== b.sourceNode) return a.sourceNode < b.sourceNode ? -1 : 1;
  return a.seq - b.seq;
}
