/**
 * Synchronous reads for input checks that need values, not just shapes (oneHot's class range,
 * casting NaN to int32). Asynchronous devices (webgpu) cannot be read without waiting, so there
 * the checks are skipped and the kernels' behaviour applies.
 */
import type { TypedArray } from '../kernels/backend.js';
import type { Tensor } from './tensor.js';

/** The values of `t` where a synchronous read is possible (cpu, cpu-ref, gpujs-cpu, webasm), else null. */
export function syncValues(t: Tensor): TypedArray | null {
  if ((t.backend as { isAsync?: boolean }).isAsync === true) return null;
  return t.backend.readSync(t.raw);
}
