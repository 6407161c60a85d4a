/**
 * Loads the optional packages behind the gpu.js devices, lazily: `gpu.js` for every mode and
 * `webgpu` (Dawn) for mode 'webgpu'. Nothing here runs until `initBackend` asks for a device, so a
 * user of the CPU backends never needs either package. Every failure becomes a GpuUnavailableError
 * that says what is missing and how to fix it.
 */
import { coreCount } from '../platform.js';

/** The gpu.js devices and the gpu.js mode each one runs in. */
export const GPUJS_MODES = { webgpu: 'webgpu', webasm: 'webasm', 'gpujs-cpu': 'cpu' } as const;
export type GpuJsDevice = keyof typeof GPUJS_MODES;
export type GpuJsMode = (typeof GPUJS_MODES)[GpuJsDevice];

/** A device that cannot start; the message names the cause and the fix. */
export class GpuUnavailableError extends Error {
  override name = 'GpuUnavailableError';
}

/** The parts of gpu.js 2.24 that vlgrad uses (it ships no types we can rely on). */
export interface GpuJsKernel {
  (...args: unknown[]): unknown;
  setOutput(output: number[]): unknown;
  kernel?: unknown;
}
export interface GpuJsInstance {
  createKernel(source: string, settings: Record<string, unknown>): GpuJsKernel;
}
/** A gpu.js pipeline result on the WebGPU device (WebGPUBufferResult). */
export interface DeviceHandle {
  /** Its GPUBuffer (read by the hand-written WGSL matmul, wgsl_matmul.ts). */
  readonly buffer: unknown;
  readonly output: number[];
  delete(): void;
  toArray(): Promise<unknown>;
}
interface GPUDeviceLike {
  queue?: { onSubmittedWorkDone(): Promise<void> };
  createBuffer(d: { size: number; usage: number; mappedAtCreation: boolean }): {
    getMappedRange(): ArrayBuffer;
    unmap(): void;
  };
}
export interface GpuJsModule {
  GPU: (new (settings: { mode: string }) => GpuJsInstance) & { isWebGPUAvailable(): Promise<boolean> };
  WebGPUContext: { acquire(): Promise<{ device: GPUDeviceLike; adapter: { info?: { description?: string } } }> };
  WebGPUBufferResult: new (settings: Record<string, unknown>) => DeviceHandle;
}

/** How to install a missing package: `webasm`/`gpujs-cpu` need gpu.js, `webgpu` needs gpu.js and webgpu. */
const fixPackage = (name: string) =>
  `npm install ${name} (an optional peer dependency of vlgrad; the webgpu device needs both gpu.js and webgpu)`;
const FIX_ADAPTER =
  'on Debian/Ubuntu without a GPU run scripts/install_lavapipe.sh (Mesa lavapipe, a software ' +
  'Vulkan driver from bookworm-backports); with a GPU, install its Vulkan driver. Check with ' +
  'node tools/webgpu_adapter.mjs';

/** Imports a package by a name TypeScript does not resolve, so a missing optional dependency
 * is a runtime error we can explain, not a compile error. */
export async function importOptional(name: string): Promise<Record<string, unknown>> {
  try {
    const mod = (await import(name)) as Record<string, unknown>;
    return (mod.default && typeof mod.default === 'object' ? mod.default : mod) as Record<string, unknown>;
  } catch (e) {
    throw new GpuUnavailableError(
      `cannot load the '${name}' package (${(e as Error).message.split('\n')[0]}); ` + `fix: ${fixPackage(name)}`,
    );
  }
}

let gpujs: Promise<GpuJsModule> | null = null;

/**
 * gpu.js, loaded once. A page that loaded gpu.js's browser build (it sets `globalThis.GPU`, e.g.
 * `import 'gpu.js'` in an esbuild bundle, or a script tag) gets that copy; elsewhere the package is
 * imported by name.
 */
export function loadGpuJs(): Promise<GpuJsModule> {
  const global = (globalThis as { GPU?: Partial<GpuJsModule> }).GPU;
  if (!gpujs && global?.WebGPUContext && global.WebGPUBufferResult) gpujs = Promise.resolve(global as GpuJsModule);
  gpujs ??= importOptional('gpu.js').then((m) => m as unknown as GpuJsModule);
  gpujs.catch(() => {
    gpujs = null;
  });
  return gpujs;
}

// gpu.js asks the adapter only for bigger buffers, which leaves WebGPU's default of 8 storage
// buffers per stage: at most 7 array arguments. Ask for what the adapter allows (16 on lavapipe).
const EXTRA_LIMITS = ['maxStorageBuffersPerShaderStage', 'maxComputeInvocationsPerWorkgroup'];

interface AdapterLike {
  limits: Record<string, number>;
  requestDevice(desc?: { requiredLimits?: Record<string, number> }): Promise<unknown>;
}
interface NavigatorGpu {
  requestAdapter(o?: unknown): Promise<AdapterLike | null>;
}

