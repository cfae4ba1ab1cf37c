// libs/guest-perf-output (@vpmu/guest-perf-output): what a VM's guest perf sessions would have
// left behind, as the bytes of perf's own files (perf.data, the perf map, perf stat text and CSV).
//
// Pure: events and the scenario in, bytes out (the caller writes the files). Used by the
// guest-vm service during a run (the aggregator writes what it builds) and by
// `vpmu export --format perf-data` from a recording, so both give the same bytes.
//
//  - GuestEventsCollector / isGuestVisible: the guest's own events (PMIs it received or lost,
//    its task switches, its perf sessions' readings), per VM, in guest time order.
//  - buildGuestPerfFiles(scenario, vm, events): the files, with samples, lost samples and the
//    top functions of each record session.
//  - What the recording does not hold (IPs, which event a PMI was for, periods under -F) is
//    derived from the scenario, deterministically: docs/perf-data.md lists it.
export { GuestEventsCollector, isGuestVisible, type GuestTimelineEvent, type VmGuestEvents } from './guest-events.collector';
export { buildGuestPerfFiles, type GuestPerfFile, type GuestPerfFileKind, type GuestPerfFileSet, type TopFunction } from './guest-perf.files';
