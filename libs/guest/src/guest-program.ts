// Guest programs (`vms[].program`): a KVM-selftest-style script run by the guest, one step at a
// time, against the guest's PMU as the world exposes it through `GuestPmuPort`. This is how a user
// writes tools/testing/selftests/kvm/x86/pmu_counters_test.c and pmu_event_filter_test.c checks
// (write/read back, #GP beyond N, a denied event does not count) as data: the interpreter only
// sequences steps, records each result and evaluates `expect` against earlier results; what an
// access does (counts, faults, the filter, traps and their cost) is the port's business.
//
// Results (one per step, `ProgramStepEvent`-shaped apart from time and place):
//   { step, op: 'wrmsr 0x186 0x4300c0', result: 'ok' | 'gp' | 'undefined' | errno, value, ok }
// `value` is the read value (rdmsr / rdpmc; 0 otherwise or on a fault). `ok` is the expectation's
// verdict for `expect` steps and true for every other step (a fault is a result, not a failure).
//
//   const prog = new GuestProgram(vm.program, port);
//   for (let r = prog.step(); r; r = prog.step()) emit({ kind: 'programStep', atNs, at, ...r });
//   prog.failedExpectations()  // → summary.json vms.<id>.program
// Pure: no I/O, no clock.

import type { ProgramOp } from '@vpmu/world-spec';

export type GuestFault = 'gp' | 'undefined';
export type PortWriteResult = { ok: true } | { ok: false; fault: GuestFault };
export type PortReadResult = { ok: true; value: number | bigint } | { ok: false; fault: GuestFault };

/** The guest's PMU as a program sees it (the world implements it per backend). */
export interface GuestPmuPort {
  wrmsr(vcpu: number, msr: number, value: number): PortWriteResult;
  rdmsr(vcpu: number, msr: number): PortReadResult;
  rdpmc(vcpu: number, index: number): PortReadResult;
  /** Retire exactly `instructions` instructions, `branches` of them branches, in guest mode. */
  runLoop(vcpu: number, instructions: number, branches: number): void;
  /** arm64 KVM_ARM_VCPU_PMU_V3_SET_PMU: null on success, else the errno ('ENXIO', 'EBUSY', ...). */
  setPmu?(pmu: string): string | null;
  /** arm64 KVM_ARM_VCPU_PMU_V3_SET_NR_COUNTERS: null on success, else the errno. */
  setNrCounters?(n: number): string | null;
}

export type ProgramResultName = 'ok' | GuestFault | string;

export interface ProgramStepResult {
  step: number;
  op: string;
  /** vCPU the step ran on (expect/setPmu/setNrCounters: 0, they are VM-level). */
  vcpu: number;
  result: ProgramResultName;
  value: number;
  ok: boolean;
  /** Why an expectation failed (absent when ok). */
  detail?: string;
}

/** The step's text as reports print it. */
export function formatProgramOp(op: ProgramOp): string {
  const hex = (v: number) => `0x${v.toString(16)}`;
  const on = (vcpu: number) => (vcpu === 0 ? '' : ` (vcpu ${vcpu})`);
  switch (op.op) {
    case 'wrmsr':
      return `wrmsr ${hex(op.msr)} ${hex(op.value)}${on(op.vcpu)}`;
    case 'rdmsr':
      return `rdmsr ${hex(op.msr)}${on(op.vcpu)}`;
    case 'rdpmc':
      return `rdpmc ${hex(op.index)}${on(op.vcpu)}`;
    case 'loop':
      return `loop ${op.instructions} instructions ${op.branches} branches${on(op.vcpu)}`;
    case 'expect': {
      const parts = [`expect step ${op.step}`];
      if (op.equals !== undefined) parts.push(`equals ${hex(op.equals)}`);
      if (op.atLeast !== undefined) parts.push(`atLeast ${op.atLeast}`);
      if (op.atMost !== undefined) parts.push(`atMost ${op.atMost}`);
      if (op.fault !== undefined) parts.push(`fault ${op.fault}`);
      return parts.join(' ');
    }
    case 'setPmu':
      return `setPmu ${op.pmu}`;
    case 'setNrCounters':
      return `setNrCounters ${op.n}`;
    case 'hypercall':
      return `hypercall ${op.call} id ${op.id}${op.count > 1 ? ` x${op.count}` : ''}${on(op.vcpu)}`;
    case 'armRead':
      return `armRead ${op.reg}${op.n !== undefined ? ` ${op.n}` : ''}${on(op.vcpu)}`;
    case 'armWrite':
      return `armWrite ${op.reg}${op.n !== undefined ? ` ${op.n}` : ''} ${hex(op.value)}${on(op.vcpu)}`;
  }
}

