// RunStart.assignments (cluster runs): which replica owns which node. A service replica that
// knows its replica id simulates exactly the nodes assigned to it; without assignments
// (embedded runs) it falls back to its configured list.
import type { vpmu } from '@vpmu/proto';

/** The nodes RunStart assigns to `replica`, or null when RunStart assigns nothing to anyone. */
export function nodesAssignedTo(m: vpmu.v1.IRunStart, replica: string | undefined): Set<string> | null {
  if (!replica || !m.assignments || m.assignments.length === 0) return null;
  return new Set(m.assignments.filter((a) => a.replica === replica).map((a) => a.node ?? ''));
}
