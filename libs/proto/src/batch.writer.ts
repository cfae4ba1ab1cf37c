// The protobuf writer of the event-batch encoder: the few protobufjs Writer operations it uses
// (uint32, uint64, string, fork/ldelim, finish), writing the same bytes straight into one reused
// growable buffer. protobufjs' Writer queues an operation object per field and builds a
// LongBits object for every value above 2^32, which made encoding a batch cost more than
// simulating it; this one allocates nothing per field.
//
// fork() leaves one byte for the length and ldelim() fills it in, moving the body up in the rare
// case its length needs a longer varint, so nested messages cost no second pass.

const utf8 = new TextEncoder();

export class BatchWriter {
  private buf = new Uint8Array(1 << 16);
  private pos = 0;
  private readonly forks: number[] = [];

  /** Starts a new message (the buffer is reused: finish() copies the bytes out). */
  reset(): this {
    this.pos = 0;
    this.forks.length = 0;
    return this;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.buf.subarray(0, this.pos));
    this.buf = bigger;
  }

  /** A non-negative integer below 2^32 (tags, small values) as a varint. */
  uint32(v: number): this {
    this.ensure(5);
    const buf = this.buf;
    let p = this.pos;
    v >>>= 0;
    while (v > 0x7f) {
      buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[p++] = v;
    this.pos = p;
    return this;
  }

  /**
   * A 64-bit unsigned varint from a JS number: exact for integers up to 2^53 and for the larger
   * integral values a double can hold (dividing by 128 is exact in binary floating point). A
   * negative value is written as its 64-bit two's complement, as protobufjs does.
   */
  uint64(v: number): this {
    if (v >= 0 && v < 0x1_0000_0000) return this.uint32(v);
    this.ensure(10);
    if (v < 0) {
      let b = BigInt.asUintN(64, BigInt(Math.trunc(v)));
      while (b > 0x7fn) {
        this.buf[this.pos++] = Number(b & 0x7fn) | 0x80;
        b >>= 7n;
      }
      this.buf[this.pos++] = Number(b);
      return this;
    }
    v = Math.trunc(v) % 2 ** 64;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  /** A length-delimited UTF-8 string. */
  string(s: string): this {
    this.ensure(s.length * 3 + 5);
    const start = this.fork().pos;
    this.pos += utf8.encodeInto(s, this.buf.subarray(start)).written;
    return this.ldelim();
  }

  /** Opens a length-delimited body (after its tag); ldelim() closes the innermost one. */
  fork(): this {
    this.ensure(1);
    this.forks.push(this.pos);
    this.pos++;
    return this;
  }

  ldelim(): this {
    const at = this.forks.pop();
    if (at === undefined) throw new Error('BatchWriter.ldelim without fork');
    const len = this.pos - at - 1;
    if (len < 0x80) {
      this.buf[at] = len;
      return this;
    }
    let extra = 0;
    for (let n = len >>> 7; n > 0; n >>>= 7) extra++;
    this.ensure(extra);
    this.buf.copyWithin(at + 1 + extra, at + 1, this.pos);
    this.pos += extra;
    let v = len;
    let p = at;
    while (v > 0x7f) {
      this.buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[p] = v;
    return this;
  }

  /** The message written since reset(), as a new array. */
  finish(): Uint8Array {
    if (this.forks.length > 0) throw new Error('BatchWriter.finish with an open fork');
    return this.buf.slice(0, this.pos);
  }
}
