/**
 * Batched matrix product. 1-D operands and the Linear fast path are handled in functional.ts.
 * An operand may be given in its stored, transposed layout (`transA`, `transB`): backends read it
 * in place, so `x @ Wᵀ` (Linear), `q @ kᵀ` (attention) and every matmul backward run without a
 * transpose copy.
 */
import { apply } from '../apply.js';
import { defineOp } from '../op.js';
import {
  broadcastShapes,
  contiguousStrides,
  DTypeError,
  fmt,
  promote,
  ShapeError,
  sizeOf,
  type Shape,
} from '../shape.js';
import type { Tensor } from '../tensor.js';

/** op(A) = Aᵀ (over the last two dims) when `transA`; likewise for B. Both default to false. */
export interface MatmulAttrs {
  readonly transA?: boolean;
  readonly transB?: boolean;
}

/** `[..., M, K]` or, with `t`, the transposed storage `[..., K, M]ᵀ`, for messages. */
const show = (s: Shape, t: boolean | undefined): string => (t ? `${fmt(s)}ᵀ` : fmt(s));

/** The operands as messages name them. */
function describe(a: Shape, b: Shape, { transA, transB }: MatmulAttrs): string {
  return `matmul: ${show(a, transA)} @ ${show(b, transB)}`;
}

/** [..., M, K] @ [..., K, N] -> [broadcast(...), M, N], with op(·) applied to stored operands. */
function matmulShape(a: Shape, b: Shape, attrs: MatmulAttrs): number[] {
  const { transA, transB } = attrs;
  if (a.length < 2 || b.length < 2) throw new ShapeError(`${describe(a, b, attrs)}: both operands need 2+ dims here`);
  const [m, k1] = transA ? [a[a.length - 1], a[a.length - 2]] : [a[a.length - 2], a[a.length - 1]];
  const [k2, n] = transB ? [b[b.length - 1], b[b.length - 2]] : [b[b.length - 2], b[b.length - 1]];
  if (k1 !== k2) throw new ShapeError(`${describe(a, b, attrs)}: inner dims ${k1} and ${k2} differ`);
  if (a.length === 2 && b.length === 2) return [m, n]; // no batch dims (most calls): nothing to broadcast
  const batch = broadcastShapes(`${describe(a, b, attrs)}: batch dims`, a.slice(0, -2), b.slice(0, -2));
  return [...batch, m, n];
}

/** Element offset of each broadcast batch's matrix inside an operand of shape `shape`. */
function batchOffsets(shape: Shape, batch: Shape): Int32Array {
  if (batch.length === 0) return new Int32Array(1); // one matrix, at offset 0
  const own = shape.slice(0, -2),
    mat = shape[shape.length - 2] * shape[shape.length - 1];
  const strides = contiguousStrides(own).map((s, d) => (own[d] === 1 ? 0 : s * mat));
  const off = batch.length - own.length;
  const n = sizeOf(batch),
    out = new Int32Array(n),
    idx = new Array<number>(batch.length).fill(0);
  for (let i = 0; i < n; i++) {
    let o = 0;
    for (let d = off; d < batch.length; d++) o += idx[d] * strides[d - off];
    out[i] = o;
    for (let d = batch.length - 1; d >= 0; d--) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * Gradients of C = op(A) op(B), each in its operand's stored layout and summed over broadcast
 * batch dims. Untransposed: dA = g Bᵀ, dB = Aᵀ g. With A stored transposed, dA's storage is
 * (g op(B)ᵀ)ᵀ = op(B) gᵀ; with B stored transposed, dB's storage is gᵀ op(A). Each is again one
 * matmul with transposed operands, so no gradient copies a transpose either.
 */
function matmulGrads(
  g: Tensor,
  a: Tensor,
  b: Tensor,
  { transA = false, transB = false }: MatmulAttrs,
  needs: readonly boolean[],
): (Tensor | null)[] {
  const mm = (x: Tensor, y: Tensor, tx: boolean, ty: boolean): Tensor =>
    apply(matmul, [x, y], { transA: tx, transB: ty });
  const da = !needs[0] ? null : transA ? mm(b, g, transB, true) : mm(g, b, false, !transB);
  const db = !needs[1] ? null : transB ? mm(g, a, true, transA) : mm(a, g, !transA, false);
  return [da && da.sumTo(a.shape), db && db.sumTo(b.shape)];
}

export const matmul = defineOp<MatmulAttrs>({
  name: 'matmul',
  shape: ([a, b], attrs) => {
    if (a.dtype === 'int32' || b.dtype === 'int32')
      throw new DTypeError(`matmul: ${fmt(a.shape)} ${a.dtype} @ ${fmt(b.shape)} ${b.dtype}: float operands expected`);
    if (a.dtype !== b.dtype)
      throw new DTypeError(`matmul: ${fmt(a.shape)} @ ${fmt(b.shape)}: dtypes ${a.dtype} and ${b.dtype} differ`);
    return { shape: matmulShape(a.shape, b.shape, attrs), dtype: promote(a.dtype, b.dtype) };
  },
  forward: (be, [a, b], out, { transA = false, transB = false }) => {
    const batch = out.shape.slice(0, -2);
    return be.matmul(a.raw, b.raw, {
      batch: sizeOf(batch),
      m: out.shape[out.shape.length - 2],
      k: transA ? a.shape[a.ndim - 2] : a.shape[a.ndim - 1],
      n: out.shape[out.shape.length - 1],
      aOffsets: batchOffsets(a.shape, batch),
      bOffsets: batchOffsets(b.shape, batch),
      transA,
      transB,
    });
  },
  backward: (g, { inputs: [a, b], attrs, needs }) => matmulGrads(g, a, b, attrs, needs),
});
