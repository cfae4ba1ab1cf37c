import { DynamicModule, Module } from '@nestjs/common';
import { MESSAGE_BUS, type MessageBus } from '@vpmu/transport';
import { GuestVmController } from './guest-vm.controller';
import { GUEST_VM_CONFIG, GuestVmService, type GuestVmConfig } from './guest-vm.service';

@Module({})
export class GuestVmModule {
  static register(bus: MessageBus, config: GuestVmConfig): DynamicModule {
    return {
      module: GuestVmModule,
      controllers: [GuestVmController],
      providers: [{ provide: MESSAGE_BUS, useValue: bus }, { provide: GUEST_VM_CONFIG, useValue: config }, GuestVmService],
      exports: [GuestVmService],
    };
  }
}
