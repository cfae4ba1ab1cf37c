// libs/transport: the message bus port, the in-process and Kafka transport strategies, the
// topic layout and the counted epoch barrier endpoint.
export * from './topics';
export * from './message-bus.port';
export * from './in-process.bus';
export * from './in-process.server';
export * from './node-endpoint';
export * from './dead-letter';
export * from './timeline.codec';
export * from './epoch-participants';
export * from './assignments';
export * from './kafka';
export * from './rethrow.filter';
