import { DynamicModule, Module } from '@nestjs/common';
import { MESSAGE_BUS, type MessageBus } from '@vpmu/transport';
import { HostNodeController } from './host-node.controller';
import { HOST_NODE_CONFIG, HostNodeService, type HostNodeConfig } from './host-node.service';

@Module({})
export class HostNodeModule {
  static register(bus: MessageBus, config: HostNodeConfig): DynamicModule {
    return {
      module: HostNodeModule,
      controllers: [HostNodeController],
      providers: [{ provide: MESSAGE_BUS, useValue: bus }, { provide: HOST_NODE_CONFIG, useValue: config }, HostNodeService],
      exports: [HostNodeService],
    };
  }
}
