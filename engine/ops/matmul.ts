/** Batched matrix product. 1-D operands and the Linear fast path are handled in functional.ts. */
import { defineOp } from '../op.js';
import { broadcastShapes, contiguousStrides, DTypeError, fmt, promote, ShapeError, sizeOf, type Shape } from '../shape.js';

/** [..., M, K] @ [..., K, N] -> [broadcast(...), M, N]. */
function matmulShape(a: Shape, b: Shape): number[] {
  if (a.length < 2 || b.length < 2) throw new ShapeError(`matmul: ${fmt(a)} @ ${fmt(b)}: both operands need 2+ dims here`);
  const k1 = a[a.length - 1], k2 = b[b.length - 2];
  if (k1 !== k2) throw new ShapeError(`matmul: ${fmt(a)} @ ${fmt(b)}: inner dims ${k1} and ${k2} differ`);
  const batch = broadcastShapes(`matmul: ${fmt(a)} @ ${fmt(b)}: batch dims`, a.slice(0, -2), b.slice(0, -2));
  return [...batch, a[a.length - 2], b[b.length - 1]];
}

/** Element offset of each broadcast batch's matrix inside an operand of shape `shape`. */
function batchOffsets(shape: Shape, batch: Shape): Int32Array {
  const own = shape.slice(0, -2), mat = shape[shape.length - 2] * shape[shape.length - 1];
  const strides = contiguousStrides(own).map((s, d) => (own[d] === 1 ? 0 : s * mat));
  const off = batch.length - own.length;
  const n = sizeOf(batch), out = new Int32Array(n), idx = new Array<number>(batch.length).fill(0);
  for (let i = 0; i < n; i++) {
    let o = 0;
    for (let d = off; d < batch.length; d++) o += idx[d] * strides[d - off];
    out[i] = o;
    for (let d = batch.length - 1; d >= 0; d--) { if (++idx[d] < batch[d]) break; idx[d] = 0; }
  }
  return out;
}

/** Gradients: dA = g @ B^T, dB = A^T @ g, each summed over broadcast batch dims. */
export const matmul = defineOp({
  name: 'matmul',
  shape: ([a, b]) => {
    if (a.dtype === 'int32' || b.dtype === 'int32') throw new DTypeError(`matmul: ${fmt(a.shape)} ${a.dtype} @ ${fmt(b.shape)} ${b.dtype}: float operands expected`);
    if (a.dtype !== b.dtype) throw new DTypeError(`matmul: ${fmt(a.shape)} @ ${fmt(b.shape)}: dtypes ${a.dtype} and ${b.dtype} differ`);
    return { shape: matmulShape(a.shape, b.shape), dtype: promote(a.dtype, b.dtype) };
  },
  forward: (be, [a, b], out) => {
    const batch = out.shape.slice(0, -2);
    return be.matmul(a.raw, b.raw, {
      batch: sizeOf(batch), m: a.shape[a.ndim - 2], k: a.shape[a.ndim - 1], n: b.shape[b.ndim - 1],
      aOffsets: batchOffsets(a.shape, batch), bOffsets: batchOffsets(b.shape, batch), transA: false, transB: false,
    });
  },
  backward: (g, { inputs: [a, b], needs }) => [
    needs[0] ? g.matmul(b.mT()).sumTo(a.shape) : null,
    needs[1] ? a.mT().matmul(g).sumTo(b.shape) : null,
  ],
});
