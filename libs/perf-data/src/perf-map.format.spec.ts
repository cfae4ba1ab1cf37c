// The perf map text: the lines perf's dso__load_perf_map parses ("START SIZE name", hex, no 0x),
// in address order, and the inputs it would silently misread refused.
// Through the package alias: checks the lib's registration (tsconfig paths, jest mapper).
import { formatPerfMap, perfMapPath } from '@vpmu/perf-data';

describe('perf map symbol file', () => {
  it('writes START SIZE name in hex, sorted by address, names with spaces kept whole', () => {
    const text = formatPerfMap([
      { startAddr: 0x401200n, sizeBytes: 0x300, name: 'hash_block' },
      { startAddr: 0x401000, sizeBytes: 0x200n, name: 'operator new(unsigned long)' },
    ]);
    expect(text).toBe('401000 200 operator new(unsigned long)\n401200 300 hash_block\n');
  });

  it('names the path perf opens for the anonymous executable mappings of a pid', () => {
    expect(perfMapPath(4242)).toBe('/tmp/perf-4242.map');
    expect(() => perfMapPath(0)).toThrow(/positive/);
  });

  it('refuses overlaps, empty sizes and names that would break the line format', () => {
    expect(() => formatPerfMap([{ startAddr: 0x1000, sizeBytes: 0x20, name: 'a' }, { startAddr: 0x1010, sizeBytes: 0x10, name: 'b' }])).toThrow(/b overlaps a/);
    expect(() => formatPerfMap([{ startAddr: 0x1000, sizeBytes: 0, name: 'a' }])).toThrow(/size 0/);
    expect(() => formatPerfMap([{ startAddr: 0x1000, sizeBytes: 1, name: 'a\nb' }])).toThrow(/newline/);
    expect(() => formatPerfMap([{ startAddr: -1, sizeBytes: 1, name: 'a' }])).toThrow(/u64/);
  });
});
