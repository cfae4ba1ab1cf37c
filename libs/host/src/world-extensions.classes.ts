// Model classes the world helpers (paravirt perf, guest LBR, arm64 PMU device) add to a
// host's state: registered in the host checkpoint registry (host-world.snapshot.ts) and, for
// what travels with a migrating VM, in HostWorld's VM snapshot registry. Kept apart from
// host-world.ts so the helpers can grow without touching the registries' lines again.
import { GuestPvPerfVcpu } from '@vpmu/guest';
import { ArmPmuDevice, GuestLbr, PvPerfTable } from '@vpmu/kvm';
import { ArmPmu, LbrStack } from '@vpmu/pmu';
import { ArmPmuWorld } from './arm-pmu-world';
import { LbrWorld } from './lbr-world';
import { ParavirtWorld } from './paravirt-world';

/** Classes inside a VM's own state (VcpuRuntime / VmRuntime): they migrate with it. */
export const EXT_VM_SNAPSHOT_CLASSES = [GuestPvPerfVcpu];

/** Every class the helpers put anywhere in a HostWorld. */
export const EXT_HOST_SNAPSHOT_CLASSES = [...EXT_VM_SNAPSHOT_CLASSES, ParavirtWorld, PvPerfTable, LbrWorld, LbrStack, GuestLbr, ArmPmuWorld, ArmPmuDevice, ArmPmu];
