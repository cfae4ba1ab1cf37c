import fc from 'fast-check';
import { crc32c } from './crc32c';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Bit-at-a-time reference straight from the definition (reflected 0x82F63B78). */
function crc32cReference(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it.each([
    ['the check value "123456789"', ascii('123456789'), 0xe3069283],
    ['empty input', new Uint8Array(0), 0],
    ['32 zero bytes (RFC 3720 B.4)', new Uint8Array(32), 0x8a9136aa],
    ['32 0xFF bytes (RFC 3720 B.4)', new Uint8Array(32).fill(0xff), 0x62a8ab43],
    ['32 incrementing bytes (RFC 3720 B.4)', Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
    ['32 decrementing bytes (RFC 3720 B.4)', Uint8Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
    ['"a"', ascii('a'), 0xc1d04330],
  ])('%s', (_name, data, expected) => {
    expect(crc32c(data)).toBe(expected);
  });

  it('matches the bitwise definition on arbitrary data (all slicing-by-8 alignments)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (data) => crc32c(data) === crc32cReference(data)));
  });

  it('continues over concatenated input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
        const ab = new Uint8Array(a.length + b.length);
        ab.set(a);
        ab.set(b, a.length);
        return crc32c(b, crc32c(a)) === crc32c(ab);
      }),
    );
  });

  it('works on views with a byte offset', () => {
    const big = ascii('xx123456789yy');
    expect(crc32c(big.subarray(2, 11))).toBe(0xe3069283);
  });
});
