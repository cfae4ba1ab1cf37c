export * from './aggregator.module';
export * from './aggregator.service';
