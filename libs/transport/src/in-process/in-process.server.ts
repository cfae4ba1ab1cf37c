// NestJS custom transport strategy over the in-process bus. The same @EventPattern(topic)
// handlers run on the Kafka strategy in cluster mode; handlers receive the raw protobuf Buffer.
import { CustomTransportStrategy, Server } from '@nestjs/microservices';
import { BaseRpcContext } from '@nestjs/microservices/ctx-host/base-rpc.context';
import type { InProcessBus } from './in-process.bus';

export class InProcessTransportServer extends Server implements CustomTransportStrategy {
  constructor(
    private readonly bus: InProcessBus,
    private readonly group: string,
  ) {
    super();
  }

  listen(callback: () => void): void {
    for (const pattern of [...this.messageHandlers.keys()].sort()) {
      // Resolved once here, not per message: the patterns are plain topic names, and Nest's
      // lookup first tries JSON.parse on each, whose thrown SyntaxError costs more than the
      // delivery itself on a hot topic.
      const handler = this.getHandlerByPattern(pattern);
      if (!handler) continue;
      this.bus.subscribe(pattern, this.group, async (m) => {
        const result = await handler(m.value, new BaseRpcContext([m.topic, m.key, m.headers ?? {}]));
        // Handlers may return observables or promises; resolve either before the next message.
        if (result && typeof (result as { subscribe?: unknown }).subscribe === 'function') {
          await new Promise<void>((resolve, reject) =>
            (result as { subscribe: (o: object) => void }).subscribe({ complete: resolve, error: reject }),
          );
        }
      });
    }
    callback();
  }

  close(): void {
    this.bus.unsubscribeGroup(this.group);
  }

  on(): never {
    throw new Error('InProcessTransportServer has no status events');
  }

  unwrap<T>(): T {
    return this.bus as unknown as T;
  }
}
