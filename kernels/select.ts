/**
 * The one place that decides which backend new tensors go to. Tensors carry their backend; ops run
 * where their inputs live. `setDefaultDevice` (or the VLGRAD_DEVICE environment variable) changes
 * where factories allocate.
 */
import type { Backend } from './backend.js';
import { cpu, cpuRef } from './cpu/backend.js';

const registry = new Map<string, Backend>([['cpu', cpu], ['cpu-ref', cpuRef]]);
let current: Backend | null = null;

/** Makes a backend selectable by name (the gpu.js and fast CPU backends register themselves). */
export function registerBackend(be: Backend): void { registry.set(be.device, be); }

/** Every registered backend. */
export function registeredBackends(): Backend[] { return [...registry.values()]; }

/** The backend registered under `device`; a clear error naming the known devices otherwise. */
export function getBackend(device: string): Backend {
  const be = registry.get(device);
  if (!be) throw new Error(`unknown device '${device}'; registered: ${[...registry.keys()].join(', ')}`);
  return be;
}

/** Where factories allocate: set explicitly, else $VLGRAD_DEVICE, else 'cpu'. */
export function defaultBackend(): Backend {
  if (!current) {
    const env = typeof process !== 'undefined' ? process.env.VLGRAD_DEVICE : undefined;
    current = env ? getBackend(env) : cpu;
  }
  return current;
}

export function setDefaultDevice(device: string | Backend): void {
  current = typeof device === 'string' ? getBackend(device) : device;
}
