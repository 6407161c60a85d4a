/**
 * Row copies inside the wasm heap, for the `cpu` backend's strided copies of float32 resident
 * arrays (a column block of a wider tensor, such as one of q, k, v in a packed qkv). Resident
 * arrays are views of a SharedArrayBuffer, where a typed-array `set` or `copyWithin` moves ~1
 * float a nanosecond; the module's `memory.copy` moves a row as a memmove.
 *
 *   copyRows(src, srcStride, dst, dstStride, rows, rowBytes)   (byte addresses and strides)
 */
import { forRange, get, i32, local, memory, seq, ModuleBuilder } from './emit.js';
import { heapModule, wasmSimdAvailable } from './index.js';

interface CopyFns {
  copyRows(src: number, srcStride: number, dst: number, dstStride: number, rows: number, rowBytes: number): void;
}

/** Builds the module: imports `env.memory` (shared), exports `copyRows`. */
export function buildCopyModule(mem = { min: 1, max: 32768, shared: true }): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder();
  mod.importMemory('env', 'memory', mem.min, mem.max, mem.shared);
  const fn = mod.func(['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], [], 'copyRows');
  const [src, srcStride, dst, dstStride, rows, rowBytes] = [0, 1, 2, 3, 4, 5];
  const r = fn.local('i32');
  fn.body = forRange(
    r,
    i32.const(0),
    get(rows),
    i32.const(1),
    seq(
      memory.copy(get(dst), get(src), get(rowBytes)),
      local.set(src, i32.add(get(src), get(srcStride))),
      local.set(dst, i32.add(get(dst), get(dstStride))),
    ),
  );
  return mod.build();
}

/**
 * dst[at + r*dstStride + j] = src[from + r*stride + j] for r < rows, j < n: `rows` rows of n
 * floats, `stride` apart in src, `dstStride` apart (default n: packed) in dst. Returns false,
 * copying nothing, unless both arrays live in the wasm heap (resident arrays) and every row
 * stays inside its array.
 */
export function copyRowsWasm(
  src: Float32Array,
  from: number,
  stride: number,
  rows: number,
  n: number,
  dst: Float32Array,
  at = 0,
  dstStride = n,
): boolean {
  if (rows === 0 || n === 0 || !wasmSimdAvailable()) return false;
  const fits = (start: number, step: number, len: number): boolean =>
    start >= 0 && step >= n && start + (rows - 1) * step + n <= len;
  if (!fits(from, stride, src.length) || !fits(at, dstStride, dst.length)) return false;
  const { heap, fns } = heapModule<CopyFns>('copy', buildCopyModule);
  const ps = heap.readableAt(src, src.length),
    pd = heap.writableAt(dst, dst.length);
  if (ps === undefined || pd === undefined) return false;
  fns.copyRows(ps + 4 * from, 4 * stride, pd + 4 * at, 4 * dstStride, rows, 4 * n);
  return true;
}
