import { formatDurationNs, parseBandwidthBytesPerSec, parseDurationNs, parseInteger, parseSizeBytes } from './quantity.parser';

describe('quantities', () => {
  it.each([
    ['2s', 2_000_000_000],
    ['500ms', 500_000_000],
    ['250us', 250_000],
    ['250µs', 250_000],
    ['1.5ms', 1_500_000],
    ['0.3s', 300_000_000],
    ['0.000000001s', 1],
    ['7 ms', 7_000_000],
    ['-0ms', 0],
    [0, 0],
    [42, 42],
  ])('duration %p = %p ns', (input, ns) => {
    expect(parseDurationNs(input)).toEqual({ ok: true, value: ns });
  });

  it.each([
    ['100', 'has no unit'],
    ['1h', 'unknown duration unit "h"'],
    ['-1ms', 'must not be negative'],
    [-1, 'must not be negative'],
    ['0.5ns', 'not a whole number of nanoseconds'],
    [0.5, 'not a whole number of nanoseconds'],
    [NaN, 'expected a duration'],
    ['ms', 'is not a duration'],
    ['1e3ms', 'unknown duration unit "e3ms"'],
    ['1.ms', 'is not a duration'],
    ['99999999999s', 'too large'],
  ])('duration %p is refused: %s', (input, fragment) => {
    const r = parseDurationNs(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain(fragment);
  });

  it('reads sizes', () => {
    expect(parseSizeBytes('4GiB')).toEqual({ ok: true, value: 4 * 2 ** 30 });
    expect(parseSizeBytes('1.5KiB')).toEqual({ ok: true, value: 1536 });
    expect(parseSizeBytes('2TB')).toEqual({ ok: true, value: 2e12 });
    expect(parseSizeBytes('4gb').ok).toBe(false);
  });

  it('reads bandwidths in bits and bytes per second', () => {
    expect(parseBandwidthBytesPerSec('10Gbps')).toEqual({ ok: true, value: 1_250_000_000 });
    expect(parseBandwidthBytesPerSec('1GB/s')).toEqual({ ok: true, value: 1_000_000_000 });
    expect(parseBandwidthBytesPerSec('1GiB/s')).toEqual({ ok: true, value: 2 ** 30 });
    expect(parseBandwidthBytesPerSec('8bps')).toEqual({ ok: true, value: 1 });
    expect(parseBandwidthBytesPerSec('4bps').ok).toBe(false);
  });

  it('reads integers and hex strings', () => {
    expect(parseInteger('0x186')).toEqual({ ok: true, value: 0x186 });
    expect(parseInteger('0X4300C0')).toEqual({ ok: true, value: 0x4300c0 });
    expect(parseInteger(390)).toEqual({ ok: true, value: 390 });
    expect(parseInteger('0x1fffffffffffff')).toEqual({ ok: true, value: Number.MAX_SAFE_INTEGER });
    expect(parseInteger('0x20000000000000').ok).toBe(false);
    expect(parseInteger('12').ok).toBe(false);
    expect(parseInteger(1.5).ok).toBe(false);
  });

  it('formats durations compactly', () => {
    expect(formatDurationNs(200_000_000)).toBe('200ms');
    expect(formatDurationNs(1_500_000)).toBe('1.5ms');
    expect(formatDurationNs(2_000_000_000)).toBe('2s');
    expect(formatDurationNs(250_000)).toBe('250us');
    expect(formatDurationNs(3)).toBe('3ns');
    expect(formatDurationNs(1_234_567)).toBe('1234.567us');
  });
});
