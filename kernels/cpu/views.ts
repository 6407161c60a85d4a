/**
 * How the `cpu` backend walks strided views: whether one is a single block, its rows, the
 * `arith` kernel layout of a broadcast, and row copies. Shared by backend.ts's copy, write and
 * elementwise paths.
 */
import type { TypedArray, View } from '../backend.js';
import { sizeOf } from '../backend.js';
import type { BLayout } from '../wasm/arith.js';

/** Whether the view reads one contiguous block in row-major order (size-1 dims may have any stride). */
export function isContiguousView(v: View): boolean {
  let want = 1;
  for (let d = v.shape.length - 1; d >= 0; d--) {
    if (v.shape[d] !== 1 && v.strides[d] !== want) return false;
    want *= v.shape[d];
  }
  return true;
}

/**
 * The `arith` kernel layout of a coalesced broadcast: a contiguous first operand [rows, n] and the
 * second the same shape, one row repeated, one value per row, or one value; or a contiguous
 * [groups, rows, n] and one row per group (an attention mask [B, 1, 1, S] on [B, H, T, S] logits);
 * null otherwise.
 */
export function arithLayout(
  shape: readonly number[],
  sa: readonly number[],
  sb: readonly number[],
): { layout: BLayout; rows: number; n: number; groups: number; bGroupStride: number } | null {
  if (shape.length === 1 && sa[0] === 1) {
    if (sb[0] === 1) return one('Full', 1, shape[0]);
    if (sb[0] === 0) return one('Scalar', 1, shape[0]);
  }
  if (shape.length === 2 && sa[0] === shape[1] && sa[1] === 1) {
    const [rows, n] = shape;
    if (sb[0] === 0 && sb[1] === 1) return one('Row', rows, n);
    if (sb[0] === 1 && sb[1] === 0) return one('Col', rows, n);
  }
  if (shape.length === 3 && sa[0] === shape[1] * shape[2] && sa[1] === shape[2] && sa[2] === 1) {
    const [groups, rows, n] = shape;
    if (sb[0] >= shape[2] && sb[1] === 0 && sb[2] === 1) return { layout: 'Row', rows, n, groups, bGroupStride: sb[0] };
  }
  return null;
}

/** An `arith` layout of one block ([rows, n], b as `layout` says). */
function one(layout: BLayout, rows: number, n: number): ReturnType<typeof arithLayout> {
  return { layout, rows, n, groups: 1, bGroupStride: 0 };
}

/** dst[at, at + n) = src[from, from + n). */
export function copyRow(src: TypedArray, from: number, dst: TypedArray, at: number, n: number): void {
  for (let j = 0; j < n; j++) dst[at + j] = src[from + j]!;
}

/** Calls `row(i, offset)` for each row i of the region's last dim, in order (row-major over the
 * leading dims), with the offset of the row's first element. */
export function rowOffsets(region: View, row: (i: number, offset: number) => void): void {
  const nd = region.shape.length;
  const rows = sizeOf(region.shape.slice(0, -1));
  if (region.shape[nd - 1] === 0) return;
  const idx = new Int32Array(Math.max(nd - 1, 1));
  let p = region.offset;
  for (let i = 0; i < rows; i++) {
    row(i, p);
    for (let d = nd - 2; d >= 0; d--) {
      p += region.strides[d];
      if (++idx[d] < region.shape[d]) break;
      p -= region.strides[d] * region.shape[d];
      idx[d] = 0;
    }
  }
}
