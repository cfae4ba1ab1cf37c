// `vms[].vpmu` of a scenario: the vPMU KVM gives a VM (mode, checked against what its host
// offers; event filter; LBR; arm64 PMU and counter count; paravirt limits; PMI vector).

import { checkGuestPmu } from '@vpmu/kvm';
import { getCpuPreset, intelConfigFromPreset } from '@vpmu/pmu';
import { hostKernel, hostKvm, VPMU_MODES, type EventFilterSpec, type GuestPmuSpec, type HostSpec, type VpmuMode, type VpmuSpec } from '@vpmu/world-spec';

import { MAX_FILTER_EVENTS, SCENARIO_DEFAULTS, U32_MAX } from './scenario.defaults';
import { MAX_PV_EVENT_LIMIT, WHY } from './scenario.limits';
import { ScenarioBuildContext } from './scenario-build.context';
import { keysOf } from './scenario.fields';
import { Field } from './yaml-node.reader';

const KEYS = { guestPmu: keysOf('guestPmu'), vpmu: keysOf('vpmu'), filter: keysOf('filter'), filterEvent: keysOf('filterEvent'), maskedEvent: keysOf('maskedEvent') };

export function defaultVpmu(): VpmuSpec {
  const d = SCENARIO_DEFAULTS.vm;
  return {
    mode: d.vpmuMode,
    interceptEventSelect: d.interceptEventSelect,
    lbr: 'none',
    lazyLbrReleaseNs: d.lazyLbrReleaseNs,
    pvEventLimit: d.pvEventLimit,
    pmiVector: 'dedicated',
  };
}

export function readVpmu(ctx: ScenarioBuildContext, f: Field, host: HostSpec | undefined): VpmuSpec | undefined {
  const m = ctx.r.map(f, KEYS.vpmu);
  if (!m) return undefined;
  const spec = defaultVpmu();
  const modeField = m.get('mode');
  if (modeField) {
    const mode = ctx.r.oneOf(modeField, VPMU_MODES);
    if (mode !== undefined) {
      spec.mode = mode;
      if (host) checkModeOnHost(ctx, mode, host, modeField.path, modeField.line, 'mode');
    }
  } else if (host) {
    checkModeOnHost(ctx, spec.mode, host, m.path, m.line, 'the default mode');
  }
  spec.interceptEventSelect = ctx.opt(m, 'interceptEventSelect', (x) => ctx.r.bool(x)) ?? spec.interceptEventSelect;
  const interceptField = m.get('interceptEventSelect');
  if (interceptField && spec.mode === 'mediated' && !spec.interceptEventSelect) {
    ctx.r.warn(interceptField, 'the mediated vPMU always intercepts the event selectors (the event filter always applies); interceptEventSelect: false is ignored');
  }
  const filterField = m.get('filter');
  if (filterField && host && isAmdHost(host)) {
    ctx.r.error(filterField, `the KVM event filter on an AMD host (${host.cpu}) is not modelled: it matches AMD event encodings, which the model does not count in; remove vpmu.filter`);
  } else if (filterField) {
    const filter = readEventFilter(ctx, filterField);
    if (filter) spec.filter = filter;
    if (spec.mode === 'none') ctx.r.warn(filterField, 'an event filter has no effect when the VM has no PMU (mode none)');
  }
  spec.lbr = ctx.opt(m, 'lbr', (x) => ctx.r.oneOf(x, ['none', 'pv', 'lazy'] as const)) ?? spec.lbr;
  spec.lazyLbrReleaseNs = ctx.opt(m, 'lazyLbrRelease', (x) => ctx.r.duration(x, { min: 0 })) ?? spec.lazyLbrReleaseNs;
  const armPmu = ctx.opt(m, 'armPmu', (x) => ctx.nonEmptyString(x));
  if (armPmu !== undefined) spec.armPmu = armPmu;
  const nr = ctx.opt(m, 'nrCounters', (x) => ctx.r.int(x, { min: 0, max: 31 }));
  if (nr !== undefined) spec.nrCounters = nr;
  spec.pvEventLimit = ctx.opt(m, 'pvEventLimit', (x) => ctx.r.int(x, { min: 0, max: MAX_PV_EVENT_LIMIT, why: WHY.pvEventLimit })) ?? spec.pvEventLimit;
  spec.pmiVector = ctx.opt(m, 'pmiVector', (x) => ctx.r.oneOf(x, ['dedicated', 'shared'] as const)) ?? spec.pmiVector;
  const guestField = m.get('guestPmu');
  if (guestField) {
    const guest = readGuestPmu(ctx, guestField, host);
    if (guest) {
      spec.guestPmu = guest;
      if (guest.gpCounters !== undefined && spec.nrCounters !== undefined && guest.gpCounters !== spec.nrCounters) {
        ctx.r.error(guestField, `guestPmu.gpCounters ${guest.gpCounters} contradicts nrCounters ${spec.nrCounters}; give the count once`);
      }
    }
  }
  return spec;
}

