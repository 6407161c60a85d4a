// Shared setup for the gpu.js spike scripts (see docs/gpu_spike.md).
//
// gpu.js 2.24.1 never imports the `webgpu` package itself (its nested
// node_modules/gpu.js/node_modules/webgpu@0.2.9 pin is dead weight, and does
// not even load here: GLIBCXX_3.4.32 missing). Its WebGPU backend reads the
// global `navigator.gpu` (src/backend/web-gpu/context.js), and `new GPU({ mode:
// 'webgpu' })` checks `navigator.gpu` at construction. So: install a
// navigator.gpu from the top-level webgpu@0.6.2 BEFORE `new GPU(...)`.
import { createRequire } from 'node:module';
import os from 'node:os';

const require = createRequire(import.meta.url);

/**
 * Install `navigator.gpu` from top-level webgpu@0.6.2. Idempotent. Returns the GPU object or null.
 * `raiseLimits` (default true): gpu.js's WebGPUContext.acquire() requests only
 * maxStorageBufferBindingSize/maxBufferSize, so the spec default of 8 storage
 * buffers per stage caps a kernel at 7 array arguments (+1 output). We wrap
 * requestAdapter so that the device gets the adapter's maxStorageBuffersPerShaderStage
 * (16 on lavapipe) — no node_modules edit needed.
 */
export async function installNavigatorGpu(dawnFlags = [], { raiseLimits = true } = {}) {
  if (globalThis.navigator && globalThis.navigator.gpu) return globalThis.navigator.gpu;
  let create;
  try {
    ({ create } = await import('webgpu'));
  } catch (e) {
    console.error('[spike] cannot load webgpu:', e.message);
    return null;
  }
  let gpu = create(dawnFlags);
  if (raiseLimits) gpu = withRaisedLimits(gpu);
  if (globalThis.navigator) {
    // Node >= 21 has a global navigator (getter-only on globalThis): add to it
    Object.defineProperty(globalThis.navigator, 'gpu', { value: gpu, configurable: true });
  } else {
    // Node 20: no navigator. Keep hardwareConcurrency (gpu.js webasm pool reads it).
    Object.defineProperty(globalThis, 'navigator', {
      value: { gpu, hardwareConcurrency: os.availableParallelism?.() ?? os.cpus().length },
      configurable: true, writable: true,
    });
  }
  return gpu;
}

const EXTRA_LIMITS = ['maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup'];
function withRaisedLimits(gpu) {
  return {
    __proto__: null,
    wgslLanguageFeatures: gpu.wgslLanguageFeatures,
    getPreferredCanvasFormat: () => gpu.getPreferredCanvasFormat(),
    async requestAdapter(options) {
      const adapter = await gpu.requestAdapter(options);
      if (!adapter) return adapter;
      const requestDevice = adapter.requestDevice.bind(adapter);
      adapter.requestDevice = (desc = {}) => {
        const requiredLimits = { ...(desc.requiredLimits || {}) };
        for (const k of EXTRA_LIMITS) if (!(k in requiredLimits)) requiredLimits[k] = adapter.limits[k];
        return requestDevice({ ...desc, requiredLimits });
      };
      return adapter;
    },
  };
}

export function loadGpuJs() {
  return require('gpu.js'); // CJS; { GPU, input, WebGPUContext, ... }
}

/** new GPU({mode}) for 'webgpu' | 'webasm' | 'cpu'; throws if unsupported. */
export async function makeGPU(mode) {
  if (mode === 'webgpu') {
    if (!(await installNavigatorGpu())) throw new Error('no navigator.gpu');
  }
  const { GPU } = loadGpuJs();
  return new GPU({ mode });
}

/** Await a kernel result whether it is sync (cpu/webasm) or a Promise (webgpu). */
export async function settle(v) {
  return v && typeof v.then === 'function' ? await v : v;
}

/** Read back a pipeline handle (webgpu: WebGPUBufferResult; cpu/webasm: typed array). */
export async function readBack(v) {
  v = await settle(v);
  if (v && typeof v.toArray === 'function') return await v.toArray();
  return v;
}

export function now() {
  return performance.now();
}

/** Time `fn` (async allowed): warmup runs, then median of `reps` runs, in ms. */
export async function timeit(fn, { warmup = 1, reps = 5 } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const ts = [];
  for (let i = 0; i < reps; i++) {
    const t0 = now();
    await fn();
    ts.push(now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

export function randn(n, seed = 1) {
  // small deterministic LCG (spike only)
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

export function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Flatten gpu.js output (Float32Array | Float32Array[] | Float32Array[][]) into one Float32Array. */
export function flat(r) {
  if (ArrayBuffer.isView(r)) return r;
  const parts = [];
  const walk = (x) => (ArrayBuffer.isView(x) ? parts.push(x) : x.forEach(walk));
  walk(r);
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Float32Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export const MODES = (process.env.SPIKE_MODES || 'webgpu,webasm,cpu').split(',');

/** Destroy everything: kernels of the GPU instance, and (webgpu) the shared device so node can exit. */
export async function teardown(gpu) {
  if (gpu) await gpu.destroy();
  const { WebGPUContext } = loadGpuJs();
  await WebGPUContext.destroy();
}

/**
 * argumentTypes for a kernel source: names in `arrays` -> 'Array', the rest -> 'Integer'
 * (i32 uniforms). gpu.js otherwise types integral JS numbers as 'Float'/'Number' (f32)
 * on webgpu even with strictIntegers: true.
 */
export function intArgs(src, arrays) {
  const names = src.slice(src.indexOf('(') + 1, src.indexOf(')')).split(',').map((t) => t.trim()).filter(Boolean);
  return Object.fromEntries(names.map((n) => [n, arrays.includes(n) ? 'Array' : 'Integer']));
}