export class GuestProgram {
  private readonly done: ProgramStepResult[] = [];

  constructor(
    private readonly ops: readonly ProgramOp[],
    private readonly port: GuestPmuPort,
  ) {}

  get finished(): boolean {
    return this.done.length >= this.ops.length;
  }

  /** Index of the next step to run. */
  get nextStep(): number {
    return this.done.length;
  }

  /** The op the next `step()` runs (the world may charge its time first), or undefined. */
  peek(): ProgramOp | undefined {
    return this.ops[this.done.length];
  }

  /** Runs the next step; null when the program is finished. */
  step(): ProgramStepResult | null {
    const i = this.done.length;
    const op = this.ops[i];
    if (op === undefined) return null;
    const r = this.exec(i, op);
    this.done.push(r);
    return r;
  }

  /** Runs every remaining step. */
  run(): ProgramStepResult[] {
    while (this.step() !== null) {
      // each step recorded in `done`
    }
    return this.results();
  }

  results(): ProgramStepResult[] {
    return [...this.done];
  }

  failedExpectations(): ProgramStepResult[] {
    return this.done.filter((r) => !r.ok);
  }

  private exec(step: number, op: ProgramOp): ProgramStepResult {
    const base = { step, op: formatProgramOp(op) };
    switch (op.op) {
      case 'wrmsr': {
        const w = this.port.wrmsr(op.vcpu, op.msr, op.value);
        return { ...base, vcpu: op.vcpu, result: w.ok ? 'ok' : w.fault, value: 0, ok: true };
      }
      case 'rdmsr':
        return { ...base, vcpu: op.vcpu, ...readResult(this.port.rdmsr(op.vcpu, op.msr)), ok: true };
      case 'rdpmc':
        return { ...base, vcpu: op.vcpu, ...readResult(this.port.rdpmc(op.vcpu, op.index)), ok: true };
      case 'loop':
        this.port.runLoop(op.vcpu, op.instructions, op.branches);
        return { ...base, vcpu: op.vcpu, result: 'ok', value: 0, ok: true };
      case 'setPmu': {
        const errno = this.port.setPmu ? this.port.setPmu(op.pmu) : 'ENXIO';
        return { ...base, vcpu: 0, result: errno ?? 'ok', value: 0, ok: true };
      }
      case 'setNrCounters': {
        const errno = this.port.setNrCounters ? this.port.setNrCounters(op.n) : 'ENXIO';
        return { ...base, vcpu: 0, result: errno ?? 'ok', value: 0, ok: true };
      }
      case 'expect':
        return { ...base, vcpu: 0, ...this.check(op) };
      case 'hypercall':
      case 'armRead':
      case 'armWrite':
        // Served by the host world (paravirt-world.ts, arm-pmu-world.ts), not by this MSR port.
        return { ...base, vcpu: op.vcpu, result: 'undefined', value: 0, ok: true };
    }
  }

  private check(op: Extract<ProgramOp, { op: 'expect' }>): { result: 'ok'; value: number; ok: boolean; detail?: string } {
    const t = op.step >= 0 && op.step < this.done.length ? this.done[op.step] : undefined;
    if (!t) return { result: 'ok', value: 0, ok: false, detail: `step ${op.step} has not run` };
    const problems: string[] = [];
    if (op.fault !== undefined) {
      const want = op.fault === 'none' ? 'ok' : op.fault;
      if (t.result !== want) problems.push(`expected ${op.fault === 'none' ? 'no fault' : op.fault}, got ${t.result}`);
    }
    const checksValue = op.equals !== undefined || op.atLeast !== undefined || op.atMost !== undefined;
    if (checksValue && t.result !== 'ok') problems.push(`step ${op.step} has no value (${t.result})`);
    else {
      if (op.equals !== undefined && t.value !== op.equals) problems.push(`expected 0x${op.equals.toString(16)}, got 0x${t.value.toString(16)}`);
      if (op.atLeast !== undefined && t.value < op.atLeast) problems.push(`expected at least ${op.atLeast}, got ${t.value}`);
      if (op.atMost !== undefined && t.value > op.atMost) problems.push(`expected at most ${op.atMost}, got ${t.value}`);
    }
    return problems.length === 0 ? { result: 'ok', value: t.value, ok: true } : { result: 'ok', value: t.value, ok: false, detail: problems.join('; ') };
  }
}

function readResult(r: PortReadResult): { result: ProgramResultName; value: number } {
  return r.ok ? { result: 'ok', value: Number(r.value) } : { result: r.fault, value: 0 };
}
