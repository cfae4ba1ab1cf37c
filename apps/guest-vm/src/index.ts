export * from './guest-vm.module';
export * from './guest-vm.service';
