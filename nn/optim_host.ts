/**
 * Host-array helpers for the optimizers' fused loops. A fused loop reads and writes the typed
 * arrays of CPU tensors directly; it rounds after every operation (`Round`), so it produces the same
 * bits as the chain of tensor ops it replaces, which is what runs on other devices.
 */
import { Tensor, type DType, type TypedArray } from '../engine/index.js';

/** Rounds a float64 result to the storage dtype: float32 ops round each result to float32. */
export type Round = (x: number) => number;

function exact(x: number): number {
  return x;
}

/** The rounding that makes JS float64 arithmetic reproduce `dtype` arithmetic (IEEE single ops are
 * exactly float64 ops rounded once, since float64 has more than twice float32's precision). */
export function rounder(dtype: DType): Round {
  return dtype === 'float32' ? Math.fround : exact;
}

/** The live host array behind `t` where its backend keeps data on the host (Backend.hostData), else null. */
export function hostArray(t: Tensor): TypedArray | null {
  return t.backend.hostData ? t.backend.readSync(t.raw) : null;
}

/** A new zero tensor shaped like `t` on its device, with its host array (host backends only). */
export function freshHost(t: Tensor): [Tensor, TypedArray] {
  const raw = t.backend.full(t.size, 0, t.dtype);
  return [new Tensor(raw, t.shape, t.backend), t.backend.readSync(raw)];
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
      f = new Function(`return (${fn.toString()});`)() as F;
      copies.set(dtype, f);
    }
    return f;
  };
}
