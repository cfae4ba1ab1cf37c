import fc from 'fast-check';
import { migrationIncompatibility, planPrecopy, transferNs, type PmuShape } from './index';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

describe('planPrecopy', () => {
  it('sends all memory first, then the dirtied remainder, until the rest fits the downtime', () => {
    const plan = planPrecopy({ memoryBytes: 4 * GiB, dirtyBytesPerSec: 200 * MiB, bandwidthBytesPerSec: 1.25e9, maxDowntimeNs: 300e6, stateBytes: 64 * 1024 });
    expect(plan.passes[0]).toEqual({ iteration: 0, bytes: 4 * GiB, durationNs: transferNs(4 * GiB, 1.25e9) });
    expect(plan.passes.length).toBeGreaterThan(1);
    expect(plan.converged).toBe(true);
    expect(plan.stopAndCopyNs).toBeLessThanOrEqual(300e6);
    for (let i = 1; i < plan.passes.length; i++) expect(plan.passes[i].bytes).toBeLessThan(plan.passes[i - 1].bytes);
  });

  it('does not converge when the guest dirties memory faster than the link sends it', () => {
    const plan = planPrecopy({ memoryBytes: 1 * GiB, dirtyBytesPerSec: 2e9, bandwidthBytesPerSec: 1e9, maxDowntimeNs: 1e6, stateBytes: 0, maxIterations: 5 });
    expect(plan.passes).toHaveLength(5);
    expect(plan.converged).toBe(false);
    expect(plan.stopAndCopyBytes).toBe(1 * GiB);
  });

  it('always accounts every byte and never sends a pass larger than memory (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 * GiB }), fc.integer({ min: 0, max: 4e9 }), fc.integer({ min: 1e6, max: 1e11 }), fc.integer({ min: 0, max: 1e9 }), (mem, dirty, bw, down) => {
        const plan = planPrecopy({ memoryBytes: mem, dirtyBytesPerSec: dirty, bandwidthBytesPerSec: bw, maxDowntimeNs: down, stateBytes: 4096 });
        expect(plan.passes.every((p) => p.bytes <= mem && p.durationNs >= 0)).toBe(true);
        expect(plan.totalBytes).toBe(plan.passes.reduce((n, p) => n + p.bytes, 0) + plan.stopAndCopyBytes);
        if (plan.converged) expect(plan.stopAndCopyNs).toBeLessThanOrEqual(Math.max(down, transferNs(plan.stopAndCopyBytes, bw)));
      }),
    );
  });
});

describe('migrationIncompatibility', () => {
  const spr: PmuShape = {
    arch: 'intel',
    gpCounters: 8,
    fixedCounters: 4,
    counterWidthBits: 48,
    events: ['instructions', 'cycles', 'topdown-slots'],
    armPmuIds: [],
    vpmuModes: ['none', 'emulated', 'passthrough', 'paravirt'],
    passthroughCapable: true,
    pcpus: 8,
  };
  const guest = { mode: 'passthrough', gpCounters: 8, fixedCounters: 4, counterWidthBits: 48, eventsInUse: ['instructions', 'topdown-slots'], vcpus: 2 };

  it('accepts a destination that can give the guest the same vPMU', () => {
    expect(migrationIncompatibility(guest, spr, 'h2')).toBeNull();
  });

  it.each([
    ['the mode', { vpmuModes: ['none', 'emulated'] }, /does not offer the passthrough vPMU mode/],
    ['a capable PMU', { passthroughCapable: false }, /cannot do the passthrough/],
    ['enough counters', { gpCounters: 4 }, /4 general-purpose counters, the guest sees 8/],
    ['fixed counters', { fixedCounters: 3 }, /3 fixed counters/],
    ['the width', { counterWidthBits: 40 }, /40 bits wide/],
    ['every event', { events: ['instructions', 'cycles'] }, /cannot count topdown-slots/],
    ['enough pCPUs', { pcpus: 1 }, /1 pCPUs/],
  ])('refuses a destination without %s, with the reason', (_what, change, reason) => {
    expect(migrationIncompatibility(guest, { ...spr, ...change }, 'h2')).toMatch(reason as RegExp);
  });

  it('refuses an arm64 destination without the VM PMU type', () => {
    const arm: PmuShape = { ...spr, arch: 'arm', fixedCounters: 0, armPmuIds: ['armv8_cortex_a55'], passthroughCapable: false, vpmuModes: ['none', 'emulated'] };
    expect(migrationIncompatibility({ ...guest, mode: 'emulated', fixedCounters: 0, gpCounters: 6, eventsInUse: [], armPmu: 'armv8_cortex_a76' }, arm, 'a2')).toMatch(/no armv8_cortex_a76 PMU/);
  });
});
