// What every part of one simulated host shares: the host's identity and configuration, the
// simulated clock, the one event queue (each part pushes and handles its own items), the threads
// and VMs placed here, the event buffer of the current epoch, and the parts themselves, wired
// once by the composition root (host-world.ts). Pure and deterministic: maps iterate in insertion
// order, which is placement order.
import type { HostSpec, Scenario, TimelineEntry } from '@vpmu/world-spec';
import { EventQueue, type Prng, type SimEvent } from '@vpmu/sim';
import type { CostModel } from '@vpmu/kvm';
import type { GuestFidelity } from '../guest-fidelity';
import type { ArmPmuWorld } from '../arm-pmu-world';
import type { LbrWorld } from '../lbr-world';
import type { ParavirtWorld } from '../paravirt-world';
import type { Place, Thread, VmRuntime } from './world-state';
import type { SchedulerItem, SchedulerPart } from './scheduler.part';
import type { VcpuExecItem, VcpuExecPart } from './vcpu-exec.part';
import type { PmiDeliveryItem, PmiDeliveryPart } from './pmi-delivery.part';
import type { HostPerfItem, HostPerfPart } from './host-perf.part';
import type { GuestPerfItem, GuestPerfPart } from './guest-perf.part';
import type { MigrationItem, MigrationPart } from './migration.part';
import type { LbrItem, LbrPart } from './lbr.part';
import type { ParavirtPart } from './paravirt.part';
import type { ArmPmuPart } from './arm-pmu.part';
import type { GuestProgramPart } from './guest-program.part';
import { VcpuPort } from './vcpu-port';
import type { ObservationItem, ObservationPart } from './observation.part';

/** A timeline entry due now: the composition root hands it to the parts it concerns. */
export interface ActionItem {
  p: 'action';
  entry: TimelineEntry;
}

/** Every queue item, tagged with the part that handles it. */
export type WorldItem = ActionItem | SchedulerItem | VcpuExecItem | PmiDeliveryItem | HostPerfItem | GuestPerfItem | ObservationItem | MigrationItem | LbrItem;

export class WorldCore {
  readonly queue = new EventQueue<WorldItem>();
  readonly threads = new Map<string, Thread>();
  readonly vms = new Map<string, VmRuntime>();
  /** The one port of each vCPU thread here (created when the vCPU is placed or arrives). */
  readonly ports = new Map<string, VcpuPort>();
  nowNs = 0;
  events: SimEvent[] = [];

  // The parts, wired once by HostWorld's constructor.
  sched!: SchedulerPart;
  exec!: VcpuExecPart;
  pmi!: PmiDeliveryPart;
  perf!: HostPerfPart;
  guestPerf!: GuestPerfPart;
  observe!: ObservationPart;
  migration!: MigrationPart;
  program!: GuestProgramPart;
  paravirt!: ParavirtPart;
  /** Guest LBR glue; null when nothing on this host uses the LBR. */
  lbr!: LbrPart | null;
  /** arm64 PMU device glue; null on x86 hosts. */
  arm!: ArmPmuPart | null;
  /** The models the extension parts drive (kept here: checkpoints and migration read them). */
  pv!: ParavirtWorld;
  lbrWorld!: LbrWorld | null;
  armWorld!: ArmPmuWorld | null;

  constructor(
    readonly id: string,
    readonly spec: HostSpec,
    readonly scenario: Scenario,
    readonly costs: CostModel,
    readonly prng: Prng,
    /** vPMU fidelity faults and the fidelity / isolation monitors (guest-fidelity.ts). */
    readonly fidelity: GuestFidelity,
  ) {}

  emit(e: SimEvent): void {
    this.events.push(e);
  }

  placeOf(t: Thread): Place {
    const v = t.vcpu!;
    return { host: this.id, pcpu: t.cpu, vm: v.vm, vcpu: v.index };
  }

  /** Creates the one port of a vCPU thread placed on (or arriving at) this host. */
  attachPort(t: Thread): void {
    this.ports.set(t.id, new VcpuPort(this, t));
  }

  portOf(t: Thread): VcpuPort {
    return this.ports.get(t.id)!;
  }

  finding(at: SimEvent['at'], findingKind: string, detail: string): void {
    this.emit({ kind: 'finding', atNs: this.nowNs, at, findingKind, detail });
  }
}
