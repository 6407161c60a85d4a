/**
 * A per-op profiler: `profile(fn)` runs fn and returns wall time and call counts per op name, for
 * forward kernels and backward closures separately (backward times include the ops they call).
 * Times are host wall time: on an asynchronous backend they measure enqueueing, not the device.
 */
export interface OpStats {
  op: string;
  phase: 'forward' | 'backward';
  calls: number;
  ms: number;
}

let table: Map<string, OpStats> | null = null;

/** Whether a profile is being recorded (checked by apply and backward). */
export function profiling(): boolean {
  return table !== null;
}

/** Adds one timed call of `op` in `phase`. */
export function record(op: string, phase: OpStats['phase'], ms: number): void {
  if (!table) return;
  const key = `${phase}:${op}`;
  const s = table.get(key) ?? { op, phase, calls: 0, ms: 0 };
  s.calls++;
  s.ms += ms;
  table.set(key, s);
}

/** Runs `fn` and returns its result with per-op statistics, slowest first. */
export function profile<T>(fn: () => T): { result: T; stats: OpStats[] } {
  const outer = table;
  table = new Map();
  try {
    const result = fn();
    return { result, stats: [...table.values()].sort((a, b) => b.ms - a.ms) };
  } finally {
    table = outer;
  }
}

/** A markdown table of profile statistics. */
export function formatProfile(stats: readonly OpStats[], top = 20): string {
  const rows = stats.slice(0, top).map((s) => `| ${s.phase} | ${s.op} | ${s.calls} | ${s.ms.toFixed(1)} |`);
  return ['| phase | op | calls | ms |', '|---|---|---:|---:|', ...rows].join('\n');
}
