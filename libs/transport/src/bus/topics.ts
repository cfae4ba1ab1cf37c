// Topic layout (docs/cluster.md). Keys are node ids so per-node order holds.
export const TOPICS = {
  control: 'vpmu.control', // run start/end, epoch grants (conductor -> everyone)
  inbox: 'vpmu.inbox', // node-to-node: guest output, migration state (keyed by destination)
  events: 'vpmu.events', // simulation output (keyed by source) -> aggregator
  reports: 'vpmu.reports', // epoch reports -> conductor
  deadletter: 'vpmu.deadletter', // undecodable or foreign messages, reason in a header
  // Kafka only: a copy of every host checkpoint, keyed `<run>|<node>` (compacted on a real
  // Kafka), read by the replica that takes over a host after a failure. Nobody subscribes.
  checkpoints: 'vpmu.checkpoints',
} as const;
export type Topic = (typeof TOPICS)[keyof typeof TOPICS];
export const ALL_TOPICS: readonly Topic[] = Object.values(TOPICS);

export const CONDUCTOR_NODE = 'conductor';
export const AGGREGATOR_NODE = 'aggregator';
export const hostNode = (hostId: string): string => `host/${hostId}`;
export const vmNode = (vmId: string): string => `vm/${vmId}`;

/** The key of a node's checkpoints on vpmu.checkpoints (compaction keeps the latest per key). */
export const checkpointKey = (runId: string, node: string): string => `${runId}|${node}`;
