// `node dist/apps/guest-vm/main.js --kafka BROKERS [--group G] [--partitions N] [--vms a,b]`
// One guest-vm replica on Kafka: like host-node, it owns the VMs whose vpmu.inbox partitions its
// consumer group assigns it (or exactly --vms). See docs/cluster.md.
import 'reflect-metadata';
import { startService } from '@vpmu/transport';
import { GuestVmModule } from './guest-vm.module';
import { GuestVmService } from './guest-vm.service';

export function start(): Promise<void> {
  return startService({
    service: 'guest-vm',
    module: (bus, config) => GuestVmModule.register(bus, { vms: config.ids, replica: config.replica }),
    adoption: (app) => app.get(GuestVmService),
  });
}

if (require.main === module) void start();
