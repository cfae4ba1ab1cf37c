export * from './aggregator.module';
export * from './aggregator.service';
export * from './output-write.error';
