import { computeAssignments, type ReadyReply } from './cluster-handshake';
import { partitionForKey } from '../client/partitioner';

const agg: ReadyReply = { service: 'aggregator', replica: 'agg', partitions: [], partitionCount: 4, staticNodes: [] };
const rep = (service: string, replica: string, partitions: number[], staticNodes: string[] = []): ReadyReply => ({ service, replica, partitions, partitionCount: 4, staticNodes });

describe('computeAssignments', () => {
  const hosts = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];

  it('gives each host to the replica holding its vpmu.inbox partition, whatever the answer order', () => {
    const replies = [agg, rep('host-node', 'a', [0, 2]), rep('host-node', 'b', [1, 3]), rep('guest-vm', 'g', [0, 1, 2, 3])];
    const out = computeAssignments(hosts, ['v1'], replies);
    const reversed = computeAssignments(hosts, ['v1'], [...replies].reverse());
    expect(out).toEqual(expect.objectContaining({ ok: true }));
    if (!out.ok || !reversed.ok) return;
    expect(out.assignments).toEqual(reversed.assignments);
    for (const a of out.assignments.filter((x) => x.node.startsWith('host/'))) {
      expect(a.replica).toBe([0, 2].includes(partitionForKey(a.node, 4)) ? 'a' : 'b');
    }
    expect(out.assignments.find((a) => a.node === 'vm/v1')?.replica).toBe('g');
  });

  it('honours static ownership and reports what is missing', () => {
    const out = computeAssignments(['h1'], ['v1'], [agg, rep('host-node', 's', [], ['host/h1']), rep('guest-vm', 'g', [0, 1, 2, 3])]);
    expect(out.ok && out.assignments).toEqual([
      { node: 'host/h1', replica: 's' },
      { node: 'vm/v1', replica: 'g' },
    ]);
    const missing = computeAssignments(['h1'], ['v1'], [rep('host-node', 'a', [0])]);
    expect(missing.ok).toBe(false);
    if (missing.ok) return;
    expect(missing.problems.join('; ')).toMatch(/no aggregator answered.*no guest-vm replica answered/);
  });

  it('refuses overlapping partitions (a rebalance in flight) and uncovered partitions', () => {
    const overlap = computeAssignments(hosts, [], [agg, rep('host-node', 'a', [0, 1, 2, 3]), rep('host-node', 'b', [1, 3])]);
    expect(!overlap.ok && overlap.problems[0]).toMatch(/both hold partition 1/);
    const uncovered = computeAssignments(hosts, [], [agg, rep('host-node', 'a', [0])]);
    expect(!uncovered.ok && uncovered.problems.join(' ')).toMatch(/no host-node replica holds vpmu.inbox partition/);
  });
});
