import type { ReadyReply } from './cluster-handshake';
import { partitionForKey } from '../client/partitioner';
import { NodeLostError, planFailover, RunSupervisor, TakeoverFailedError, type SupervisedConductor } from './run-supervisor';

const R = 'run-1';
const hosts = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];
const reply = (service: string, replica: string, partitions: number[], inRun = R): ReadyReply => ({ service, replica, partitions, partitionCount: 4, staticNodes: [], inRun });
const owner = (node: string, byPartition: Record<string, number[]>): string => Object.entries(byPartition).find(([, ps]) => ps.includes(partitionForKey(node, 4)))![0];

function ownersFrom(byPartition: Record<string, number[]>): Map<string, string> {
  const m = new Map<string, string>(hosts.map((h) => [`host/${h}`, owner(`host/${h}`, byPartition)]));
  m.set('vm/v1', 'g');
  m.set('aggregator', 'agg');
  return m;
}

describe('planFailover', () => {
  const before = { a: [0, 1], b: [2], c: [3] };
  const owners = ownersFrom(before);
  const live = (parts: Record<string, number[]>, extra: ReadyReply[] = []): ReadyReply[] => [
    reply('aggregator', 'agg', []),
    reply('guest-vm', 'g', [0, 1, 2, 3]),
    ...Object.entries(parts).map(([r, ps]) => reply('host-node', r, ps)),
    ...extra,
  ];

  it('is steady when every owner answers from the run and holds its partitions', () => {
    expect(planFailover(R, hosts, ['v1'], owners, live(before))).toEqual(expect.objectContaining({ kind: 'steady' }));
  });

  it('waits while a dead replica still holds its partitions, naming its nodes', () => {
    const plan = planFailover(R, hosts, ['v1'], owners, live({ b: [2], c: [3] }));
    expect(plan.kind).toBe('unplaceable');
    if (plan.kind !== 'unplaceable') return;
    expect(plan.gone.length).toBeGreaterThan(0);
    expect(plan.gone).toEqual([...owners].filter(([, r]) => r === 'a').map(([n]) => n).sort());
    expect(plan.problems.join(' ')).toMatch(/no host-node replica holds vpmu.inbox partition/);
  });

  it('moves the dead replica\'s nodes, and the nodes whose partition moved, once the group rebalanced', () => {
    const after = { b: [0, 2], c: [1, 3] };
    const plan = planFailover(R, hosts, ['v1'], owners, live(after));
    expect(plan.kind).toBe('takeover');
    if (plan.kind !== 'takeover') return;
    const expected = hosts.map((h) => `host/${h}`).filter((n) => owners.get(n) !== owner(n, after));
    expect(plan.adopt).toEqual(expected);
    expect(plan.gone).toEqual(hosts.map((h) => `host/${h}`).filter((n) => owners.get(n) === 'a'));
    for (const a of plan.assignments.filter((x) => x.node.startsWith('host/'))) expect(a.replica).toBe(owner(a.node, after));
    expect(plan.assignments.find((a) => a.node === 'aggregator')).toEqual({ node: 'aggregator', replica: 'agg' });
  });

  it('gives the nodes of a replica that restarted under the same id back to it, to be rebuilt', () => {
    const replies = live(before).map((r) => (r.replica === 'g' ? { ...r, inRun: '' } : r));
    const plan = planFailover(R, hosts, ['v1'], owners, replies);
    expect(plan).toEqual(expect.objectContaining({ kind: 'takeover', adopt: ['vm/v1'], gone: ['vm/v1'] }));
  });

  it('moves the aggregator to a new aggregator replica when its own is gone', () => {
    const replies = live(before).filter((r) => r.replica !== 'agg');
    replies.push(reply('aggregator', 'agg-2', [], ''));
    const plan = planFailover(R, hosts, ['v1'], owners, replies);
    expect(plan).toEqual(expect.objectContaining({ kind: 'takeover', adopt: ['aggregator'], gone: ['aggregator'] }));
  });
});

