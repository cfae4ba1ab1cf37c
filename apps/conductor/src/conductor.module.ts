import { DynamicModule, Module } from '@nestjs/common';
import { MESSAGE_BUS, type MessageBus } from '@vpmu/transport';
import { ConductorController } from './conductor.controller';
import { ConductorService } from './conductor.service';

@Module({})
export class ConductorModule {
  static register(bus: MessageBus): DynamicModule {
    return {
      module: ConductorModule,
      controllers: [ConductorController],
      providers: [{ provide: MESSAGE_BUS, useValue: bus }, ConductorService],
      exports: [ConductorService],
    };
  }
}
