// Checkpoints of a HostWorld: its whole object graph through the snapshot codec. Every model
// class that can live in a host's state is registered here.
import { CostModel } from '@vpmu/kvm';
import { decodeSnapshot, encodeSnapshot, EventQueue, Prng, SnapshotRegistry } from '@vpmu/sim';
import { HostWorld } from './host-world';

export const HOST_WORLD_SNAPSHOT_REGISTRY = new SnapshotRegistry().registerAll([HostWorld, EventQueue, Prng, CostModel]);

export function snapshotHostWorld(world: HostWorld): Uint8Array {
  return encodeSnapshot(world, HOST_WORLD_SNAPSHOT_REGISTRY);
}

export function restoreHostWorld(bytes: Uint8Array): HostWorld {
  const world = decodeSnapshot<unknown>(bytes, HOST_WORLD_SNAPSHOT_REGISTRY);
  if (!(world instanceof HostWorld)) throw new Error('checkpoint does not hold a HostWorld');
  return world;
}
