/**
 * The `cpu` backend's float32 Adam(W) step on resident arrays (adam_kernel.ts): the parameter,
 * gradient and moment buffers are read and written where they live in the wasm heap.
 */
import type { AdamScalars } from '../backend.js';
import { ADAM_DECAY, ADAM_L2, ADAM_NEGATE, buildAdamModule, type AdamFns } from './adam_kernel.js';
import { heapModule, wasmSimdAvailable } from './index.js';

/** Below this many elements the optimizer's plain loop is as fast. */
export const ADAM_MIN_ELEMENTS = 1024;

/**
 * out = the Adam(W) update of p (see adam_kernel.ts), with m and v updated in place; the same
 * values as nn/optim_adam.ts's float32 loop. Returns false, doing nothing, unless all five arrays
 * have one length of at least ADAM_MIN_ELEMENTS and live in the heap with room for that length
 * rounded up to whole vectors (resident arrays do), and WASM SIMD is available.
 */
export function adamWasm(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  out: Float32Array,
  s: AdamScalars,
): boolean {
  const n = p.length;
  if (n < ADAM_MIN_ELEMENTS || !wasmSimdAvailable() || [g, m, v, out].some((a) => a.length !== n)) return false;
  const { heap, fns } = heapModule<AdamFns>('adam', buildAdamModule);
  const n4 = (n + 3) & ~3;
  const [pp, pg] = [p, g].map((a) => heap.readableAt(a, n4));
  const [pm, pv, po] = [m, v, out].map((a) => heap.writableAt(a, n4));
  if (pp === undefined || pg === undefined || pm === undefined || pv === undefined || po === undefined) return false;
  const flags = (s.negate ? ADAM_NEGATE : 0) | (s.l2 ? ADAM_L2 : 0) | (s.scale ? ADAM_DECAY : 0);
  fns.adamStep(pp, pg, pm, pv, po, n4, s.b1, s.b2, s.c1, s.c2, s.wd, s.decay, s.negStep, s.bc2, s.eps, flags);
  return true;
}
