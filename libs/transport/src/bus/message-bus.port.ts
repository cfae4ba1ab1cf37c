// The port every service sends through. Two adapters implement it: the in-process bus
// (embedded runs) and Kafka (cluster runs). Values are protobuf Buffers end to end.
import type { BatchMemo } from '../barrier/batch-memo';

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
  /**
   * Only on a bus whose senders and receivers share one process: where a sender leaves the
   * events of the batches it sends the aggregator, so they need no decoding (batch-memo.ts).
   */
  readonly batchMemo?: BatchMemo;
}

export const MESSAGE_BUS = Symbol('MESSAGE_BUS');