/** `vms[].vpmu.guestPmu`: checked against the host's PMU (x86 only; a shape beyond the host is refused). */
function readGuestPmu(ctx: ScenarioBuildContext, f: Field, host: HostSpec | undefined): GuestPmuSpec | undefined {
  const m = ctx.r.map(f, KEYS.guestPmu);
  if (!m) return undefined;
  const g: GuestPmuSpec = {};
  const version = ctx.opt(m, 'version', (x) => ctx.r.int(x, { min: 0, max: 5 }));
  if (version !== undefined) g.version = version;
  const gp = ctx.opt(m, 'gpCounters', (x) => ctx.r.int(x, { min: 0, max: 8 }));
  if (gp !== undefined) g.gpCounters = gp;
  const fixed = ctx.opt(m, 'fixedCounters', (x) => ctx.r.int(x, { min: 0, max: 4 }));
  if (fixed !== undefined) g.fixedCounters = fixed;
  const fixedMask = ctx.opt(m, 'fixedCounterMask', (x) => ctx.r.intOrHex(x, { min: 0, max: 0xf }));
  if (fixedMask !== undefined) g.fixedCounterMask = fixedMask;
  const eventMask = ctx.opt(m, 'eventMask', (x) => ctx.r.intOrHex(x, { min: 0, max: 0xff }));
  if (eventMask !== undefined) g.eventMask = eventMask;
  const fw = ctx.opt(m, 'fullWidthWrites', (x) => ctx.r.bool(x));
  if (fw !== undefined) g.fullWidthWrites = fw;
  const enabled = ctx.opt(m, 'enabled', (x) => ctx.r.bool(x));
  if (enabled !== undefined) g.enabled = enabled;
  if (!host) return g;
  const preset = getCpuPreset(host.cpu);
  if (preset.arch !== 'intel') {
    ctx.r.error(f, `guestPmu is an x86 setting; host ${host.id} is ${host.cpu} (use nrCounters for an arm64 vPMU)`);
    return undefined;
  }
  if (preset.vendor === 'amd') {
    const intelOnly = (['fixedCounters', 'fixedCounterMask', 'eventMask', 'fullWidthWrites'] as const).filter((k) => g[k] !== undefined);
    if (intelOnly.length > 0) {
      ctx.r.error(f, `${intelOnly.join(', ')}: Intel CPUID.0AH / PERF_CAPABILITIES fields; host ${host.id} is ${host.cpu} (an AMD guest PMU has version 1 or 2 = PerfMonV2, and gpCounters)`);
      return undefined;
    }
    // amd_pmu_refresh: only PerfMonV2 enumerates a counter count (CPUID 0x80000022 EBX); without
    // it the guest gets AMD64_NUM_COUNTERS_CORE (6) counters whatever the VMM asks.
    if ((g.version ?? preset.perfmonVersion) === 1 && g.gpCounters !== undefined) {
      ctx.r.error(f, `gpCounters needs version 2 (PerfMonV2) on AMD: without it KVM gives the guest the 6 core counters (amd_pmu_refresh); host ${host.id} is ${host.cpu}`);
      return undefined;
    }
  }
  const o = host.pmu;
  const hostCfg = intelConfigFromPreset(preset, {
    ...(o?.gpCounters !== undefined && { gpCounters: o.gpCounters }),
    ...(o?.fixedCounters !== undefined && { fixedCounters: o.fixedCounters }),
  });
  const why = checkGuestPmu(hostCfg, `host ${host.id}, ${host.cpu}`, g);
  if (why) {
    ctx.r.error(f, why);
    return undefined;
  }
  return g;
}

function isAmdHost(host: HostSpec): boolean {
  const p = getCpuPreset(host.cpu);
  return p.arch === 'intel' && p.vendor === 'amd';
}

export function checkModeOnHost(ctx: ScenarioBuildContext, mode: VpmuMode, host: HostSpec, path: string, line: number | undefined, what: string): void {
  // Every host can run a VM without a PMU.
  if (mode === 'none') return;
  if (!host.vpmuModes.includes(mode)) {
    ctx.diag.error(path, `${what} ${mode} is not offered by host ${host.id} (its vpmuModes: ${host.vpmuModes.join(', ') || 'none'})`, line);
    return;
  }
  const why = kernelRefusal(mode, host);
  if (why) ctx.diag.error(path, `${what} ${mode} cannot run on host ${host.id}: ${why}`, line);
}

