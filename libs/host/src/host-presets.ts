// What a host's CPU preset means to the world: its nominal frequency (cycle costs to ns) and the
// shape of the vPMU it can offer (for migration compatibility), from libs/pmu's presets and the
// scenario's `hosts[].pmu` overrides.
import type { HostSpec, VmSpec } from '@vpmu/world-spec';
import type { GuestPmuNeeds, PmuShape } from '@vpmu/migration';
import { ARM_EVENT_FOR, getCpuPreset, intelEventIndex, WORKLOAD_EVENT_NAMES, type ArmClusterSpec } from '@vpmu/pmu';

export function cpuNominalGhz(preset: string): number {
  const p = getCpuPreset(preset);
  return p.arch === 'intel' ? p.nominalGhz : p.clusters[0].nominalGhz;
}

function armClusterEvents(c: ArmClusterSpec): string[] {
  return WORKLOAD_EVENT_NAMES.filter((e) => {
    const num = ARM_EVENT_FOR[e];
    if (num === undefined) return false;
    return num < 32 ? ((c.pmceid0 >>> num) & 1) === 1 : ((c.pmceid1 >>> (num - 32)) & 1) === 1;
  });
}

export function pmuShapeOfHost(host: HostSpec): PmuShape {
  const p = getCpuPreset(host.cpu);
  if (p.arch === 'intel') {
    const fixed = host.pmu?.fixedCounters ?? p.fixedCounters;
    return {
      arch: 'intel',
      gpCounters: host.pmu?.gpCounters ?? p.gpCounters,
      fixedCounters: fixed,
      counterWidthBits: host.pmu?.counterWidth ?? p.gpWidthBits,
      // TOPDOWN.SLOTS needs fixed counter 3 (Ice Lake and later).
      events: WORKLOAD_EVENT_NAMES.filter((e) => e !== 'topdown-slots' || fixed >= 4),
      armPmuIds: [],
      vpmuModes: host.vpmuModes,
      passthroughCapable: p.perfmonVersion >= 4,
      pcpus: host.pcpus,
    };
  }
  const first = p.clusters[0];
  return {
    arch: 'arm',
    gpCounters: host.pmu?.gpCounters ?? Math.min(...p.clusters.map((c) => c.counters)),
    fixedCounters: 0,
    counterWidthBits: host.pmu?.counterWidth ?? first.counterWidthBits,
    events: WORKLOAD_EVENT_NAMES.filter((e) => p.clusters.some((c) => armClusterEvents(c).includes(e))),
    armPmuIds: p.clusters.map((c) => c.pmuId),
    vpmuModes: host.vpmuModes,
    passthroughCapable: false, // the mediated vPMU series is x86-only
    pcpus: host.pcpus,
  };
}

/** The vPMU a VM's guest sees on its current host, which a destination must be able to give. */
export function guestPmuNeeds(vm: VmSpec, host: HostSpec, eventsInUse: readonly string[]): GuestPmuNeeds {
  const shape = pmuShapeOfHost(host);
  // Events the VM's KVM event filter names must exist on the destination too.
  const filterEvents = (vm.vpmu.filter?.events ?? [])
    .map((e) => WORKLOAD_EVENT_NAMES[intelEventIndex(e.eventSelect, e.umask)])
    .filter((e): e is (typeof WORKLOAD_EVENT_NAMES)[number] => e !== undefined);
  return {
    mode: vm.vpmu.mode,
    gpCounters: vm.vpmu.nrCounters ?? shape.gpCounters,
    fixedCounters: shape.fixedCounters,
    counterWidthBits: shape.counterWidthBits,
    eventsInUse: [...new Set([...eventsInUse, ...filterEvents])].sort(),
    ...(vm.vpmu.armPmu !== undefined && { armPmu: vm.vpmu.armPmu }),
    vcpus: vm.vcpus,
  };
}
