/**
 * forEachBackend: runs the same specs on every device (candle's test_device!, tfjs's ALL_ENVS).
 * cpu, cpu-ref and gpujs-cpu always run; webasm when gpu.js loads; webgpu when a WebGPU adapter
 * exists, else the subtest is skipped with the reason printed, or fails when CI=true (CI installs
 * lavapipe, scripts/install_lavapipe.sh, so a missing adapter there is a broken CI).
 *
 * VLGRAD_TEST_DEVICES=cpu,webgpu restricts the devices (for local runs).
 * The float32 tolerances every backend is held to are stated here, once.
 */
import type { Backend } from '../../engine/index.js';
import { getBackend } from '../../kernels/select.js';
import { initBackend, isGpuJsDevice } from '../../kernels/gpujs/index.js';
import type { TestT } from '../nn/nn_helpers.js';
import { DEEP, deepAdds } from './deep.js';

/** All devices, in test order. */
export const DEVICES = ['cpu', 'cpu-ref', 'gpujs-cpu', 'webasm', 'webgpu'] as const;
export type Device = (typeof DEVICES)[number];

/**
 * float32 tolerances: a value v passes against the reference r when |v - r| <= tol·max(1, |r|)
 * (absolute below 1, relative above). `op`: one primitive or small composite against cpu-ref
 * replaying the same float32 ops (devices differ in transcendental rounding and f32 vs f64
 * accumulation). `torch`: against PyTorch's float32 or float64 fixtures. `curve`: a 50-step
 * training loss curve against cpu-ref (rounding differences compound over steps).
 */
export const F32_TOL = { op: 2e-5, torch: 2e-4, curve: 2e-3 } as const;

/** |a - b| <= tol·max(1, |b|) everywhere (NaN matches NaN, infinities must be equal); null when
 * all match, else a message naming the worst element. */
export function compareF32(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): string | null {
  if (actual.length !== expected.length) return `length ${actual.length}, expected ${expected.length}`;
  let worst = -1,
    worstErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i],
      b = expected[i];
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    if (!Number.isFinite(a) || !Number.isFinite(b)) {
      if (a !== b) return `element ${i}: ${a}, expected ${b}`;
      continue;
    }
    const err = Math.abs(a - b) / Math.max(1, Math.abs(b));
    if (err > tol && err > worstErr) {
      worst = i;
      worstErr = err;
    }
  }
  return worst < 0
    ? null
    : `element ${worst}: ${actual[worst]}, expected ${expected[worst]} (error ${worstErr.toExponential(2)} > ${tol})`;
}

/** A started backend, or why it is not available (`required`: the run must fail instead). */
export interface BackendSlot {
  device: Device;
  backend?: Backend;
  reason?: string;
  required?: boolean;
}

const started = new Map<Device, Promise<BackendSlot>>();

function wanted(): Device[] {
  const env = process.env.VLGRAD_TEST_DEVICES;
  if (!env) return [...DEVICES];
  const list = env
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const d of list)
    if (!(DEVICES as readonly string[]).includes(d)) throw new Error(`VLGRAD_TEST_DEVICES: unknown device '${d}'`);
  return list as Device[];
}

const DAWN_NOTE =
  'vlgrad tests: starting webgpu. Dawn\'s "artificially reduced" warnings below are expected ' +
  "(it clamps the driver's limits) and are not failures.\n";

/** Starts `device` once per process. */
export function startDevice(device: Device): Promise<BackendSlot> {
  let p = started.get(device);
  if (!p) {
    p = (async (): Promise<BackendSlot> => {
      if (!isGpuJsDevice(device)) return { device, backend: getBackend(device) };
      // Dawn prints "Warning: max...PerPipelineLayout artificially reduced ..." to stderr from native
      // code when the device starts, where JS cannot catch it; label it so it is not read as a failure.
      if (device === 'webgpu') process.stderr.write(DAWN_NOTE);
      try {
        return { device, backend: await initBackend(device) };
      } catch (e) {
        const reason = `${device} unavailable: ${(e as Error).message}`;
        const required = device === 'gpujs-cpu' || (device === 'webgpu' && process.env.CI === 'true');
        return { device, reason, required };
      }
    })();
    started.set(device, p);
  }
  return p;
}

/** Every wanted device, started (or with the reason it is not). */
export async function backends(): Promise<BackendSlot[]> {
  return Promise.all(wanted().map(startDevice));
}

/**
 * One subtest per device running `body(t, backend)`. An unavailable device is a skipped subtest
 * whose reason tap prints, or a failure where it is required (gpujs-cpu always, webgpu on CI).
 */
export async function forEachBackend(
  t: TestT,
  body: (t: TestT, be: Backend) => Promise<void> | void,
  opts: { exclude?: readonly Device[] } = {},
): Promise<void> {
  for (const slot of await backends()) {
    if (opts.exclude?.includes(slot.device)) continue;
    if (!slot.backend) {
      if (slot.required) t.fail(`${slot.reason} (required here${slot.device === 'webgpu' ? ': CI=true' : ''})`);
      else await t.test(slot.device, { skip: slot.reason }, async () => {});
      continue;
    }
    const be = slot.backend;
    await t.test(slot.device, async (tt) => {
      await body(tt, be);
    });
  }
}

/**
 * The gpu.js devices (webgpu, webasm, gpujs-cpu) run the same generated kernels, compiled three ways.
 * Every primitive is checked on each of them (conformance.test.ts); the bigger replays (PyTorch
 * fixtures, nn layers) run the same maths again, so by default they run on one of them: webgpu,
 * or gpujs-cpu where webgpu cannot start. VLGRAD_DEEP=1 runs them on all three. Use as
 * `forEachBackend(t, body, { exclude: await gpuTwins(what) })`; prints what deep mode adds.
 */
export async function gpuTwins(what: string): Promise<Device[]> {
  if (DEEP) return [];
  const webgpu = wanted().includes('webgpu') && (await startDevice('webgpu')).backend !== undefined;
  const twins: Device[] = webgpu ? ['gpujs-cpu', 'webasm'] : ['webasm'];
  deepAdds(`${what} on ${twins.join(' and ')} (the same gpu.js kernels as ${webgpu ? 'webgpu' : 'gpujs-cpu'})`);
  return twins;
}
