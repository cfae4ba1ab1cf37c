// Live migration timing (QEMU's pre-copy model, as in migration/ram.c's dirty-page iteration):
// the first pass sends all guest memory while the guest runs; each later pass sends what was
// dirtied during the previous one; when what is left can be sent within the allowed downtime
// (or the iteration budget is spent), the guest is paused and the rest is sent: stop-and-copy.
// Pure arithmetic on integers (bytes, ns).

export interface PrecopyInput {
  memoryBytes: number;
  dirtyBytesPerSec: number;
  bandwidthBytesPerSec: number;
  maxDowntimeNs: number;
  /** Bytes of device and vPMU state sent during stop-and-copy. */
  stateBytes: number;
  /** Give up converging after this many pre-copy passes (QEMU's auto-converge would throttle). */
  maxIterations?: number;
}

export interface PrecopyPass {
  iteration: number;
  bytes: number;
  durationNs: number;
}

export interface PrecopyPlan {
  passes: PrecopyPass[];
  stopAndCopyBytes: number;
  stopAndCopyNs: number;
  converged: boolean;
  totalBytes: number;
}

export const DEFAULT_MAX_PRECOPY_ITERATIONS = 30;
const NS_PER_SEC = 1_000_000_000;

/** Time to send `bytes` at `bandwidth`, rounded up to whole ns. */
export function transferNs(bytes: number, bandwidthBytesPerSec: number): number {
  return Math.ceil((bytes * NS_PER_SEC) / bandwidthBytesPerSec);
}

export function planPrecopy(input: PrecopyInput): PrecopyPlan {
  const { memoryBytes, dirtyBytesPerSec, bandwidthBytesPerSec, maxDowntimeNs, stateBytes } = input;
  if (!(bandwidthBytesPerSec > 0)) throw new Error('migration bandwidth must be positive');
  const maxIterations = input.maxIterations ?? DEFAULT_MAX_PRECOPY_ITERATIONS;
  const passes: PrecopyPass[] = [];
  let toSend = memoryBytes;
  let converged = false;
  for (let i = 0; i < maxIterations; i++) {
    if (i > 0 && transferNs(toSend + stateBytes, bandwidthBytesPerSec) <= maxDowntimeNs) {
      converged = true;
      break;
    }
    const durationNs = transferNs(toSend, bandwidthBytesPerSec);
    passes.push({ iteration: i, bytes: toSend, durationNs });
    toSend = Math.min(memoryBytes, Math.floor((dirtyBytesPerSec * durationNs) / NS_PER_SEC));
  }
  if (!converged && transferNs(toSend + stateBytes, bandwidthBytesPerSec) <= maxDowntimeNs) converged = true;
  const stopAndCopyBytes = toSend + stateBytes;
  const totalBytes = passes.reduce((n, p) => n + p.bytes, 0) + stopAndCopyBytes;
  return { passes, stopAndCopyBytes, stopAndCopyNs: transferNs(stopAndCopyBytes, bandwidthBytesPerSec), converged, totalBytes };
}