function withRaisedLimits(gpu: NavigatorGpu): NavigatorGpu {
  return {
    async requestAdapter(options?: unknown) {
      const adapter = await gpu.requestAdapter(options);
      if (!adapter) return adapter;
      const requestDevice = adapter.requestDevice.bind(adapter);
      adapter.requestDevice = (desc = {}) => {
        const requiredLimits = { ...(desc.requiredLimits ?? {}) };
        for (const k of EXTRA_LIMITS) if (!(k in requiredLimits)) requiredLimits[k] = adapter.limits[k];
        return requestDevice({ ...desc, requiredLimits });
      };
      return adapter;
    },
  };
}

/** Installs `navigator.gpu` from the `webgpu` package: gpu.js's WebGPU backend reads only that
 * global (Node 20 has no navigator; Node >= 21 has one without `gpu`). */
async function installNavigatorGpu(dawnFlags: string[]): Promise<void> {
  const g = globalThis as { navigator?: { gpu?: NavigatorGpu } };
  if (g.navigator?.gpu) return raiseLimitsOf(g.navigator.gpu);
  const webgpu = await importOptional('webgpu');
  const create = webgpu.create as ((flags: string[]) => NavigatorGpu) | undefined;
  if (typeof create !== 'function')
    throw new GpuUnavailableError(`the 'webgpu' package has no create(); fix: ${fixPackage('webgpu')}`);
  const gpu = withRaisedLimits(create(dawnFlags));
  raised.add(gpu);
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else {
    Object.defineProperty(globalThis, 'navigator', {
      value: { gpu, hardwareConcurrency: coreCount() },
      configurable: true,
      writable: true,
    });
  }
}

const raised = new WeakSet<object>();

/** A browser's own `navigator.gpu` (gpu.js uses it directly) gets the same raised device limits. */
function raiseLimitsOf(gpu: NavigatorGpu): void {
  if (raised.has(gpu)) return;
  raised.add(gpu);
  const requestAdapter = gpu.requestAdapter.bind(gpu);
  Object.defineProperty(gpu, 'requestAdapter', {
    value: withRaisedLimits({ requestAdapter }).requestAdapter,
    configurable: true,
  });
}

function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new GpuUnavailableError(`${what} did not answer within ${ms} ms; fix: ${FIX_ADAPTER}`)),
      ms,
    );
    (timer as { unref?: () => void }).unref?.(); // Node: a pending adapter request must not keep the process alive
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** What a started mode gives the backend. */
export interface Started {
  module: GpuJsModule;
  gpu: GpuJsInstance;
  /** The WebGPU device (mode 'webgpu' only), for synchronous uploads. */
  device?: GPUDeviceLike;
  context?: unknown;
  /** e.g. 'llvmpipe: Mesa 25.0.7 ...'. */
  description: string;
}

/** Options for starting a gpu.js device. */
export interface InitOptions {
  /** Dawn toggles for `create()`, e.g. ['adapter=llvmpipe (LLVM 15.0.6, 256 bits)']. */
  dawnFlags?: string[];
  /** How long to wait for a WebGPU adapter and device (ms). Default 30000. */
  timeoutMs?: number;
}

/** Loads the packages and starts gpu.js in `mode`; throws GpuUnavailableError with a fix. */
export async function start(mode: GpuJsMode, opts: InitOptions = {}): Promise<Started> {
  const module = await loadGpuJs();
  if (mode !== 'webgpu') {
    if (mode === 'webasm' && typeof WebAssembly === 'undefined')
      throw new GpuUnavailableError('webasm: this runtime has no WebAssembly');
    return { module, gpu: new module.GPU({ mode }), description: `gpu.js ${mode} mode` };
  }
  await installNavigatorGpu(opts.dawnFlags ?? []);
  const ms = opts.timeoutMs ?? 30000;
  const available = await timeout(module.GPU.isWebGPUAvailable(), ms, 'WebGPU requestAdapter()');
  if (!available)
    throw new GpuUnavailableError(
      `webgpu: no WebGPU adapter (navigator.gpu.requestAdapter() gave null); fix: ${FIX_ADAPTER}`,
    );
  let context: Awaited<ReturnType<GpuJsModule['WebGPUContext']['acquire']>>;
  try {
    context = await timeout(module.WebGPUContext.acquire(), ms, 'WebGPU requestDevice()');
  } catch (e) {
    if (e instanceof GpuUnavailableError) throw e;
    throw new GpuUnavailableError(`webgpu: the adapter gave no device (${(e as Error).message}); fix: ${FIX_ADAPTER}`);
  }
  const description = context.adapter.info?.description ?? 'unknown adapter';
  return { module, gpu: new module.GPU({ mode: 'webgpu' }), device: context.device, context, description };
}
