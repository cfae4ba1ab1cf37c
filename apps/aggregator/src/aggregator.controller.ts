import { Controller, Inject } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import type { BaseRpcContext } from '@nestjs/microservices/ctx-host/base-rpc.context';
import { DeadLetterCounter, decodeDelivery, MESSAGE_BUS, TOPICS, type MessageBus } from '@vpmu/transport';
import { AggregatorService } from './aggregator.service';

@Controller()
export class AggregatorController {
  readonly deadLetters = new DeadLetterCounter();

  constructor(
    private readonly aggregator: AggregatorService,
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
  ) {}

  @EventPattern(TOPICS.control)
  async onControl(@Payload() data: Buffer, @Ctx() ctx: BaseRpcContext): Promise<void> {
    const env = decodeDelivery(this.bus, TOPICS.control, data, ctx, this.deadLetters, null);
    if (!env) return;
    if (env.runStart) return this.aggregator.onRunStart(env.runStart);
    if (env.runId !== this.aggregator.runId) return;
    if (env.grant) return this.aggregator.onGrant(env.grant);
    if (env.runEnd) return this.aggregator.onRunEnd(env.runEnd);
  }

  @EventPattern(TOPICS.events)
  onEvents(@Payload() data: Buffer, @Ctx() ctx: BaseRpcContext): void {
    const env = decodeDelivery(this.bus, TOPICS.events, data, ctx, this.deadLetters, this.aggregator.runId);
    if (env) this.aggregator.onEvents(env);
  }

  /** Everything dead-lettered by any service lands here and is counted in the summary. */
  @EventPattern(TOPICS.deadletter)
  onDeadLetter(): void {
    this.aggregator.deadLetters++;
  }
}
