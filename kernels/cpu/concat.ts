/** Concatenation as block copies, for the `cpu` backend's concat (cpu-ref keeps the engine's region writes as the oracle). */
import type { TypedArray } from '../backend.js';
import { copyRowsWasm } from '../wasm/copy.js';

/** Below this many elements a row piece is copied by a loop (a typed-array `set` has a fixed cost). */
const SET_MIN = 16;

/**
 * out row r = row r of srcs[0] ([rows, widths[0]]), then row r of srcs[1], and so on: a concat
 * along a dim, with `rows` the product of the dims before it and each width the product of the
 * dims from it on. `out` is [rows, Σ widths]; every element is written.
 */
export function concatRows(
  srcs: readonly TypedArray[],
  widths: readonly number[],
  rows: number,
  out: TypedArray,
): void {
  const total = widths.reduce((a, b) => a + b, 0);
  let col = 0;
  srcs.forEach((src, i) => {
    const w = widths[i]!;
    // Both in the wasm heap (resident float32): memory.copy per row; typed-array `set` on the
    // heap's SharedArrayBuffer moves ~1 float a nanosecond.
    if (
      src instanceof Float32Array &&
      out instanceof Float32Array &&
      copyRowsWasm(src, 0, w, rows, w, out, col, total)
    ) {
      col += w;
      return;
    }
    if (w >= SET_MIN) {
      for (let r = 0; r < rows; r++) out.set(src.subarray(r * w, (r + 1) * w), r * total + col);
    } else {
      for (let r = 0; r < rows; r++) for (let j = 0; j < w; j++) out[r * total + col + j] = src[r * w + j]!;
    }
    col += w;
  });
}
