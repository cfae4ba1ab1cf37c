// libs/engine: the one epoch driver of the host models. The run's epoch schedule (windows, due
// timeline actions, checkpoint cadence), the canonical order of hand-offs between hosts, the
// step of one host through one epoch (what a host node runs per granted epoch) and the lock-step
// driver of every host in one process (inspect, overhead). Pure: message moving, encoding and
// I/O stay with the apps that call it.
export * from './epoch-schedule';
export * from './inbound-transfers';
export * from './host-step';
export * from './lock-step.driver';
