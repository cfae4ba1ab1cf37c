// Progress for long runs: a redrawn bar on a terminal, a plain line every 10% otherwise.
// Wall-clock time here is only for the display.
export class Progress {
  private lastPct = -1;
  private readonly startMs = Date.now(); // wall-clock ok: progress display only
  private readonly tty: boolean;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly label: string,
    enabled = true,
  ) {
    this.tty = enabled && !!out.isTTY && !process.env.CI;
    this.enabled = enabled;
  }

  private readonly enabled: boolean;

  update(done: number, total: number, events: number): void {
    if (!this.enabled || total <= 0) return;
    const pct = Math.floor((done / total) * 100);
    if (this.tty) {
      const width = 30;
      const filled = Math.round((done / total) * width);
      const secs = (Date.now() - this.startMs) / 1000; // wall-clock ok: progress display only
      const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct.toString().padStart(3)}% epoch ${done}/${total} ${formatCount(events)} events ${secs.toFixed(1)}s`;
      this.out.write(`\r${line}`);
      if (done >= total) this.out.write('\n');
      return;
    }
    const decile = Math.floor(pct / 10) * 10;
    if (decile > this.lastPct) {
      this.lastPct = decile;
      this.out.write(`${this.label} ${decile}% (epoch ${done}/${total}, ${formatCount(events)} events)\n`);
    }
  }
}

export function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}
