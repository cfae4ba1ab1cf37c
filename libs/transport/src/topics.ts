// Topic layout (DESIGN.md "Transports"). Keys are node ids so per-node order holds.
export const TOPICS = {
  control: 'vpmu.control', // run start/end, epoch grants (conductor -> everyone)
  inbox: 'vpmu.inbox', // node-to-node: guest output, migration state (keyed by destination)
  events: 'vpmu.events', // simulation output (keyed by source) -> aggregator
  reports: 'vpmu.reports', // epoch reports -> conductor
  deadletter: 'vpmu.deadletter', // undecodable or foreign messages, reason in a header
} as const;
export type Topic = (typeof TOPICS)[keyof typeof TOPICS];
export const ALL_TOPICS: readonly Topic[] = Object.values(TOPICS);

export const CONDUCTOR_NODE = 'conductor';
export const AGGREGATOR_NODE = 'aggregator';
export const hostNode = (hostId: string): string => `host/${hostId}`;
export const vmNode = (vmId: string): string => `vm/${vmId}`;
