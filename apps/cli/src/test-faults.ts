// Test-only faults (test-leak-host-counter, test-filter-bypass, test-migration-drop-state) imitate
// KVM defects only to prove a check can fire; their findings look exactly like real ones. `run`
// refuses a scenario that injects one unless --allow-test-faults says it is meant; `validate`
// says the scenario needs it. The summary and the report list every injected fault anyway.
import { isTestOnlyFault } from '@vpmu/host';
import { formatNs } from '@vpmu/sim';
import type { Scenario } from '@vpmu/scenario';
import { CliError } from './cli-error';

/** "test-filter-bypass on vm1 at 5ms" for each test-only fault the timeline injects. */
export function testOnlyFaultsOf(s: Scenario): string[] {
  const out: string[] = [];
  for (const t of s.timeline) if (t.action.kind === 'fault' && isTestOnlyFault(t.action.fault)) out.push(`${t.action.fault} on ${t.action.target} at ${formatNs(t.atNs)}`);
  return out;
}

/** The one-sentence note `validate` prints, or null. */
export function testFaultsNote(s: Scenario): string | null {
  const faults = testOnlyFaultsOf(s);
  return faults.length === 0 ? null : `it injects the test-only fault${faults.length === 1 ? '' : 's'} ${faults.join(', ')}: "vpmu run" needs --allow-test-faults for it.`;
}

/** Throws (exit 2) when `s` injects a test-only fault and the run did not allow them. */
export function assertTestFaultsAllowed(s: Scenario, allowed: boolean): void {
  const faults = testOnlyFaultsOf(s);
  if (allowed || faults.length === 0) return;
  throw new CliError(`the scenario injects the test-only fault${faults.length === 1 ? '' : 's'} ${faults.join(', ')}, which imitate KVM defects to test the checks; pass --allow-test-faults to run it anyway.`);
}
