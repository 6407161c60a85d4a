/**
 * Host-array helpers for the optimizers' fused loops. A fused loop reads and writes the typed
 * arrays of CPU tensors directly; it rounds after every operation (`Round`), so it produces the same
 * bits as the chain of tensor ops it replaces, which is what runs on other devices.
 */
import { Tensor, type Backend, type DType, type TypedArray } from '../engine/index.js';

/** Rounds a float64 result to the storage dtype: float32 ops round each result to float32. */
export type Round = (x: number) => number;

function exact(x: number): number { return x; }

/** The rounding that makes JS float64 arithmetic reproduce `dtype` arithmetic (IEEE single ops are
 * exactly float64 ops rounded once, since float64 has more than twice float32's precision). */
export function rounder(dtype: DType): Round {
  return dtype === 'float32' ? Math.fround : exact;
}

const hostBacked = new WeakMap<Backend, boolean>();

/** Whether `be.readSync` returns live storage: the same array each time, and writes stick. Backends
 * whose data lives elsewhere throw (the contract) or, defensively, hand out copies; both are false. */
function keepsDataOnHost(be: Backend): boolean {
  try {
    const raw = be.full(1, 0, 'float32');
    try {
      const a = be.readSync(raw);
      a[0] = 1;
      return be.readSync(raw) === a && a[0] === 1;
    } finally {
      be.dispose(raw);
    }
  } catch {
    return false;
  }
}

/** The live host array behind `t` when its backend keeps data on the host, else null. */
export function hostArray(t: Tensor): TypedArray | null {
  const be = t.backend;
  let ok = hostBacked.get(be);
  if (ok === undefined) hostBacked.set(be, (ok = keepsDataOnHost(be)));
  return ok ? be.readSync(t.raw) : null;
}

/** A new zero tensor shaped like `t` on its device, with its host array (host backends only). */
export function freshHost(t: Tensor): [Tensor, TypedArray] {
  const raw = t.backend.full(t.size, 0, t.dtype);
  return [new Tensor(raw, t.shape, t.backend), t.backend.readSync(raw)];
}

/** A copy of `t` that shares no storage with it, cut from the graph. */
export function copyOf(t: Tensor): Tensor {
  const strides: number[] = [];
  let acc = 1;
  for (let d = t.ndim - 1; d >= 0; d--) { strides[d] = acc; acc *= t.shape[d]; }
  return new Tensor(t.backend.copyStrided(t.raw, { shape: t.shape, strides, offset: 0 }), t.shape, t.backend);
}

/**
 * One copy of a self-contained loop per dtype. V8 keeps type feedback per function, so a single
 * loop fed both Float32Array and Float64Array (and both Math.fround and the identity as its
 * rounding) goes polymorphic and runs ~5x slower; a copy per dtype stays monomorphic. The copy is
 * compiled from the function's own source, as kernels/cpu/compile.ts does, so the math is written
 * once. `fn` must not close over anything but globals.
 */
export function perDtype<F extends (...args: never[]) => void>(fn: F): (dtype: DType) => F {
  const copies = new Map<DType, F>();
  return (dtype) => {
    let f = copies.get(dtype);
    if (!f) {
      // eslint-disable-next-line @typescript-eslint/no-implied-eval
      f = new Function(`return (${fn.toString()});`)() as F;
      copies.set(dtype, f);
    }
    return f;
  };
}
