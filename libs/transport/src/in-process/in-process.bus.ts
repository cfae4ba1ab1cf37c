// In-process message bus: Kafka's delivery shape (every consumer group sees every message of a
// topic, in publish order) without a broker. Delivery is asynchronous and batched through
// setImmediate, so no simulated component is ever sequenced by call-stack or microtask order:
// the counted epoch barrier orders everything.
import { BatchMemo } from '../barrier/batch-memo';
import type { BusMessage, MessageBus } from '../bus/message-bus.port';

type Listener = (message: BusMessage) => Promise<void> | void;

export class InProcessBus implements MessageBus {
  private readonly groups = new Map<string, Map<string, Listener>>(); // topic -> group -> listener
  private queue: BusMessage[] = [];
  private scheduled = false;
  private draining: Promise<void> = Promise.resolve();
  private failure: ((err: unknown) => void) | null = null;
  delivered = 0;
  readonly batchMemo = new BatchMemo();

  /** Registers the consumer `group` on `topic` (one listener per group, as one Kafka member). */
  subscribe(topic: string, group: string, listener: Listener): void {
    let byGroup = this.groups.get(topic);
    if (!byGroup) this.groups.set(topic, (byGroup = new Map()));
    byGroup.set(group, listener);
  }

  unsubscribeGroup(group: string): void {
    for (const byGroup of this.groups.values()) byGroup.delete(group);
  }

  /** Called with any error a listener throws (the run fails with it). */
  onListenerError(handler: (err: unknown) => void): void {
    this.failure = handler;
  }

  publish(message: BusMessage): void {
    this.queue.push(message);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain()); // wall-clock ok: delivery scheduling only; the epoch barrier orders all simulated work
    }
  }

  async flush(): Promise<void> {
    await this.draining;
  }

  private drain(): void {
    this.draining = (async () => {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        for (const m of batch) {
          const byGroup = this.groups.get(m.topic);
          if (!byGroup) continue;
          for (const listener of byGroup.values()) {
            this.delivered++;
            try {
              await listener(m);
            } catch (err) {
              if (this.failure) this.failure(err);
              else throw err;
            }
          }
        }
      }
      this.scheduled = false;
    })();
  }
}
