// A run that is valid but large: warn with its projected size before anything is simulated, so
// a typo such as `duration: 100s` with `epoch: 1us` is seen at `vpmu validate` (and at the start
// of `vpmu run`) rather than after gigabytes of recording.

import { formatDurationNs, type HostSpec, type VmSpec } from '@vpmu/world-spec';

import { LARGE_RUN_EPOCHS, LARGE_RUN_SAMPLES, RECORDED_BYTES_PER_EPOCH } from './scenario.limits';
import { ScenarioBuildContext } from './scenario-build.context';

export interface RunShape {
  durationNs: number;
  epochNs: number;
  sampleIntervalNs: number;
  hosts: readonly HostSpec[];
  vms: readonly VmSpec[];
}

export function checkRunSize(ctx: ScenarioBuildContext, run: RunShape): void {
  const epochs = Math.ceil(run.durationNs / run.epochNs);
  if (epochs > LARGE_RUN_EPOCHS) {
    ctx.diag.warn(
      '',
      `a large run: about ${count(epochs)} epochs (duration ${formatDurationNs(run.durationNs)} / epoch ${formatDurationNs(run.epochNs)}); ` +
        `the recording grows by at least ${RECORDED_BYTES_PER_EPOCH} bytes an epoch, so expect more than ${bytes(epochs * RECORDED_BYTES_PER_EPOCH)} (raise epoch or shorten duration if that is not intended)`,
    );
  }
  const vcpus = run.vms.reduce((n, vm) => n + vm.vcpus, 0);
  const samples = Math.floor(run.durationNs / run.sampleIntervalNs) * vcpus;
  if (samples > LARGE_RUN_SAMPLES) {
    ctx.diag.warn(
      '',
      `a large run: about ${count(samples)} counter samples (duration / sampleInterval ${formatDurationNs(run.sampleIntervalNs)} x ${vcpus} vCPUs); raise sampleInterval if that is not intended`,
    );
  }
}

function count(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toPrecision(3)} billion` : n >= 1e6 ? `${(n / 1e6).toPrecision(3)} million` : n.toLocaleString('en-US');
}

function bytes(n: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toPrecision(3)} ${units[i]}`;
}
