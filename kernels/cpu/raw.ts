/** The CPU backend's buffer: a typed array on the host. */
import type { DType, Raw, TypedArray } from '../backend.js';

export class CpuRaw implements Raw {
  readonly device = 'cpu';
  tensors = 0;
  tracked: object | null = null;
  constructor(
    readonly data: TypedArray,
    readonly dtype: DType,
  ) {}
  get size(): number {
    return this.data.length;
  }
}

/** The host array behind a CPU handle; a clear error for any other device's handle. */
export function host(x: Raw): TypedArray {
  if (!(x instanceof CpuRaw)) throw new Error(`cpu backend: got a buffer from device '${x.device}'`);
  return x.data;
}
