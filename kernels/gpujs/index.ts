/**
 * The gpu.js devices: 'webgpu' (WGSL compute through Dawn, the `webgpu` package), 'webasm' and
 * 'gpujs-cpu' (gpu.js's WebAssembly and plain-JS modes). They are not registered until started,
 * because starting loads optional packages and (webgpu) asks the system for an adapter:
 *
 *   import { useDevice } from 'vlgrad/kernels';
 *   await useDevice('webgpu');          // start it and make it the default device
 *   const x = randn([4, 4]);            // allocated on webgpu; ops enqueue and return at once
 *   console.log(await x.sum().itemAsync()); // reads await the device
 *
 * See docs/devices.md for the async contract, memory and the fallback counter.
 */
import type { Backend } from '../backend.js';
import { getBackend, registerBackend, setDefaultDevice } from '../select.js';
import { GpuJsBackend } from './backend.js';
import { GPUJS_MODES, GpuUnavailableError, start, type GpuJsDevice, type InitOptions } from './loader.js';
import { Runtime } from './runtime.js';
import { envVar } from '../platform.js';

export { GpuJsBackend, GpuDTypeError, MAX_EXACT } from './backend.js';
export { fallbacks, resetFallbacks } from './fallbacks.js';
export { GpuUnavailableError, type GpuJsDevice, type InitOptions } from './loader.js';

/** The gpu.js device names. */
export const GPUJS_DEVICES = Object.keys(GPUJS_MODES) as GpuJsDevice[];

/** Whether `device` names a gpu.js device. */
export function isGpuJsDevice(device: string): device is GpuJsDevice {
  return Object.hasOwn(GPUJS_MODES, device);
}

const starting = new Map<GpuJsDevice, Promise<GpuJsBackend>>();

/**
 * Starts a gpu.js device and registers it (idempotent: later calls return the same backend).
 * Rejects with a GpuUnavailableError saying why and how to fix it: a missing package
 * (`npm install gpu.js webgpu`) or no WebGPU adapter (`scripts/install_lavapipe.sh`, or a GPU
 * driver).
 */
export function initBackend(device: GpuJsDevice, opts: InitOptions = {}): Promise<GpuJsBackend> {
  if (!isGpuJsDevice(device)) {
    return Promise.reject(
      new Error(`initBackend: '${String(device)}' is not a gpu.js device (${GPUJS_DEVICES.join(', ')})`),
    );
  }
  let p = starting.get(device);
  if (!p) {
    p = (async () => {
      const mode = GPUJS_MODES[device];
      const started = await start(mode, opts);
      const rt = new Runtime(mode, started);
      try {
        await rt.prepare();
      } catch (e) {
        throw new GpuUnavailableError(
          `${device}: the device started but cannot run a kernel (${(e as Error).message.split('\n')[0]})`,
        );
      }
      const be = new GpuJsBackend(device, rt, started.description);
      registerBackend(be);
      return be;
    })();
    starting.set(device, p);
    p.catch(() => starting.delete(device));
  }
  return p;
}

/**
 * Makes `device` the default device, starting it first if it is a gpu.js one. Without an
 * argument it uses $VLGRAD_DEVICE (else 'cpu'), so `await useDevice()` at program start is all
 * an environment-selected device needs.
 */
export async function useDevice(device?: string, opts: InitOptions = {}): Promise<Backend> {
  const name = device ?? envVar('VLGRAD_DEVICE') ?? 'cpu';
  const be = isGpuJsDevice(name) ? await initBackend(name, opts) : getBackend(name);
  setDefaultDevice(be);
  return be;
}
