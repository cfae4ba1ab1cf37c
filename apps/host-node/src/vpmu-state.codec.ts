// VpmuState (proto/vpmu/v1/vpmu_state.proto) <-> the model's VpmuStateRecord (libs/migration).
// The destination cross-checks the vPMU it restored against what this decodes, so the round trip
// must be the identity on every record the model produces (vpmu-state.codec.spec.ts): absent
// scalars decode to their zero value, absent sub-messages to null.
import type { VpmuStateRecord } from '@vpmu/migration';
import type { vpmu } from '@vpmu/proto';

export function vpmuStateToMessage(s: VpmuStateRecord): vpmu.v1.IVpmuState {
  return {
    vm: s.vm,
    mode: s.mode,
    gpCounters: s.gpCounters,
    fixedCounters: s.fixedCounters,
    counterWidth: s.counterWidth,
    vcpus: s.vcpus.map((v) => ({
      vcpu: v.vcpu,
      counters: v.counters.map((c) => ({ ...c })),
      fixedCtrCtrl: v.fixedCtrCtrl,
      globalCtrl: v.globalCtrl,
      globalStatus: v.globalStatus,
      debugctl: v.debugctl,
      ...(v.lbr && { lbr: { fromIp: [...v.lbr.fromIp], toIp: [...v.lbr.toIp], tos: v.lbr.tos, debugctlLbr: v.lbr.debugctlLbr, pvActive: v.lbr.pvActive } }),
      mux: { rotation: v.mux.rotation, nextRotateNs: v.mux.nextRotateNs },
      guestObserved: [...v.guestObserved],
      pendingPmiNs: [...v.pendingPmiNs],
      perf: v.perf.map((p) => ({ session: p.session, running: p.running, multiplexed: p.multiplexed, freqHz: p.freqHz, events: p.events.map((e) => ({ ...e })) })),
    })),
    pvEvents: s.pvEvents.map((e) => ({ ...e })),
    ...(s.filter && { filter: { action: s.filter.action, events: [...s.filter.events], fixedCounterBitmap: s.filter.fixedCounterBitmap, masked: [...s.filter.masked] } }),
    armPmu: s.armPmu,
    armNrCounters: s.armNrCounters,
    eventsInUse: [...s.eventsInUse],
  };
}

const n = (x: number | null | undefined): number => Number(x ?? 0);

export function vpmuStateFromMessage(m: vpmu.v1.IVpmuState): VpmuStateRecord {
  return {
    vm: m.vm ?? '',
    mode: m.mode ?? '',
    gpCounters: n(m.gpCounters),
    fixedCounters: n(m.fixedCounters),
    counterWidth: n(m.counterWidth),
    vcpus: (m.vcpus ?? []).map((v) => ({
      vcpu: n(v.vcpu),
      counters: (v.counters ?? []).map((c) => ({
        index: n(c.index),
        fixed: c.fixed ?? false,
        value: n(c.value),
        eventsel: n(c.eventsel),
        period: n(c.period),
        freqHz: n(c.freqHz),
        backingCount: n(c.backingCount),
        pmiPending: c.pmiPending ?? false,
      })),
      fixedCtrCtrl: n(v.fixedCtrCtrl),
      globalCtrl: n(v.globalCtrl),
      globalStatus: n(v.globalStatus),
      debugctl: n(v.debugctl),
      lbr: v.lbr ? { fromIp: (v.lbr.fromIp ?? []).map(n), toIp: (v.lbr.toIp ?? []).map(n), tos: n(v.lbr.tos), debugctlLbr: v.lbr.debugctlLbr ?? false, pvActive: v.lbr.pvActive ?? false } : null,
      mux: { rotation: n(v.mux?.rotation), nextRotateNs: n(v.mux?.nextRotateNs) },
      guestObserved: (v.guestObserved ?? []).map(n),
      pendingPmiNs: (v.pendingPmiNs ?? []).map(n),
      perf: (v.perf ?? []).map((p) => ({
        session: n(p.session),
        running: p.running ?? false,
        multiplexed: p.multiplexed ?? false,
        freqHz: n(p.freqHz),
        events: (p.events ?? []).map((e) => ({
          event: e.event ?? '',
          counter: n(e.counter),
          count: n(e.count),
          enabledNs: n(e.enabledNs),
          runningNs: n(e.runningNs),
          samplePeriod: n(e.samplePeriod),
          periodLeft: n(e.periodLeft),
          lastPeriod: n(e.lastPeriod),
          samples: n(e.samples),
          throttled: e.throttled ?? false,
        })),
      })),
    })),
    pvEvents: (m.pvEvents ?? []).map((e) => ({
      vcpu: n(e.vcpu),
      session: n(e.session),
      id: n(e.id),
      event: e.event ?? '',
      type: n(e.type),
      config: n(e.config),
      enabled: e.enabled ?? false,
      count: n(e.count),
      overflows: n(e.overflows),
    })),
    filter: m.filter ? { action: n(m.filter.action), events: (m.filter.events ?? []).map(n), fixedCounterBitmap: n(m.filter.fixedCounterBitmap), masked: (m.filter.masked ?? []).map(n) } : null,
    armPmu: m.armPmu ?? '',
    armNrCounters: n(m.armNrCounters),
    eventsInUse: [...(m.eventsInUse ?? [])],
  };
}
