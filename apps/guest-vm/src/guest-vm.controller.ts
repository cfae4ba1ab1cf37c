import { Controller, Inject } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import type { BaseRpcContext } from '@nestjs/microservices/ctx-host/base-rpc.context';
import { DeadLetterCounter, decodeDelivery, MESSAGE_BUS, TOPICS, type MessageBus } from '@vpmu/transport';
import { GuestVmService } from './guest-vm.service';

@Controller()
export class GuestVmController {
  readonly deadLetters = new DeadLetterCounter();

  constructor(
    private readonly guestVm: GuestVmService,
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
  ) {}

  @EventPattern(TOPICS.control)
  onControl(@Payload() data: Buffer, @Ctx() ctx: BaseRpcContext): void {
    const env = decodeDelivery(this.bus, TOPICS.control, data, ctx, this.deadLetters, null);
    if (!env) return;
    if (env.runStart) return this.guestVm.onRunStart(env.runStart);
    if (env.runId !== this.guestVm.runId) return;
    if (env.grant) return this.guestVm.onGrant(env.grant);
    if (env.runEnd) return this.guestVm.onRunEnd();
  }

  @EventPattern(TOPICS.inbox)
  onInbox(@Payload() data: Buffer, @Ctx() ctx: BaseRpcContext): void {
    const env = decodeDelivery(this.bus, TOPICS.inbox, data, ctx, this.deadLetters, this.guestVm.runId);
    if (env && this.guestVm.owns(env.destination)) this.guestVm.onInbox(env);
  }
}
