// The port every service sends through. Two adapters implement it: the in-process bus
// (embedded runs) and Kafka (cluster runs). Values are protobuf Buffers end to end.

export interface BusMessage {
  topic: string;
  key: string;
  value: Buffer;
  headers?: Record<string, string>;
}

export interface MessageBus {
  /** Queues a message; delivery is asynchronous. */
  publish(message: BusMessage): void;
  /** Resolves when everything published so far has been handed to the medium. */
  flush(): Promise<void>;
}

export const MESSAGE_BUS = Symbol('MESSAGE_BUS');
