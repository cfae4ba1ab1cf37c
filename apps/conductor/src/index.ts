export * from './conductor.module';
export * from './conductor.service';
