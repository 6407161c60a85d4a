/**
 * What bench/device_layer.ts and bench/albef_step.ts share: starting any device by name, its kernel
 * launch count, a one-line reason for a failure, and the table of a gpu.js device's per-kernel times
 * (GpuJsBackend.deviceProfile, `--profile`).
 */
import type { Backend } from '../engine/index.js';
import { getBackend, initBackend, isGpuJsDevice } from '../kernels/index.js';
import type { KernelTime } from '../kernels/gpujs/backend.js';

/** Starts `device` (the gpu.js devices through initBackend); throws with the reason when it cannot. */
export async function startDevice(device: string): Promise<Backend> {
  return isGpuJsDevice(device) ? await initBackend(device) : getBackend(device);
}

/** Kernel launches so far on a gpu.js device (NaN elsewhere). */
export const launchesOn = (be: Backend): number =>
  (be as { kernelLaunches?: () => number }).kernelLaunches?.() ?? Number.NaN;

/** An error's first line, with its name. */
export const reason = (e: unknown): string =>
  (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).split('\n')[0];

/** The slowest kernels by name and output size, then totals by kernel name. */
export function formatKernelTimes(stats: readonly KernelTime[], top = 15): string {
  const total = stats.reduce((a, s) => a + s.ms, 0),
    calls = stats.reduce((a, s) => a + s.calls, 0);
  const byName = new Map<string, KernelTime>();
  for (const s of stats) {
    const name = s.kernel.replace(/ \d+$/, '');
    const r = byName.get(name) ?? { kernel: name, calls: 0, ms: 0 };
    r.calls += s.calls;
    r.ms += s.ms;
    byName.set(name, r);
  }
  const rows = (xs: readonly KernelTime[]) =>
    xs
      .slice(0, top)
      .map(
        (s) =>
          `| ${s.kernel} | ${s.calls} | ${s.ms.toFixed(2)} | ${(s.ms / s.calls).toFixed(3)} | ${((100 * s.ms) / total).toFixed(1)}% |`,
      );
  const head = ['| kernel | launches | ms | ms a launch | share |', '|---|---:|---:|---:|---:|'];
  return [
    `${calls} launches, ${total.toFixed(1)} ms in all (each launch waited for: kernel time plus one round trip)`,
    '',
    'by kernel and output size:',
    ...head,
    ...rows(stats),
    '',
    'by kernel:',
    ...head,
    ...rows([...byName.values()].sort((a, b) => b.ms - a.ms)),
  ].join('\n');
}
