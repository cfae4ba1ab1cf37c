import { Controller, Inject } from '@nestjs/common';
import { EventPattern, Payload, Ctx } from '@nestjs/microservices';
import type { BaseRpcContext } from '@nestjs/microservices/ctx-host/base-rpc.context';
import { DeadLetterCounter, decodeDelivery, MESSAGE_BUS, TOPICS, type MessageBus } from '@vpmu/transport';
import { ConductorService } from './conductor.service';

@Controller()
export class ConductorController {
  readonly deadLetters = new DeadLetterCounter();

  constructor(
    private readonly conductor: ConductorService,
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
  ) {}

  @EventPattern(TOPICS.reports)
  onReport(@Payload() data: Buffer, @Ctx() ctx: BaseRpcContext): void {
    const env = decodeDelivery(this.bus, TOPICS.reports, data, ctx, this.deadLetters, null);
    if (env) this.conductor.onReport(env);
  }
}
