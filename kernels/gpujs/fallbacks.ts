/**
 * The fallback counter: how often a gpu.js backend ran an op on the CPU instead of the device
 * (an explicit delegation, or a kernel that failed to build). A training step should leave it
 * empty; test/kernels/conformance_train.test.ts asserts that for a transformer step.
 */
const counts = new Map<string, number>();

/** Counts one CPU fallback of `op` on `device`. */
export function countFallback(device: string, op: string): void {
  const key = `${device}:${op}`;
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** CPU fallbacks since start (or the last reset), keyed '<device>:<op>'. Empty means none. */
export function fallbacks(): Record<string, number> {
  return Object.fromEntries(counts);
}

/** Zeroes the counter (e.g. before the step you want to inspect). */
export function resetFallbacks(): void {
  counts.clear();
}
