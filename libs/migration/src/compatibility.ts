// Migration compatibility (checked at setup, on the source): the destination must be able to
// give the guest the same vPMU it sees now, or the migration is refused with the reason and the
// VM keeps running where it is (finding migration-refused-incompatible).
// The rules follow what KVM/QEMU check for vPMU migration: the mode must be available on the
// destination (the mediated/passthrough vPMU needs a capable x86 PMU), the guest-visible counter
// shape (number, fixed counters, width) must fit, every event the guest uses or filters must be
// supported, and on arm64 the VM's PMU type must exist there.

export interface PmuShape {
  arch: 'intel' | 'arm';
  gpCounters: number;
  fixedCounters: number;
  counterWidthBits: number;
  /** Event names the PMU can count. */
  events: readonly string[];
  /** arm64: the PMU ids the host has (one per core type). */
  armPmuIds: readonly string[];
  /** The vPMU modes the host offers. */
  vpmuModes: readonly string[];
  passthroughCapable: boolean;
  pcpus: number;
}

export interface GuestPmuNeeds {
  mode: string;
  gpCounters: number;
  fixedCounters: number;
  counterWidthBits: number;
  eventsInUse: readonly string[];
  armPmu?: string;
  vcpus: number;
}

/** null when compatible, else the reason in one sentence. */
export function migrationIncompatibility(guest: GuestPmuNeeds, destination: PmuShape, destinationId: string): string | null {
  if (destination.pcpus < guest.vcpus) return `host ${destinationId} has ${destination.pcpus} pCPUs, the VM has ${guest.vcpus} vCPUs`;
  if (guest.mode !== 'none' && !destination.vpmuModes.includes(guest.mode)) return `host ${destinationId} does not offer the ${guest.mode} vPMU mode`;
  if (guest.mode === 'none') return null;
  // Not modelled yet: moving a VM's mediated PMU (perf_release_mediated_pmu on the source,
  // perf_create_mediated_pmu at the destination); refused instead of simulated wrongly.
  if (guest.mode === 'mediated') return `the tool does not model migrating a mediated-vPMU VM yet`;
  if (guest.mode === 'passthrough' && !destination.passthroughCapable) return `host ${destinationId}'s PMU cannot do the passthrough (mediated) vPMU`;
  if (guest.armPmu !== undefined) {
    if (!destination.armPmuIds.includes(guest.armPmu)) return `host ${destinationId} has no ${guest.armPmu} PMU (it has ${destination.armPmuIds.join(', ') || 'none'})`;
  }
  const missing = guest.eventsInUse.filter((e) => !destination.events.includes(e));
  if (missing.length > 0) return `host ${destinationId} cannot count ${missing.join(', ')}`;
  if (destination.gpCounters < guest.gpCounters) return `host ${destinationId} has ${destination.gpCounters} general-purpose counters, the guest sees ${guest.gpCounters}`;
  if (destination.fixedCounters < guest.fixedCounters) return `host ${destinationId} has ${destination.fixedCounters} fixed counters, the guest sees ${guest.fixedCounters}`;
  if (destination.counterWidthBits < guest.counterWidthBits) return `host ${destinationId}'s counters are ${destination.counterWidthBits} bits wide, the guest's ${guest.counterWidthBits}`;
  return null;
}
