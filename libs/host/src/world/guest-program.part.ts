// Guest programs (`vms[].program`): a scripted sequence of guest PMU operations run when the VM
// starts, before its workload, each on one vCPU: WRMSR / RDMSR / RDPMC through the vPMU backend,
// a loop of known instructions and branches, paravirt hypercalls, arm64 PMU device attributes and
// registers, and `expect` steps checking an earlier step's outcome. Each step is recorded. The
// program runs before the workload, so the exits its accesses take are recorded (vmExit events,
// counted in the exit tables) but not charged as guest time.
import type { ProgramOp } from '@vpmu/world-spec';
import type { WorldCore } from './world-core';
import type { VmRuntime } from './world-state';

type StepResult = 'ok' | 'gp' | 'undefined';
type StepOutcome = { result: StepResult; value: number; errno?: string; vcpu: number };

export class GuestProgramPart {
  constructor(private readonly w: WorldCore) {}

  run(vm: VmRuntime): void {
    const w = this.w;
    const results: { result: StepResult; value: number; errno?: string }[] = [];
    vm.spec.program.forEach((op, step) => {
      let result: StepResult = 'ok';
      let value = 0;
      let ok = true;
      let vcpuIndex = 0;
      let errno: string | undefined;
      if (op.op === 'expect') {
        const ref = results[op.step];
        if (!ref) ok = false;
        else {
          if (op.fault !== undefined) ok &&= (op.fault === 'none' ? 'ok' : op.fault) === ref.result;
          if (op.equals !== undefined) ok &&= ref.result === 'ok' && ref.value === op.equals;
          if (op.atLeast !== undefined) ok &&= ref.result === 'ok' && ref.value >= op.atLeast;
          if (op.atMost !== undefined) ok &&= ref.result === 'ok' && ref.value <= op.atMost;
          if (op.errno !== undefined) ok &&= ref.errno === op.errno;
          else if (ref.errno !== undefined && (op.equals !== undefined || op.fault === 'none')) ok = false;
          value = ref.value;
        }
      } else if (op.op === 'hypercall' || op.op === 'armRead' || op.op === 'armWrite' || op.op === 'setPmu' || op.op === 'setNrCounters' || (op.op === 'loop' && w.armWorld?.has(vm.spec.id))) {
        const r = this.extensionStep(vm, op);
        ({ result, value, errno } = r);
        vcpuIndex = r.vcpu;
      } else if (op.op === 'wrmsr' || op.op === 'rdmsr' || op.op === 'rdpmc' || op.op === 'loop') {
        vcpuIndex = op.vcpu;
        const r = this.vpmuStep(vm, op);
        result = r.result;
        value = r.value;
      }
      results[step] = { result, value, ...(errno !== undefined && { errno }) };
      w.emit({ kind: 'programStep', atNs: w.nowNs, at: { host: w.id, vm: vm.spec.id, vcpu: vcpuIndex }, step, op: op.op, result, value, ok, ...(errno !== undefined && { errno }) });
    });
  }

  /** A PMU access or a loop through the vCPU's x86 vPMU backend, watched by the fidelity monitors. */
  private vpmuStep(vm: VmRuntime, op: Extract<ProgramOp, { op: 'wrmsr' | 'rdmsr' | 'rdpmc' | 'loop' }>): { result: StepResult; value: number } {
    const w = this.w;
    const t = w.threads.get(vm.threads[op.vcpu]);
    const v = t?.vcpu;
    const vpmu = v?.vpmu;
    if (!t || !v || !vpmu) return { result: 'undefined', value: 0 };
    const port = w.portOf(t);
    let result: StepResult = 'ok';
    let value = 0;
    vpmu.traps = [];
    if (op.op === 'wrmsr') {
      if (v.fidelity) w.fidelity.beforeGuestWrite(v, port, op.msr);
      const r = vpmu.guestAccess().wrmsr(port, op.msr, BigInt(op.value));
      if (r.ok && v.fidelity) w.fidelity.afterGuestWrite(v, port, op.msr, BigInt(op.value));
      result = r.ok ? 'ok' : r.fault;
      value = op.value;
    } else if (op.op === 'rdmsr' || op.op === 'rdpmc') {
      const r = op.op === 'rdmsr' ? vpmu.guestAccess().rdmsr(port, op.msr) : vpmu.guestAccess().rdpmc(port, op.index);
      if (r.ok && v.fidelity) {
        if (op.op === 'rdmsr') w.fidelity.onGuestRdmsr(v, port, op.msr, r.value);
        else w.fidelity.onGuestRdpmc(v, port, op.index, r.value);
      }
      result = r.ok ? 'ok' : r.fault;
      value = r.ok ? Number(r.value) : 0;
    } else {
      vpmu.programLoop(port, op.instructions, op.branches);
      // A paravirt guest's open host events (per-task on this vCPU thread) count the loop too.
      if (vm.spec.vpmu.mode === 'paravirt') w.pv.table(vm.spec.id)?.programLoop(port, op.instructions, op.branches);
      if (v.fidelity) w.fidelity.onGuestLoop(v, op.instructions, op.branches);
      value = op.instructions;
    }
    // The access itself retired one instruction (not when it faulted): credited by KVM when it
    // exited, counted by the hardware when it did not (VcpuVpmu.programAccessRetired). A credit
    // that wraps a counter asking for an interrupt is a PMI at the next VM-Enter.
    if (op.op !== 'loop' && result === 'ok') {
      if (vpmu.programAccessRetired(port, vpmu.traps.length > 0)) v.pendingPmis.push(w.nowNs);
      if (v.fidelity) w.fidelity.onGuestInstructionRetired(v);
    }
    // Its exits are recorded (the exit tables count them) but not charged: the program runs
    // before the workload, so they are not guest time.
    for (const tr of vpmu.traps) w.emit({ kind: 'vmExit', atNs: w.nowNs, at: w.placeOf(t), reason: tr.reason, costNs: tr.costNs, msr: tr.msr });
    vpmu.traps = [];
    return { result, value };
  }

  /** Steps served by the paravirt and arm64 parts (ENXIO for device attributes on a non-arm64 host). */
  private extensionStep(vm: VmRuntime, op: ProgramOp): StepOutcome {
    const w = this.w;
    if (op.op === 'hypercall') return w.paravirt.programStep(vm, op);
    if (w.arm) return w.arm.programStep(vm, op);
    return { result: 'undefined', value: 0, vcpu: 'vcpu' in op ? op.vcpu : 0, ...((op.op === 'setPmu' || op.op === 'setNrCounters') && { errno: 'ENXIO' }) };
  }
}
