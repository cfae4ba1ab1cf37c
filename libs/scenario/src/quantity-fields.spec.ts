// Quantities in scenario fields: durations, sizes, bandwidths and hex integers as the reader
// takes them, with the field's path and line in every error.

import { base, expectError, host, MINIMAL, ok, withVm, type Obj } from './testing/parse-scenario.fixture';

// ---- durations, sizes, bandwidths, hex ------------------------------------------------------------

describe('parseScenario: quantities', () => {
  it.each([
    ['2s', 2e9],
    ['500ms', 500e6],
    ['250us', 250e3],
    ['1.5ms', 1.5e6],
    ['0.3s', 300e6],
    ['100ns', 100],
    [12345, 12345],
  ])('reads duration %p', (text, ns) => {
    expect(ok(base({ duration: text })).durationNs).toBe(ns);
  });

  it.each([
    ['100', 'has no unit'],
    ['-5ms', 'must not be negative'],
    [-5, 'must not be negative'],
    ['5min', 'unknown duration unit "min"'],
    ['1.5ns', 'not a whole number of nanoseconds'],
    [1.5, 'not a whole number of nanoseconds'],
    ['NaNms', 'is not a duration'],
    ['fast', 'is not a duration'],
    ['', 'is not a duration'],
    [0, 'must be at least 1ns'],
    [true, 'expected a duration'],
    [[1], 'expected a duration'],
  ])('rejects duration %p', (value, fragment) => {
    expectError(base({ duration: value }), 'duration', fragment);
  });

  it('rejects a run longer than 2^52 ns, so virtual ns stay exact JS integers on the event path', () => {
    expectError(base({ duration: '5000000s' }), 'duration', '2^53');
  });

  it('rejects .nan and .inf durations', () => {
    expectError(MINIMAL.replace('10ms', '.nan'), 'duration', 'NaN');
    expectError(MINIMAL.replace('10ms', '.inf'), 'duration', 'Infinity');
  });

  it.each([
    ['4GiB', 4 * 1024 ** 3],
    ['512MiB', 512 * 1024 ** 2],
    ['1GB', 1e9],
    ['64KiB', 65536],
    [1048576, 1048576],
  ])('reads size %p', (text, bytes) => {
    expect(ok(withVm({ memory: text })).vms[0].memoryBytes).toBe(bytes);
  });

  it.each([
    ['4 Gigs', 'unknown size unit'],
    ['4096', 'has no unit'],
    ['0.5B', 'not a whole number of bytes'],
    ['0B', 'must be at least 1 bytes'],
  ])('rejects size %p', (text, fragment) => {
    expectError(withVm({ memory: text }), 'vms[0].memory', fragment);
  });

  const migrate = (bandwidth: unknown): Obj =>
    base({ hosts: [host(), host({ id: 'h2' })], vms: [{ id: 'vm1', host: 'h1' }], timeline: [{ at: '1ms', migrate: { vm: 'vm1', to: 'h2', bandwidth } }] });

  it.each([
    ['10Gbps', 1.25e9],
    ['1GB/s', 1e9],
    ['100MiB/s', 100 * 1024 ** 2],
    [500000, 500000],
  ])('reads bandwidth %p', (text, bytesPerSec) => {
    const a = ok(migrate(text)).timeline[0].action;
    expect(a.kind === 'migrate' && a.bandwidthBytesPerSec).toBe(bytesPerSec);
  });

  it.each([
    ['10Gb', 'unknown bandwidth unit'],
    ['1bps', 'not a whole number of bytes per second'],
    [0, 'must be at least 1'],
  ])('rejects bandwidth %p', (text, fragment) => {
    expectError(migrate(text), 'timeline[0].migrate.bandwidth', fragment);
  });

  const program = (ops: unknown[]): Obj => withVm({ program: ops });

  it('reads MSR numbers and values as YAML integers or hex strings', () => {
    const s = ok(`${MINIMAL}vms:\n  - id: v\n    host: h1\n    program:\n      - wrmsr: { msr: 0x186, value: "0x4300C0" }\n      - rdmsr: { msr: 390 }\n`);
    expect(s.vms[0].program).toEqual([
      { op: 'wrmsr', msr: 0x186, value: 0x4300c0, vcpu: 0 },
      { op: 'rdmsr', msr: 390, vcpu: 0 },
    ]);
  });

  it.each([
    ['0xZZ', 'hex string'],
    ['390', 'hex string'],
    ['0x20000000000000', 'larger than 2^53 - 1'],
    [-1, 'must not be negative'],
  ])('rejects value %p', (value, fragment) => {
    expectError(program([{ wrmsr: { msr: 0x186, value } }]), 'vms[0].program[0].wrmsr.value', fragment);
  });

  it('rejects a YAML integer beyond 2^53', () => {
    const text = `${MINIMAL}vms:\n  - id: v\n    host: h1\n    program:\n      - wrmsr: { msr: 0x186, value: 0xFFFFFFFFFFFFFFFF }\n`;
    expectError(text, 'vms[0].program[0].wrmsr.value', 'larger than 2^53 - 1');
  });

  it('rejects an MSR number beyond 32 bits', () => {
    expectError(program([{ rdmsr: { msr: '0x100000000' } }]), 'vms[0].program[0].rdmsr.msr', 'must be at most 0xffffffff');
  });
});

