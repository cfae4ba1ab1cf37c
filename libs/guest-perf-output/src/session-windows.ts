// When each guest perf session was enabled: its `start`/`stop` in the scenario, changed by the
// timeline's `guestPerf` start/stop actions. Half-open windows [startNs, endNs) in run time.
import type { GuestPerfSpec, Scenario } from '@vpmu/world-spec';

export interface SessionWindow {
  startNs: number;
  endNs: number;
}

export function sessionWindows(scenario: Scenario, vmId: string, spec: GuestPerfSpec): SessionWindow[] {
  const toggles: { atNs: number; on: boolean }[] = [{ atNs: spec.startNs, on: true }];
  if (spec.stopNs !== undefined) toggles.push({ atNs: spec.stopNs, on: false });
  for (const t of scenario.timeline) {
    const a = t.action;
    if (a.kind === 'guestPerf' && a.vm === vmId && a.session === spec.id) toggles.push({ atNs: t.atNs, on: a.action === 'start' });
  }
  // Stable: at one instant the scenario's own start/stop come before timeline actions.
  toggles.sort((a, b) => a.atNs - b.atNs);
  const windows: SessionWindow[] = [];
  let openNs: number | null = null;
  for (const t of toggles) {
    if (t.atNs >= scenario.durationNs) break;
    if (t.on && openNs === null) openNs = t.atNs;
    else if (!t.on && openNs !== null) {
      if (t.atNs > openNs) windows.push({ startNs: openNs, endNs: t.atNs });
      openNs = null;
    }
  }
  if (openNs !== null) windows.push({ startNs: openNs, endNs: scenario.durationNs });
  return windows;
}

/** Guest ns the session was enabled in all. */
export function windowsLengthNs(windows: readonly SessionWindow[]): number {
  return windows.reduce((s, w) => s + (w.endNs - w.startNs), 0);
}

export function windowsContain(windows: readonly SessionWindow[], atNs: number): boolean {
  return windows.some((w) => atNs >= w.startNs && atNs < w.endNs);
}
