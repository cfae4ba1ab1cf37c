// `node dist/apps/host-node/main.js --kafka BROKERS [--group G] [--partitions N] [--hosts h1,h2]`
// One host-node replica on Kafka. Without --hosts it joins the consumer group `<group>.host-node`
// on vpmu.inbox and simulates the hosts whose partitions it is assigned (the conductor names them
// in RunStart); with --hosts it owns exactly those. Environment: KAFKA_BROKERS, VPMU_GROUP,
// VPMU_PARTITIONS, VPMU_HOSTS, VPMU_REPLICA. See docs/cluster.md.
import 'reflect-metadata';
import { startService } from '@vpmu/transport';
import { HostNodeModule } from './host-node.module';
import { HostNodeService } from './host-node.service';

export function start(): Promise<void> {
  return startService({
    service: 'host-node',
    module: (bus, config) => HostNodeModule.register(bus, { hosts: config.ids, replica: config.replica, publishCheckpoints: true }),
    adoption: (app) => app.get(HostNodeService),
  });
}

if (require.main === module) void start();
