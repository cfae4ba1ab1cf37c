// The classes a HostWorld's composition puts in its state: the shared core, every part and the
// per-vCPU ports. The host checkpoint registry (host-world.snapshot.ts) registers them.
import { WorldCore } from './world-core';
import { SchedulerPart } from './scheduler.part';
import { VcpuExecPart } from './vcpu-exec.part';
import { PmiDeliveryPart } from './pmi-delivery.part';
import { HostPerfPart } from './host-perf.part';
import { GuestPerfPart } from './guest-perf.part';
import { ObservationPart } from './observation.part';
import { MigrationPart } from './migration.part';
import { GuestProgramPart } from './guest-program.part';
import { ParavirtPart } from './paravirt.part';
import { LbrPart } from './lbr.part';
import { ArmPmuPart } from './arm-pmu.part';
import { VcpuPort } from './vcpu-port';

export const WORLD_PART_CLASSES = [WorldCore, SchedulerPart, VcpuExecPart, PmiDeliveryPart, HostPerfPart, GuestPerfPart, ObservationPart, MigrationPart, GuestProgramPart, ParavirtPart, LbrPart, ArmPmuPart, VcpuPort];
