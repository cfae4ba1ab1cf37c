// A chunk sink that appends to a file with synchronous writes: the streaming writers
// (PerfettoWriter, OtlpJsonWriter) call it once per ~64 KiB, so memory stays flat and the file
// is complete when close() returns. Synchronous on purpose: onEvents is synchronous and the
// order of chunks must be the order of calls.
import { closeSync, openSync, writeSync } from 'node:fs';

export class FileChunkSink {
  private fd: number | null;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }

  /** Bound so it can be passed as a callback: `new PerfettoWriter(file.write)`. */
  readonly write = (chunk: string): void => {
    if (this.fd === null) throw new Error(`FileChunkSink: ${this.path} is closed`);
    writeSync(this.fd, chunk);
  };

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
