import { pb } from '@vpmu/proto';
import type { VpmuStateRecord } from '@vpmu/migration';
import { vpmuStateFromMessage, vpmuStateToMessage } from './vpmu-state.codec';

const state: VpmuStateRecord = {
  vm: 'vm1',
  mode: 'passthrough',
  gpCounters: 8,
  fixedCounters: 4,
  counterWidth: 48,
  vcpus: [
    {
      vcpu: 0,
      counters: [{ index: 0, fixed: false, value: 2 ** 47 + 3, eventsel: 0x5300c0, period: 0, freqHz: 0, backingCount: 0, pmiPending: true }],
      fixedCtrCtrl: 0xb,
      globalCtrl: 2 ** 32 + 0xff,
      globalStatus: 1,
      debugctl: 1,
      lbr: { fromIp: [1, 2], toIp: [3, 4], tos: 1, debugctlLbr: true, pvActive: false },
      mux: { rotation: 0, nextRotateNs: 0 },
      guestObserved: [10, 20],
      pendingPmiNs: [123456789],
      perf: [{ session: 1, running: true, multiplexed: false, freqHz: 4000, events: [{ event: 'branches', counter: -1, count: 5, enabledNs: 6, runningNs: 6, samplePeriod: 41543, periodLeft: -7, lastPeriod: 41543, samples: 9, throttled: false }] }],
    },
    { vcpu: 1, counters: [], fixedCtrCtrl: 0, globalCtrl: 0, globalStatus: 0, debugctl: 0, lbr: null, mux: { rotation: 0, nextRotateNs: 0 }, guestObserved: [], pendingPmiNs: [], perf: [] },
  ],
  pvEvents: [{ vcpu: 1, session: 0, id: 65536, event: 'instructions', type: 0, config: 1, enabled: true, count: 99, overflows: 2 }],
  filter: { action: 1, events: [0xc4], fixedCounterBitmap: 2, masked: [2 ** 32 + 0xc4] },
  armPmu: '',
  armNrCounters: 0,
  eventsInUse: ['instructions', 'branches'],
};

describe('VpmuState codec', () => {
  it('round-trips every field through the wire encoding (the destination cross-checks against it)', () => {
    const bytes = pb.VpmuState.encode(pb.VpmuState.fromObject(vpmuStateToMessage(state))).finish();
    expect(vpmuStateFromMessage(pb.VpmuState.decode(bytes))).toEqual(state);
  });

  it('an absent filter and LBR decode as null', () => {
    const bare = { ...state, filter: null, vcpus: [state.vcpus[1]] };
    const bytes = pb.VpmuState.encode(pb.VpmuState.fromObject(vpmuStateToMessage(bare))).finish();
    expect(vpmuStateFromMessage(pb.VpmuState.decode(bytes))).toEqual(bare);
  });
});
