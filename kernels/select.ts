/**
 * The one place that decides which backend new tensors go to. Tensors carry their backend; ops run
 * where their inputs live. `setDefaultDevice` (or the VLGRAD_DEVICE environment variable) changes
 * where factories allocate.
 */
import type { Backend } from './backend.js';
import { cpu, cpuRef } from './cpu/backend.js';
import { envVar } from './platform.js';

const registry = new Map<string, Backend>([
  ['cpu', cpu],
  ['cpu-ref', cpuRef],
]);
let current: Backend | null = null;
/** Devices that register themselves only once started (kernels/gpujs: initBackend). */
const LAZY_DEVICES = ['webgpu', 'webasm', 'gpujs-cpu'];

/** Makes a backend selectable by name (the gpu.js and fast CPU backends register themselves). */
export function registerBackend(be: Backend): void {
  registry.set(be.device, be);
}

/** Every registered backend. */
export function registeredBackends(): Backend[] {
  return [...registry.values()];
}

/** The backend registered under `device`; a clear error naming the known devices otherwise. */
export function getBackend(device: string): Backend {
  const be = registry.get(device);
  if (be) return be;
  if (LAZY_DEVICES.includes(device)) {
    throw new Error(
      `device '${device}' is not started: call \`await initBackend('${device}')\` (or ` +
        `\`await useDevice('${device}')\`) from 'vlgrad/kernels' first; it loads gpu.js and, for webgpu, the GPU adapter`,
    );
  }
  throw new Error(`unknown device '${device}'; registered: ${[...registry.keys()].join(', ')}`);
}

/** Where factories allocate: set explicitly, else $VLGRAD_DEVICE, else 'cpu'. */
export function defaultBackend(): Backend {
  if (!current) {
    const env = envVar('VLGRAD_DEVICE');
    try {
      current = env ? getBackend(env) : cpu;
    } catch (e) {
      throw new Error(`VLGRAD_DEVICE=${env}: ${(e as Error).message}`);
    }
  }
  return current;
}

export function setDefaultDevice(device: string | Backend): void {
  current = typeof device === 'string' ? getBackend(device) : device;
}
