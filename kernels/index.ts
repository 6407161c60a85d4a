/**
 * vlgrad/kernels: the devices under the engine. The Backend contract, the registry that names
 * devices ('cpu', 'cpu-ref', and once started 'webgpu', 'webasm', 'gpujs-cpu'), per-device memory,
 * and starting the gpu.js devices. How to pick a device and what the async contract is:
 * docs/devices.md.
 */
import { registeredBackends } from './select.js';
import type { MemoryInfo } from './memory.js';

export type {
  Backend,
  DType,
  MatmulParams,
  Raw,
  ReduceKind,
  ScalarFn1,
  ScalarFn2,
  ScalarFn3,
  Shape,
  TypedArray,
  View,
} from './backend.js';
export { allocArray, dtypeOfArray, itemSize } from './backend.js';
export { MemoryTracker, type MemoryInfo } from './memory.js';
export { metaBackend, onMeta } from './meta.js';
export { defaultBackend, getBackend, registerBackend, registeredBackends, setDefaultDevice } from './select.js';
export { CpuBackend, cpu, cpuRef } from './cpu/backend.js';
export { setThreads, startThreads, threads, workersAvailable } from './wasm/index.js';
export {
  fallbacks,
  GPUJS_DEVICES,
  GpuDTypeError,
  GpuJsBackend,
  GpuUnavailableError,
  initBackend,
  isGpuJsDevice,
  MAX_EXACT,
  resetFallbacks,
  useDevice,
  type GpuJsDevice,
  type InitOptions,
} from './gpujs/index.js';

/** Live buffers and bytes on every registered device (the engine's `memory()` says the same). */
export function deviceMemory(): MemoryInfo[] {
  return registeredBackends().map((be) => be.memory());
}
