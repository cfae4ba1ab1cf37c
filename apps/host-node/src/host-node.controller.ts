import { Controller, Inject } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import type { BaseRpcContext } from '@nestjs/microservices/ctx-host/base-rpc.context';
import { DeadLetterCounter, decodeDelivery, MESSAGE_BUS, TOPICS, type MessageBus } from '@vpmu/transport';
import { HostNodeService } from './host-node.service';

@Controller()
export class HostNodeController {
  readonly deadLetters = new DeadLetterCounter();

  constructor(
    private readonly hostNode: HostNodeService,
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
  ) {}

  @EventPattern(TOPICS.control)
  onControl(@Payload() data: Buffer, @Ctx() ctx: BaseRpcContext): void | Promise<void> {
    const env = decodeDelivery(this.bus, TOPICS.control, data, ctx, this.deadLetters, null);
    if (!env) return;
    if (env.runStart) return this.hostNode.onRunStart(env.runStart);
    if (env.runId !== this.hostNode.runId) return;
    if (env.grant) return this.hostNode.onGrant(env.grant);
    if (env.runEnd) return this.hostNode.onRunEnd();
  }

  @EventPattern(TOPICS.inbox)
  onInbox(@Payload() data: Buffer, @Ctx() ctx: BaseRpcContext): void | Promise<void> {
    const env = decodeDelivery(this.bus, TOPICS.inbox, data, ctx, this.deadLetters, this.hostNode.runId);
    if (env && this.hostNode.owns(env.destination)) return this.hostNode.onInbox(env);
  }
}
