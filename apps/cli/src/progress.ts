// Progress for long runs: a redrawn bar on a terminal, a plain line every 10% otherwise.
// Wall-clock time here is only for the display.
const REDRAW_EVERY_MS = 100;
/** ANSI "erase to the end of the line": a shorter redraw leaves nothing of the longer one. */
const ERASE_LINE_END = '\x1b[K';

export class Progress {
  private lastPct = -1;
  private lastDrawMs = -Infinity;
  private finished = false;
  private readonly startMs = Date.now(); // wall-clock ok: progress display only
  private readonly tty: boolean;
  private readonly enabled: boolean;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly label: string,
    enabled = true,
  ) {
    this.tty = enabled && !!out.isTTY && !process.env.CI;
    this.enabled = enabled;
  }

  /**
   * `done` of `total` epochs. Updates past the end (the run's drain epochs) are ignored: the
   * 100% line is drawn once.
   */
  update(done: number, total: number, events: number): void {
    if (!this.enabled || total <= 0 || this.finished) return;
    const last = done >= total;
    if (last) this.finished = true;
    const pct = Math.floor((Math.min(done, total) / total) * 100);
    if (this.tty) {
      const nowMs = Date.now(); // wall-clock ok: progress display only
      if (!last && pct === this.lastPct && nowMs - this.lastDrawMs < REDRAW_EVERY_MS) return;
      this.lastPct = pct;
      this.lastDrawMs = nowMs;
      const width = 30;
      const filled = Math.round((Math.min(done, total) / total) * width);
      const elapsedS = (nowMs - this.startMs) / 1000;
      const eta = last || done <= 0 ? '' : ` eta ${formatSeconds((elapsedS * (total - done)) / done)}`;
      const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct.toString().padStart(3)}% epoch ${Math.min(done, total)}/${total} ${formatCount(events)} events ${elapsedS.toFixed(1)}s${eta}`;
      this.out.write(`\r${line}${ERASE_LINE_END}${last ? '\n' : ''}`);
      return;
    }
    const decile = Math.floor(pct / 10) * 10;
    if (decile > this.lastPct) {
      this.lastPct = decile;
      this.out.write(`${this.label} ${decile}% (epoch ${Math.min(done, total)}/${total}, ${formatCount(events)} events)\n`);
    }
  }
}

function formatSeconds(s: number): string {
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${s.toFixed(1)}s`;
}

export function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}
