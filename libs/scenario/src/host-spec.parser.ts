// `hosts[]` of a scenario: CPU preset and pCPUs, PMU overrides, the vPMU modes a host offers,
// its scheduler, the arm64 PMU probe order, and the host-side load (perf sessions, noise threads).

import { CPU_PRESET_NAMES } from '@vpmu/pmu';
import { formatDurationNs, hostKvm, KERNEL_GENERATIONS, VPMU_MODES, type HostNoiseThread, type KernelGeneration, type KvmModuleParams, type HostPerfSession, type HostSpec, type PmuOverrides, type VpmuMode } from '@vpmu/world-spec';

import { readHostPerfSession } from './perf-session.parser';
import { MAX_PCPUS, SCENARIO_DEFAULTS } from './scenario.defaults';
import { MIN_NOISE_PERIOD_NS, MIN_TIMESLICE_NS, WHY } from './scenario.limits';
import { ScenarioBuildContext } from './scenario-build.context';
import { keysOf } from './scenario.fields';
import { childPath, Field } from './yaml-node.reader';

const KEYS = { host: keysOf('host'), pmu: keysOf('pmu'), noise: keysOf('noise'), kvm: keysOf('kvm') };

export function readHost(ctx: ScenarioBuildContext, f: Field): HostSpec | undefined {
  const m = ctx.r.map(f, KEYS.host);
  if (!m) return undefined;
  const id = ctx.defineId(m, 'host');
  const cpuField = m.require('cpu', `one of ${CPU_PRESET_NAMES.join('|')}`);
  const cpu = cpuField && ctx.r.oneOf(cpuField, CPU_PRESET_NAMES);
  const pcpusField = m.require('pcpus', 'the number of physical CPUs');
  const pcpus = pcpusField && ctx.r.int(pcpusField, { min: 1, max: MAX_PCPUS });
  const hostLabel = id ?? f.path;

  let pmu: PmuOverrides | undefined;
  const pmuField = m.get('pmu');
  if (pmuField) {
    const pm = ctx.r.map(pmuField, KEYS.pmu);
    if (pm) {
      pmu = {};
      const gp = ctx.opt(pm, 'gpCounters', (x) => ctx.r.int(x, { min: 0, max: 31 }));
      const fixed = ctx.opt(pm, 'fixedCounters', (x) => ctx.r.int(x, { min: 0, max: 16 }));
      const width = ctx.opt(pm, 'counterWidth', (x) => ctx.r.int(x, { min: 8, max: 64 }));
      const lbr = ctx.opt(pm, 'lbrDepth', (x) => ctx.r.int(x, { min: 0, max: 64 }));
      const skid = ctx.opt(pm, 'pmiSkid', (x) => ctx.r.duration(x, { min: 0 }));
      if (gp !== undefined) pmu.gpCounters = gp;
      if (fixed !== undefined) pmu.fixedCounters = fixed;
      if (width !== undefined) pmu.counterWidth = width;
      if (lbr !== undefined) pmu.lbrDepth = lbr;
      if (skid !== undefined) pmu.pmiSkidNs = skid;
    }
  }

  let vpmuModes: VpmuMode[] = [...VPMU_MODES];
  const modesField = m.get('vpmuModes');
  if (modesField) {
    const items = ctx.r.list(modesField);
    if (items) {
      if (items.length === 0) ctx.r.error(modesField, `empty list; name at least one of ${VPMU_MODES.join('|')} (or leave it out for all)`);
      const modes: VpmuMode[] = [];
      for (const it of items) {
        const mode = ctx.r.oneOf(it, VPMU_MODES);
        if (mode === undefined) continue;
        if (modes.includes(mode)) ctx.r.warn(it, `${mode} is listed twice`);
        else modes.push(mode);
      }
      vpmuModes = modes;
    }
  }

  const nmiWatchdog = ctx.opt(m, 'nmiWatchdog', (x) => ctx.r.bool(x)) ?? SCENARIO_DEFAULTS.host.nmiWatchdog;
  const timesliceNs = ctx.opt(m, 'timeslice', (x) => ctx.r.duration(x, { min: MIN_TIMESLICE_NS, why: WHY.timeslice })) ?? SCENARIO_DEFAULTS.host.timesliceNs;

  const perf: HostPerfSession[] = [];
  const perfField = m.get('perf');
  if (perfField) {
    const sessionIds = new Map<string, string>();
    ctx.r.list(perfField)?.forEach((pf) => {
      const s = readHostPerfSession(ctx, pf, hostLabel, pcpus, sessionIds);
      if (s) perf.push(s);
    });
  }

  const noise: HostNoiseThread[] = [];
  const noiseField = m.get('noise');
  if (noiseField) {
    const noiseIds = new Map<string, string>();
    ctx.r.list(noiseField)?.forEach((nf, i) => {
      const n = readNoiseThread(ctx, nf, i, hostLabel, pcpus, noiseIds);
      if (n) noise.push(n);
    });
  }

  let armPmuProbeOrder: string[] | undefined;
  const probeField = m.get('armPmuProbeOrder');
  if (probeField) {
    if (cpu !== undefined && !cpu.startsWith('arm')) {
      ctx.r.error(probeField, `only arm64 hosts have a PMU probe order; host ${hostLabel} is ${cpu}`);
    }
    const items = ctx.r.list(probeField);
    if (items) {
      if (items.length === 0) ctx.r.error(probeField, 'empty list; name the PMUs in probe order or leave it out');
      armPmuProbeOrder = [];
      for (const it of items) {
        const s = ctx.nonEmptyString(it);
        if (s !== undefined) armPmuProbeOrder.push(s);
      }
    }
  }

  const kernel = ctx.opt(m, 'kernel', (x) => ctx.r.oneOf(x, KERNEL_GENERATIONS));
  const kvm = readKvmParams(ctx, m.get('kvm'), kernel, hostLabel);

  const spec: HostSpec = {
    id: id ?? '',
    cpu: cpu ?? '',
    pcpus: pcpus ?? 0,
    vpmuModes,
    nmiWatchdog,
    timesliceNs,
    perf,
    noise,
  };
  if (pmu) spec.pmu = pmu;
  if (armPmuProbeOrder) spec.armPmuProbeOrder = armPmuProbeOrder;
  if (kernel !== undefined) spec.kernel = kernel;
  if (kvm) spec.kvm = kvm;
  if (id !== undefined && !ctx.hosts.has(id) && !ctx.vms.has(id)) ctx.hosts.set(id, spec);
  return spec;
}

