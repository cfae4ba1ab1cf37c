// A growable little-endian byte buffer. perf.data carries no byte-order field apart from the
// magic, and perf swaps a foreign-endian file on read; writing little endian always (whatever the
// host) keeps the bytes of a run identical on every machine, which the replay digests rely on.

/** A u64 as the callers have it: small values as numbers, addresses and ids as bigints. */
export type U64 = number | bigint;

const U64_MAX = (1n << 64n) - 1n;

/** Converts a caller's u64 to bigint, refusing what would silently wrap on the wire. */
export function toU64(value: U64, what: string): bigint {
  const v = typeof value === 'bigint' ? value : BigInt(checkSafeInteger(value, what));
  if (v < 0n || v > U64_MAX) throw new RangeError(`${what} ${v} does not fit in a u64`);
  return v;
}

function checkSafeInteger(value: number, what: string): number {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${what} ${value} is not a safe integer`);
  return value;
}

function checkRange(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${value} does not fit in a ${what}`);
}

export class ByteWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initialBytes = 4096) {
    this.buf = Buffer.alloc(initialBytes);
  }

  get length(): number {
    return this.len;
  }

  private ensure(extraBytes: number): void {
    if (this.len + extraBytes <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extraBytes) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(value: number): this {
    checkRange(value, 0, 0xff, 'u8');
    this.ensure(1);
    this.buf.writeUInt8(value, this.len);
    this.len += 1;
    return this;
  }

  u16(value: number): this {
    checkRange(value, 0, 0xffff, 'u16');
    this.ensure(2);
    this.buf.writeUInt16LE(value, this.len);
    this.len += 2;
    return this;
  }

  /** A u32; -1 is accepted as the kernel's (u32)-1 (pid -1 of the kernel's own records). */
  u32(value: number): this {
    checkRange(value, -1, 0xffffffff, 'u32');
    this.ensure(4);
    this.buf.writeUInt32LE(value >>> 0, this.len);
    this.len += 4;
    return this;
  }

  i32(value: number): this {
    checkRange(value, -0x80000000, 0x7fffffff, 'i32');
    this.ensure(4);
    this.buf.writeInt32LE(value, this.len);
    this.len += 4;
    return this;
  }

  u64(value: U64, what = 'value'): this {
    this.ensure(8);
    this.buf.writeBigUInt64LE(toU64(value, what), this.len);
    this.len += 8;
    return this;
  }

  bytes(data: Uint8Array): this {
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
    return this;
  }

  zeros(count: number): this {
    this.ensure(count);
    this.buf.fill(0, this.len, this.len + count);
    this.len += count;
    return this;
  }

  /** Pads with zero bytes up to a multiple of `alignBytes`. */
  align(alignBytes: number): this {
    const rem = this.len % alignBytes;
    return rem === 0 ? this : this.zeros(alignBytes - rem);
  }

  /** Overwrites a u16 already written (record sizes are known only once the body is done). */
  patchU16(offset: number, value: number): void {
    this.buf.writeUInt16LE(value, offset);
  }

  patchU64(offset: number, value: U64): void {
    this.buf.writeBigUInt64LE(toU64(value, 'patched value'), offset);
  }

  /** A copy of the bytes written so far. */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

/** A NUL-terminated string padded with zeros to a multiple of `alignBytes` (at least one NUL). */
export function paddedCString(text: string, alignBytes: number): Buffer {
  const raw = Buffer.from(text, 'utf8');
  if (raw.includes(0)) throw new RangeError(`string ${JSON.stringify(text)} contains a NUL byte`);
  const size = Math.ceil((raw.length + 1) / alignBytes) * alignBytes;
  const out = Buffer.alloc(size);
  raw.copy(out);
  return out;
}