/** Why the host's kernel generation and kvm module parameters cannot give a VM `mode` (null: they can). */
function kernelRefusal(mode: VpmuMode, host: HostSpec): string | null {
  const kernel = hostKernel(host);
  const kvm = hostKvm(host);
  if (!kvm.enablePmu) return 'kvm.enablePmu is false, so KVM gives no VM a PMU (use mode none)';
  if (mode === 'mediated') {
    if (kernel !== 'mainline') return `the mediated vPMU is the merged design; set kernel: mainline (the host runs ${kernel})`;
    if (!kvm.enableMediatedPmu) return 'set kvm.enableMediatedPmu: true (the module parameter enable_mediated_pmu is off by default)';
    // GLOBAL_CTRL is switched by the VMCS entry/exit controls, including saving it at VM-Exit
    // ("KVM: x86/pmu: Load/save GLOBAL_CTRL via entry/exit fields for mediated PMU").
    if (host.cpu.startsWith('intel-') && host.cpu !== 'intel-spr') return `the mediated vPMU needs the VMCS to save IA32_PERF_GLOBAL_CTRL at VM-Exit, which Intel CPUs have from Sapphire Rapids on (host cpu ${host.cpu})`;
    // amd_pmu_is_mediated_pmu_supported: the host PMU must have PerfMonV2 (version 2), whose
    // global control lets KVM stuff the GuestOnly/HostOnly split at entry and exit.
    const preset = getCpuPreset(host.cpu);
    if (preset.arch === 'intel' && preset.vendor === 'amd' && preset.perfmonVersion < 2) return `the mediated vPMU needs AMD PerfMonV2 (amd_pmu_is_mediated_pmu_supported), which host cpu ${host.cpu} lacks (use amd-zen4)`;
    return null;
  }
  if (mode === 'emulated' && kvm.enablePassthroughPmu === true) return 'kvm.enablePassthroughPmu gives every VM with a PMU the passthrough vPMU (use mode passthrough or none)';
  if (mode === 'passthrough' && kvm.enablePassthroughPmu === false) return 'kvm.enablePassthroughPmu is false, so KVM gives VMs the emulated vPMU';
  if (mode === 'passthrough' && kernel === 'mainline') return 'mainline KVM has no RFC passthrough vPMU; use mode mediated (kvm.enableMediatedPmu: true)';
  // With enable_mediated_pmu=1 KVM gives every VM with a PMU the mediated one.
  if (mode === 'emulated' && kernel === 'mainline' && kvm.enableMediatedPmu) return 'with kvm.enableMediatedPmu every VM with a PMU gets the mediated vPMU (use mode mediated or none)';
  return null;
}

export function readEventFilter(ctx: ScenarioBuildContext, f: Field): EventFilterSpec | undefined {
  const m = ctx.r.map(f, KEYS.filter);
  if (!m) return undefined;
  const actionField = m.require('action', 'allow or deny');
  const action = actionField && ctx.r.oneOf(actionField, ['allow', 'deny'] as const);
  const events: EventFilterSpec['events'] = [];
  const eventsField = m.get('events');
  if (eventsField) {
    const items = ctx.r.list(eventsField);
    if (items && items.length > MAX_FILTER_EVENTS) {
      ctx.r.error(eventsField, `has ${items.length} events; at most ${MAX_FILTER_EVENTS} events (KVM returns E2BIG)`);
    }
    for (const it of items ?? []) {
      const em = ctx.r.map(it, KEYS.filterEvent);
      if (!em) continue;
      const ev = ctx.optReq(em, 'event', (x) => ctx.r.intOrHex(x, { min: 0, max: 0xfff }));
      const umask = ctx.opt(em, 'umask', (x) => ctx.r.intOrHex(x, { min: 0, max: 0xff })) ?? 0;
      if (ev !== undefined) events.push({ eventSelect: ev, umask });
    }
  }
  const fixedCounterBitmap = ctx.opt(m, 'fixedCounterBitmap', (x) => ctx.r.intOrHex(x, { min: 0, max: U32_MAX })) ?? 0;
  const masked: EventFilterSpec['masked'] = [];
  const maskedField = m.get('masked');
  if (maskedField) {
    const items = ctx.r.list(maskedField);
    if (items && items.length > MAX_FILTER_EVENTS) {
      ctx.r.error(maskedField, `has ${items.length} masked events; at most ${MAX_FILTER_EVENTS} events (KVM returns E2BIG)`);
    }
    for (const it of items ?? []) {
      const mm = ctx.r.map(it, KEYS.maskedEvent);
      if (!mm) continue;
      const ev = ctx.optReq(mm, 'event', (x) => ctx.r.intOrHex(x, { min: 0, max: 0xfff }));
      const mask = ctx.optReq(mm, 'mask', (x) => ctx.r.intOrHex(x, { min: 0, max: 0xff }));
      const match = ctx.optReq(mm, 'match', (x) => ctx.r.intOrHex(x, { min: 0, max: 0xff }));
      const exclude = ctx.opt(mm, 'exclude', (x) => ctx.r.bool(x)) ?? false;
      if (ev !== undefined && mask !== undefined && match !== undefined) {
        if ((match & ~mask) !== 0) {
          ctx.diag.warn(mm.path, `match 0x${match.toString(16)} has bits outside mask 0x${mask.toString(16)}; it can never match`, mm.line);
        }
        masked.push({ eventSelect: ev, mask, match, exclude });
      }
    }
  }
  return { action: action ?? 'allow', events, fixedCounterBitmap, masked };
}
