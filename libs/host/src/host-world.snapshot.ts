// Checkpoints of a HostWorld: its whole object graph through the snapshot codec. Every model
// class that can live in a host's state is registered here.
import { CostModel, EmulatedPmiHook, EmulatedVpmu, KvmEventFilter, MediatedVpmu, NoneVpmu, PassthroughVpmu } from '@vpmu/kvm';
import { GuestPerfVcpu, GuestPmuContext } from '@vpmu/guest';
import { ArmPmu, CounterBank, EventRates, IntelPmu } from '@vpmu/pmu';
import { PerfCore, PerfCpuContext, PerfEvent, PerfEventContext } from '@vpmu/perf';
import { decodeSnapshot, encodeSnapshot, EventQueue, Prng, SnapshotRegistry } from '@vpmu/sim';
import { HostWorld } from './host-world';
import { WORLD_PART_CLASSES } from './world/world-parts.classes';
import { EXT_HOST_SNAPSHOT_CLASSES } from './world-extensions.classes';
import { FIDELITY_HOST_SNAPSHOT_CLASSES } from './guest-fidelity';

export const HOST_WORLD_SNAPSHOT_REGISTRY = new SnapshotRegistry().registerAll([
  HostWorld,
  ...WORLD_PART_CLASSES,
  EventQueue,
  Prng,
  CostModel,
  PerfCore,
  PerfCpuContext,
  PerfEvent,
  PerfEventContext,
  IntelPmu,
  ArmPmu,
  CounterBank,
  EventRates,
  NoneVpmu,
  PassthroughVpmu,
  MediatedVpmu,
  EmulatedVpmu,
  EmulatedPmiHook,
  KvmEventFilter,
  GuestPerfVcpu,
  GuestPmuContext,
  ...EXT_HOST_SNAPSHOT_CLASSES,
  ...FIDELITY_HOST_SNAPSHOT_CLASSES,
]);

export function snapshotHostWorld(world: HostWorld): Uint8Array {
  return encodeSnapshot(world, HOST_WORLD_SNAPSHOT_REGISTRY);
}

export function restoreHostWorld(bytes: Uint8Array): HostWorld {
  const world = decodeSnapshot<unknown>(bytes, HOST_WORLD_SNAPSHOT_REGISTRY);
  if (!(world instanceof HostWorld)) throw new Error('checkpoint does not hold a HostWorld');
  return world;
}
