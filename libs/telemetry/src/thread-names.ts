// Host thread names as they appear in `contextSwitch` events. libs/host names a vCPU thread
// `vcpu:<vm>/<index>` and a noise thread `noise:<id>`; "idle" means nothing runs. The viewers
// need to know which host threads are vCPUs, to draw vCPU run slices (run-timeline.fold.ts
// reads them for all three); this is the one place that knows the naming rule.

export interface VcpuRef {
  vm: string;
  vcpu: number;
}

export const IDLE_THREAD = 'idle';

const VCPU_THREAD = /^vcpu:(.+)\/(\d+)$/;

export function formatVcpuThreadName(vm: string, vcpu: number): string {
  return `vcpu:${vm}/${vcpu}`;
}

/** The vCPU a host thread runs, or null for any other thread (noise, kernel, idle). */
export function parseVcpuThreadName(thread: string): VcpuRef | null {
  const m = VCPU_THREAD.exec(thread);
  return m ? { vm: m[1], vcpu: Number(m[2]) } : null;
}

export function vcpuLabel(vm: string, vcpu: number): string {
  return `${vm}/${vcpu}`;
}
