// Guest isolation as a checked property of the model (docs/cluster.md): no guest ever
// reads a counter value it did not produce, and a denied event never counts.
//
// Ownership is tracked by the counter's ground-truth twin (guest-counter-shadow.ts): the content
// of a guest counter is owned by the guest when it is the guest's last write plus at most the
// events of the counter's kind the guest itself produced since (`ownBound`: user + kernel, filter
// ignored, plus program loops). Anything above that bound was produced by someone else — the
// host's events or another VM's — and is a `counter-leak`. The bound is deliberately mode- and
// filter-blind: a user-only counter that also counts the guest's own kernel events is a fidelity
// fault (user-count-includes-kernel), not a leak; a denied event that counts is `filter-bypass`.
//
// The world calls the monitor wherever a guest can read a counter: at every VM entry for every
// exposed counter (a passthrough guest reads any of them with RDPMC without an exit), at every
// guest RDMSR / RDPMC, at exits and at the periodic samples. Context switches, passthrough entries
// and migrations all end in one of those points, so a foreign value cannot reach the guest unseen.
import type { GuestCounterShadow, ShadowCounter } from './guest-counter-shadow';

/** The twin is < 1 event apart from the hardware's fractional carry; 1 more for the guest's rebase. */
export const ISOLATION_SLACK_EVENTS = 2;

export interface IsolationVerdict {
  leak: boolean;
  bypass: boolean;
  /** Events the counter holds beyond what its owner produced (leak) or counted while denied. */
  excess: number;
}

/** The verdict of a value its owner produced (shared: callers only read verdicts). */
const OWNED: IsolationVerdict = Object.freeze({ leak: false, bypass: false, excess: 0 });

export class IsolationMonitor {
  /** Judges one guest-visible value (as events `moved` since the guest's last write) of a counter whose twin is integrated up to now. */
  static judge(_s: GuestCounterShadow, c: ShadowCounter, moved: number): IsolationVerdict {
    const excess = moved - c.ownBound - ISOLATION_SLACK_EVENTS;
    if (c.unmodelled) return OWNED;
    if (excess > 0) return { leak: true, bypass: false, excess };
    // A denied event never counts: the counter may not move from where the denial found it.
    if (c.denied && moved - c.movedAtDeny > ISOLATION_SLACK_EVENTS) return { leak: false, bypass: true, excess: moved - c.movedAtDeny };
    return OWNED;
  }
}