describe('RunSupervisor', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const conductor = (): SupervisedConductor & { takeovers: { adopt: string[] }[] } => {
    const takeovers: { adopt: string[] }[] = [];
    return { currentEpoch: 7, missingNodes: () => ['host/h1'], takeover: (_a, adopt) => void takeovers.push({ adopt }), takeovers };
  };
  const start = (replies: () => ReadyReply[], c: SupervisedConductor, onLost: (e: NodeLostError) => void): RunSupervisor => {
    const s = new RunSupervisor({
      runId: R,
      hosts: ['h1'],
      vms: [],
      assignments: [{ node: 'host/h1', replica: 'a' }],
      aggregatorReplica: 'agg',
      handshake: { probe: async (_run, waitMs) => new Promise((res) => setTimeout(() => res(replies()), waitMs)) },
      conductor: c,
      onLost,
    });
    s.start();
    return s;
  };

  it('ends the run naming the lost node when no replica can take it over', async () => {
    const c = conductor();
    const lost: NodeLostError[] = [];
    const s = start(() => [reply('aggregator', 'agg', [])], c, (e) => lost.push(e));
    for (let i = 0; i < 100 && lost.length === 0; i++) await jest.advanceTimersByTimeAsync(500);
    s.stop();
    expect(lost).toHaveLength(1);
    expect(lost[0].message).toMatch(/^lost host\/h1 at epoch 7: host-node replica a stopped answering and no other host-node replica took over within 20 s \(no host-node replica answered\)/);
    expect(c.takeovers).toEqual([]);
  });

  it('waits longer while another replica of the service answers between rebalance rounds', async () => {
    const c = conductor();
    const lost: NodeLostError[] = [];
    let round = 0;
    // b answers every other round (it is rejoining the group in between), never with h1's partition.
    const s = start(() => [reply('aggregator', 'agg', []), ...(round++ % 2 === 0 ? [reply('host-node', 'b', [])] : [])], c, (e) => lost.push(e));
    for (let i = 0; i < 60; i++) await jest.advanceTimersByTimeAsync(500);
    expect(lost).toEqual([]);
    for (let i = 0; i < 100 && lost.length === 0; i++) await jest.advanceTimersByTimeAsync(500);
    s.stop();
    expect(lost[0]?.message).toMatch(/took over within 60 s/);
  });

  it('hands the node to the replica that holds its partition once two rounds agree, and never while the run progresses', async () => {
    const c = conductor();
    let progressing = true;
    const s = start(() => [reply('aggregator', 'agg', []), reply('host-node', 'b', [0, 1, 2, 3])], c, () => undefined);
    for (let i = 0; i < 20; i++) {
      await jest.advanceTimersByTimeAsync(500);
      if (progressing) s.progressed();
    }
    expect(c.takeovers).toEqual([]);
    progressing = false;
    for (let i = 0; i < 20 && c.takeovers.length === 0; i++) await jest.advanceTimersByTimeAsync(500);
    s.stop();
    expect(c.takeovers).toEqual([{ adopt: ['host/h1'] }]);
    expect(s.failovers).toEqual([expect.objectContaining({ epoch: 7, adopt: ['host/h1'], gone: ['host/h1'] })]);
  });
});

describe('RunSupervisor: slow is not dead (heartbeats), takeovers bounded', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const conductor = (): SupervisedConductor & { takeovers: { adopt: string[] }[] } => {
    const takeovers: { adopt: string[] }[] = [];
    return { currentEpoch: 7, missingNodes: () => ['host/h1'], takeover: (_a, adopt) => void takeovers.push({ adopt }), takeovers };
  };
  type Heart = { reply: ReadyReply; fresh: boolean };
  const start = (answers: () => ReadyReply[], hearts: () => Heart[], c: SupervisedConductor, onLost: (e: Error) => void, maxTakeovers?: number): RunSupervisor => {
    const s = new RunSupervisor({
      runId: R,
      hosts: ['h1'],
      vms: [],
      assignments: [{ node: 'host/h1', replica: 'a' }],
      aggregatorReplica: 'agg',
      handshake: {
        probe: async (_run, waitMs) => new Promise((res) => setTimeout(() => res(answers()), waitMs)),
        // A fresh heart arrived just now; a stale one is left out (its lease ran out).
        heardWithin: () => hearts().filter((h) => h.fresh).map((h) => ({ reply: h.reply, atMs: performance.now() })),
      },
      conductor: c,
      onLost,
      maxTakeovers,
    });
    s.start();
    return s;
  };

  it('never takes over from an owner too busy to answer probes while its heartbeats arrive and its handled count moves', async () => {
    const c = conductor();
    const lost: Error[] = [];
    let handled = 0;
    // The owner never answers a probe in time (its deliveries queue behind a long epoch), but its heartbeat timer does.
    const s = start(() => [reply('aggregator', 'agg', [])], () => [{ reply: reply('aggregator', 'agg', []), fresh: true }, { reply: { ...reply('host-node', 'a', [0, 1, 2, 3]), handled: handled++ }, fresh: true }], c, (e) => lost.push(e));
    for (let i = 0; i < 240; i++) await jest.advanceTimersByTimeAsync(500); // two minutes without progress
    s.stop();
    expect({ takeovers: c.takeovers, lost }).toEqual({ takeovers: [], lost: [] });
  });

  it('still finds a dead owner once its heartbeats stop', async () => {
    const c = conductor();
    const lost: Error[] = [];
    const s = start(() => [reply('aggregator', 'agg', [])], () => [{ reply: reply('aggregator', 'agg', []), fresh: true }], c, (e) => lost.push(e));
    for (let i = 0; i < 100 && lost.length === 0; i++) await jest.advanceTimersByTimeAsync(500);
    s.stop();
    expect(lost[0]?.message).toMatch(/^lost host\/h1 at epoch 7: host-node replica a stopped answering/);
  });

  it('re-adopts from an idle owner, and ends the run after maxTakeovers that bring no progress instead of looping', async () => {
    const c = conductor();
    const lost: Error[] = [];
    const live = (): ReadyReply[] => [reply('aggregator', 'agg', []), { ...reply('host-node', 'a', [0, 1, 2, 3]), handled: 5 }];
    const s = start(live, () => live().map((r) => ({ reply: r, fresh: true })), c, (e) => lost.push(e), 2);
    for (let i = 0; i < 400 && lost.length === 0; i++) await jest.advanceTimersByTimeAsync(500);
    s.stop();
    expect(c.takeovers).toEqual([{ adopt: ['host/h1'] }, { adopt: ['host/h1'] }]);
    expect(lost).toHaveLength(1);
    expect(lost[0]).toBeInstanceOf(TakeoverFailedError);
    expect(lost[0].message).toMatch(/^epoch 7 did not complete after 2 takeovers in a row \(last of host\/h1: no progress for \d+ s with their owners idle\); giving up/);
  });
});
