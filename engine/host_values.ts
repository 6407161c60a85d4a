/**
 * Synchronous reads for input checks that need values, not just shapes (oneHot's class range,
 * casting NaN to int32). Asynchronous devices (webgpu) cannot be read without waiting; there the
 * int32 data uploaded from the host keeps a host copy (class ids and labels from a data loader are
 * checked from it, as gather/indexSelect's indices are), and device-computed values go unchecked.
 */
import type { TypedArray } from '../kernels/backend.js';
import type { Tensor } from './tensor.js';

/**
 * The values of `t` where a synchronous read is possible (cpu, cpu-ref, gpujs-cpu, webasm, and on
 * webgpu int32 data uploaded from the host), else null.
 */
export function syncValues(t: Tensor): TypedArray | null {
  if ((t.backend as { isAsync?: boolean }).isAsync === true)
    return (t.raw as { hostIndex?: Int32Array }).hostIndex ?? null;
  return t.backend.readSync(t.raw);
}

/**
 * Runs `check` on the values of `t`: now where they can be read synchronously (an error throws from
 * the op), else on the asynchronous device's next read (webgpu: the error rejects the next `data()`,
 * `itemAsync()` or `sync()` there, as a CUDA device-side assert does at the next synchronization).
 */
export function checkValues(t: Tensor, check: (values: ArrayLike<number>) => void): void {
  const values = syncValues(t);
  if (values) return check(values);
  t.backend.checkLater?.(t.raw, check);
}
