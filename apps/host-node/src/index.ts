export * from './host-node.module';
export * from './host-node.service';
