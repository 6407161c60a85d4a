/**
 * A size-bucketed pool of host buffers for the `cpu` backend. A training step allocates the same
 * few dozen result sizes every step; a fresh `Float32Array` costs a zero-fill (or fresh pages
 * from the OS) and adds to the external memory that drives V8's garbage collections, so buffers
 * released explicitly (`dispose`, `tidy`, backward's release of its own intermediates) are kept
 * here and handed out again for results of the same byte size.
 *
 * Safety rests on one rule, enforced by the caller (CpuBackend.dispose): a buffer enters the pool
 * only when the last tensor using it was released, exactly once (the memory tracker refuses a
 * second release). A disposed tensor still throws on use (engine/tensor.ts checks its flag, not
 * its buffer), so a reused buffer is never reachable through a live tensor.
 */
import type { DType, TypedArray } from '../backend.js';

/** Buffers below this size are V8 heap objects, as cheap to allocate as to look up. */
export const POOL_MIN_BYTES = 1024;

/** A free list of ArrayBuffers per byte length (float32 and float64 results share buckets). */
export class BufferPool {
  private readonly buckets = new Map<number, ArrayBuffer[]>();
  private held = 0;
  private hits = 0;
  private misses = 0;

  /** `maxBytes` caps what the pool holds: a buffer given beyond it is left to the GC. */
  constructor(readonly maxBytes: number) {}

  /**
   * An array of `size` elements of `dtype`. With `zero` false its contents are arbitrary (the
   * caller overwrites every element); with `zero` true it is zero-filled, as `new Float32Array` is.
   */
  take(dtype: DType, size: number, zero: boolean): TypedArray {
    const bytes = size * (dtype === 'float64' ? 8 : 4);
    const stack = bytes >= POOL_MIN_BYTES ? this.buckets.get(bytes) : undefined;
    const buf = stack?.pop();
    if (!buf) {
      if (bytes >= POOL_MIN_BYTES) this.misses++;
      return fresh(dtype, size);
    }
    this.hits++;
    this.held -= bytes;
    const a = view(dtype, buf);
    if (zero) a.fill(0);
    return a;
  }

  /** Returns a released buffer. Only whole, unshared host buffers are kept (not views into a larger
   * or a shared buffer, such as the wasm heap's), and only while the pool is under its cap. */
  give(a: TypedArray): void {
    const buf = a.buffer;
    const bytes = a.byteLength;
    if (bytes < POOL_MIN_BYTES || a.byteOffset !== 0 || buf.byteLength !== bytes) return;
    if (!(buf instanceof ArrayBuffer) || this.held + bytes > this.maxBytes) return;
    let stack = this.buckets.get(bytes);
    if (!stack) this.buckets.set(bytes, (stack = []));
    stack.push(buf);
    this.held += bytes;
  }

  /** Drops every pooled buffer (they go to the GC). */
  clear(): void {
    this.buckets.clear();
    this.held = 0;
  }

  /** Bytes held for reuse, and how many takes were served from the pool (`hits`) or not (`misses`). */
  stats(): { bytes: number; hits: number; misses: number } {
    return { bytes: this.held, hits: this.hits, misses: this.misses };
  }
}

function fresh(dtype: DType, size: number): TypedArray {
  if (dtype === 'float64') return new Float64Array(size);
  return dtype === 'float32' ? new Float32Array(size) : new Int32Array(size);
}

function view(dtype: DType, buf: ArrayBuffer): TypedArray {
  if (dtype === 'float64') return new Float64Array(buf);
  return dtype === 'float32' ? new Float32Array(buf) : new Int32Array(buf);
}
