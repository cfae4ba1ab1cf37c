// The arm64 PMU device on one simulated big.LITTLE host (arm-pmu-world.ts holds one device per
// VM; docs/arm64-pmu.md): KVM_RUN fails entry on a pCPU outside the VM's SET_PMU PMU (the VMM
// stops the vCPU), guest time on an uncovered pCPU counts nothing, and the device's attributes
// and registers are reached by timeline actions and guest program steps.
import type { ProgramOp } from '@vpmu/world-spec';
import type { ArmPmuWorld } from '../arm-pmu-world';
import type { WorldCore } from './world-core';
import type { Thread, VmRuntime } from './world-state';

export class ArmPmuPart {
  constructor(
    private readonly w: WorldCore,
    private readonly arm: ArmPmuWorld,
  ) {}

  /** arm64 KVM_RUN: on a pCPU outside a SET_PMU PMU entry fails; the VMM stops the vCPU. */
  entryFails(t: Thread): boolean {
    const w = this.w;
    const v = t.vcpu!;
    const msg = this.arm.enter(v.vm, v.index, t.cpu);
    if (msg === null) return false;
    w.finding(w.placeOf(t), 'arm-entry-failed', msg);
    v.state = 'failed';
    v.timerGen++;
    w.sched.blockCurrent(t.cpu);
    return true;
  }

  /** Guest-mode time [startNs, now) of the vCPU on its pCPU: counted or lost. */
  guestRan(t: Thread, startNs: number): void {
    const v = t.vcpu!;
    for (const f of this.arm.guestRan(v.vm, v.index, t.cpu, startNs, this.w.nowNs)) this.w.emit(f);
  }

  /** Timeline `setPmu` for a VM of this host. */
  setPmu(vm: string, pmu: string): void {
    this.w.emit(this.arm.timelineSetPmu(vm, pmu, this.w.nowNs));
  }

  programStep(vm: VmRuntime, op: ProgramOp): { result: 'ok' | 'gp' | 'undefined'; value: number; errno?: string; vcpu: number } {
    return this.arm.programStep(vm.spec.id, op, (vcpu) => this.w.threads.get(vm.threads[vcpu])?.cpu ?? 0);
  }

  /** End of the run: the open wrong-core stretches close. */
  reportFinal(): void {
    for (const e of this.arm.flush(this.w.nowNs)) this.w.emit(e);
  }
}
