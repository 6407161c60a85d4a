/**
 * The shapes-only "meta" device (PyTorch's `device='meta'`): every buffer has a dtype and a size but
 * no data. Every Backend method returns a buffer of the right size and dtype without computing, so a
 * whole model (ALBEF with its momentum copy and queues, VLMo-Large) can be built to count its
 * parameters from the real module tree while no weight buffer is kept. Reads return zeros: nn's
 * Embedding reads its table once to zero the padding row, and the values of a meta tensor are
 * meaningless anyway.
 */
import {
  allocArray,
  sizeOf,
  type Backend,
  type DType,
  type Raw,
  type Shape,
  type TypedArray,
  type View,
} from './backend.js';
import type { MemoryInfo } from './memory.js';
import { defaultBackend, setDefaultDevice } from './select.js';

/** A buffer that has a dtype and a size but no data. */
class MetaRaw implements Raw {
  readonly device = 'meta';
  constructor(
    readonly dtype: DType,
    readonly size: number,
  ) {}
}

const like = (x: Raw, dtype = x.dtype): Raw => new MetaRaw(dtype, x.size);
const zeros = (x: Raw): TypedArray => allocArray(x.dtype, x.size);

/** The meta device: shapes and dtypes only. Not registered by name; use it through `onMeta`. */
export const metaBackend: Backend = {
  device: 'meta',
  hostData: false,
  upload: (data: TypedArray, dtype: DType): Raw => new MetaRaw(dtype, data.length),
  full: (size: number, _value: number, dtype: DType): Raw => new MetaRaw(dtype, size),
  read: (x: Raw): Promise<TypedArray> => Promise.resolve(zeros(x)),
  readSync: zeros,
  dispose: (): void => {},
  memory: (): MemoryInfo => ({ device: 'meta', buffers: 0, bytes: 0 }),
  unary: (_f, _x, xv: View, dtype: DType): Raw => new MetaRaw(dtype, sizeOf(xv.shape)),
  binary: (_f, _a, av: View, _b, _bv, dtype: DType): Raw => new MetaRaw(dtype, sizeOf(av.shape)),
  ternary: (_f, _c, cv: View, _a, _av, _b, _bv, dtype: DType): Raw => new MetaRaw(dtype, sizeOf(cv.shape)),
  reduce: (kind, x: Raw, shape: Shape, axes: readonly number[]): Raw =>
    new MetaRaw(
      kind === 'argmax' || kind === 'argmin' ? 'int32' : x.dtype,
      sizeOf(shape.map((n, d) => (axes.includes(d) ? 1 : n))),
    ),
  matmul: (a: Raw, _b, p): Raw => new MetaRaw(a.dtype, p.batch * p.m * p.n),
  copyStrided: (x: Raw, v: View): Raw => new MetaRaw(x.dtype, sizeOf(v.shape)),
  writeStrided: (base: Raw): Raw => like(base),
  gather: (x: Raw, _xShape, _dim, _index, indexShape: Shape): Raw => new MetaRaw(x.dtype, sizeOf(indexShape)),
  scatterAdd: (base: Raw): Raw => like(base),
  indexSelect: (x: Raw, xShape: Shape, dim: number, index: Raw): Raw =>
    new MetaRaw(x.dtype, sizeOf(xShape.map((n, d) => (d === dim ? index.size : n)))),
  indexAdd: (base: Raw): Raw => like(base),
  cast: (x: Raw, dtype: DType): Raw => like(x, dtype),
};

/** Runs `fn` with new tensors allocated on the meta device (factories use the default device). */
export function onMeta<T>(fn: () => T): T {
  const previous = defaultBackend();
  setDefaultDevice(metaBackend);
  try {
    return fn();
  } finally {
    setDefaultDevice(previous);
  }
}
