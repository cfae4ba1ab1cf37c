import { DynamicModule, Module } from '@nestjs/common';
import { MESSAGE_BUS, type MessageBus } from '@vpmu/transport';
import { AggregatorController } from './aggregator.controller';
import { AGGREGATOR_CONFIG, AggregatorService, type AggregatorConfig } from './aggregator.service';

@Module({})
export class AggregatorModule {
  static register(bus: MessageBus, config: AggregatorConfig): DynamicModule {
    return {
      module: AggregatorModule,
      controllers: [AggregatorController],
      providers: [{ provide: MESSAGE_BUS, useValue: bus }, { provide: AGGREGATOR_CONFIG, useValue: config }, AggregatorService],
      exports: [AggregatorService],
    };
  }
}
