/** A one-line training progress bar: step, bar, ETA, loss components, samples/s. */

/** Seconds as h:mm:ss or m:ss. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds)),
    h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60),
    r = s % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(r).padStart(2, '0')}`;
}

export interface ProgressState {
  step: number;
  total: number;
  /** Seconds since this run (or resume) started, and the steps done in that time. */
  elapsed: number;
  stepsDone: number;
  samplesPerSecond: number;
  losses: Record<string, number>;
}

/** `step 120/3000 [####......] 4% | 1:02 elapsed, ETA 24:10 | itc 2.310 itm 0.631 mlm 3.102 | 45.2 samples/s`. */
export function formatProgress(p: ProgressState, width = 20): string {
  const frac = p.total > 0 ? p.step / p.total : 1,
    fill = Math.round(frac * width);
  const eta = p.stepsDone > 0 ? (p.elapsed / p.stepsDone) * (p.total - p.step) : NaN;
  const losses = Object.entries(p.losses)
    .map(([k, v]) => `${k} ${v.toFixed(3)}`)
    .join(' ');
  return (
    `step ${p.step}/${p.total} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${Math.floor(100 * frac)}% | ` +
    `${formatDuration(p.elapsed)} elapsed, ETA ${formatDuration(eta)} | ${losses} | ${p.samplesPerSecond.toFixed(1)} samples/s`
  );
}

/** Redraws one line on a TTY (`\r`), or prints a line every `every` steps elsewhere (CI logs). */
export class ProgressBar {
  private lastLen = 0;
  constructor(
    private readonly out: { write(s: string): unknown; isTTY?: boolean } = process.stderr, // process.stderr fits; named structurally so the published types need no @types/node
    private readonly every = 10,
  ) {}

  update(p: ProgressState): void {
    const line = formatProgress(p);
    if (this.out.isTTY) {
      this.out.write(`\r${line}${' '.repeat(Math.max(0, this.lastLen - line.length))}`);
      this.lastLen = line.length;
    } else if (p.step % this.every === 0 || p.step === p.total) {
      this.out.write(`${line}\n`);
    }
  }

  /** Ends the redrawn line. */
  done(): void {
    if (this.out.isTTY && this.lastLen > 0) this.out.write('\n');
    this.lastLen = 0;
  }
}
