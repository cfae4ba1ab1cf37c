// The Kafka transport: bus, NestJS strategy, topic set-up, the cluster handshake and the
// process bootstrap of the services. Nothing outside this folder imports kafkajs.
export * from './kafka-client.types';
export * from './kafka.errors';
export * from './partitioner';
export * from './ensure-topics';
export * from './kafka.bus';
export * from './kafka.server';
export * from './cluster-member';
export * from './cluster-handshake';
export * from './service-process';
export * from './kafka-run.reader';
export * from './platform-tracing';
export * from './log-catch-up';
export * from './run-supervisor';
