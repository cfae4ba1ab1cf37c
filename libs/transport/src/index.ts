// libs/transport: how the services talk, the one public entry of the lib. By folder:
//   bus/         the MessageBus port, the topic layout and node ids, dead letters
//   barrier/     the counted epoch barrier: a node's endpoint and the participants a service steps
//   control/     what RunStart and EpochGrant carry: run context, node assignments, timeline actions
//   in-process/  the embedded transport: in-process bus and its NestJS strategy
//   nest/        NestJS glue shared by both transports (exception filter)
//   kafka/       the Kafka transport; nothing outside it imports kafkajs:
//     client/       kafkajs facade, operating errors, partitioner, topic set-up
//     messaging/    KafkaBus (producer), the NestJS strategy (consumers), platform tracing
//     supervision/  cluster handshake, cluster member, failover supervisor, log catch-up
//     run-reading/  reading a whole run back from the topics (replay --kafka)
//     process/      one service as its own OS process
export * from './bus/topics';
export * from './bus/message-bus.port';
export * from './bus/dead-letter';
export * from './barrier/node-endpoint';
export * from './barrier/epoch-participants';
export * from './barrier/batch-check';
export * from './barrier/batch-memo';
export * from './control/timeline.codec';
export * from './control/assignments';
export * from './in-process/in-process.bus';
export * from './in-process/in-process.server';
export * from './nest/rethrow.filter';
export * from './kafka/client/kafka-client.types';
export * from './kafka/client/kafka.errors';
export * from './kafka/client/partitioner';
export * from './kafka/client/ensure-topics';
export * from './kafka/messaging/kafka.bus';
export * from './kafka/messaging/kafka.server';
export * from './kafka/messaging/platform-tracing';
export * from './kafka/supervision/cluster-handshake';
export * from './kafka/supervision/cluster-member';
export * from './kafka/supervision/run-supervisor';
export * from './kafka/supervision/log-catch-up';
export * from './kafka/run-reading/kafka-run.reader';
export * from './kafka/process/service-process';