function readNoiseThread(
  ctx: ScenarioBuildContext,
  f: Field,
  index: number,
  hostLabel: string,
  pcpus: number | undefined,
  ids: Map<string, string>,
): HostNoiseThread | undefined {
  const m = ctx.r.map(f, KEYS.noise);
  if (!m) return undefined;
  let id: string | undefined;
  if (m.has('id')) {
    id = ctx.localId(m, ids, `noise thread on host ${hostLabel}`);
  } else {
    id = `noise${index}`;
    if (ids.has(id)) ctx.diag.error(childPath(m.path, 'id'), `required here: the default id ${id} is already taken by ${ids.get(id)}`, m.line);
    else ids.set(id, m.path);
  }
  const cpusField = m.get('cpus');
  const cpus = cpusField ? ctx.cpuList(cpusField, hostLabel, pcpus) : 'all';
  const periodField = m.require('period', 'how often the thread wakes up, e.g. 10ms');
  const periodNs = periodField && ctx.r.duration(periodField, { min: MIN_NOISE_PERIOD_NS, why: WHY.noisePeriod });
  const runtimeField = m.require('runtime', 'how long it runs each time, e.g. 1ms');
  const runtimeNs = runtimeField && ctx.r.duration(runtimeField, { min: 1 });
  if (runtimeField && periodNs !== undefined && runtimeNs !== undefined && runtimeNs > periodNs) {
    ctx.r.error(runtimeField, `runtime ${formatDurationNs(runtimeNs)} exceeds period ${formatDurationNs(periodNs)}`);
  }
  const lbr = ctx.opt(m, 'lbr', (x) => ctx.r.bool(x)) ?? false;
  const priority = ctx.opt(m, 'priority', (x) => ctx.r.oneOf(x, ['normal', 'high'] as const)) ?? 'normal';
  return { id: id ?? '', cpus: cpus ?? 'all', periodNs: periodNs ?? 0, runtimeNs: runtimeNs ?? 0, lbr, priority };
}

/**
 * `hosts[].kvm`: the kvm module parameters. enable_mediated_pmu exists only in mainline kernels
 * ("KVM: x86/pmu: Expose enable_mediated_pmu parameter to user space", v6 Dec 2025).
 */
function readKvmParams(ctx: ScenarioBuildContext, f: Field | undefined, kernel: KernelGeneration | undefined, hostLabel: string): KvmModuleParams | undefined {
  if (!f) return undefined;
  const m = ctx.r.map(f, KEYS.kvm);
  if (!m) return undefined;
  const d = hostKvm({});
  const enablePmu = ctx.opt(m, 'enablePmu', (x) => ctx.r.bool(x)) ?? d.enablePmu;
  const mediatedField = m.get('enableMediatedPmu');
  const enableMediatedPmu = ctx.opt(m, 'enableMediatedPmu', (x) => ctx.r.bool(x)) ?? d.enableMediatedPmu;
  if (mediatedField && (kernel ?? 'rfc-fixed') !== 'mainline') {
    ctx.r.error(mediatedField, `host ${hostLabel} runs kernel ${kernel ?? 'rfc-fixed'}, which has no enable_mediated_pmu parameter; set kernel: mainline`);
  }
  const passthroughField = m.get('enablePassthroughPmu');
  const enablePassthroughPmu = ctx.opt(m, 'enablePassthroughPmu', (x) => ctx.r.bool(x));
  if (passthroughField && kernel === 'mainline') {
    ctx.r.error(passthroughField, `host ${hostLabel} runs kernel mainline, which has no enable_passthrough_pmu parameter (the RFC's); use enableMediatedPmu`);
  }
  if (enableMediatedPmu && !enablePmu) ctx.r.warn(mediatedField ?? f, 'enableMediatedPmu has no effect with enablePmu: false (KVM gives no VM a PMU)');
  return { enablePmu, enableMediatedPmu, ...(enablePassthroughPmu !== undefined && { enablePassthroughPmu }) };
}
