import type { GuestPerfSpec, Scenario } from '@vpmu/world-spec';
import { sessionWindows, windowsContain, windowsLengthNs } from './session-windows';

const spec = (over: Partial<GuestPerfSpec> = {}): GuestPerfSpec => ({ id: 'rec', command: 'record', events: ['cycles'], allCpus: true, callGraph: 'none', startNs: 0, ...over });
const world = (timeline: Scenario['timeline'] = []): Scenario => ({ durationNs: 100, timeline } as unknown as Scenario);
const action = (atNs: number, on: 'start' | 'stop', session = 'rec', vm = 'vm1'): Scenario['timeline'][number] => ({ atNs, action: { kind: 'guestPerf', vm, session, action: on } });

describe('sessionWindows', () => {
  it('runs from start to stop, or to the end of the run', () => {
    expect(sessionWindows(world(), 'vm1', spec({ startNs: 10, stopNs: 40 }))).toEqual([{ startNs: 10, endNs: 40 }]);
    expect(sessionWindows(world(), 'vm1', spec({ startNs: 10 }))).toEqual([{ startNs: 10, endNs: 100 }]);
  });

  it('follows the timeline’s stop and start of this VM’s session only', () => {
    const s = world([action(20, 'stop'), action(50, 'start'), action(30, 'stop', 'other'), action(60, 'stop', 'rec', 'vm2')]);
    const w = sessionWindows(s, 'vm1', spec());
    expect(w).toEqual([{ startNs: 0, endNs: 20 }, { startNs: 50, endNs: 100 }]);
    expect(windowsLengthNs(w)).toBe(70);
    expect(windowsContain(w, 19)).toBe(true);
    expect(windowsContain(w, 20)).toBe(false);
    expect(windowsContain(w, 50)).toBe(true);
  });
});
