/**
 * Resident arrays: float32 buffers that live inside the shared wasm heap, so the WASM kernels
 * (GEMM, elementwise, GELU, row-wise) read and write them where they are instead of copying each
 * operand in and each result out. The `cpu` backend takes its float32 results from here.
 *
 * Lifetime. A buffer comes back explicitly (`give`, when the backend releases the last tensor
 * using it) or, as a backstop, when the array object itself is garbage-collected (a
 * FinalizationRegistry on the view: while any code holds the array, its block stays reserved).
 * Returned blocks are cached by byte size for the next result of that size, as the host
 * BufferPool does; past the cache's cap they go back to the heap's free list.
 *
 * Budget. Resident bytes (live plus cached) are capped, default 256 MiB (VLGRAD_RESIDENT_MB; 0
 * turns residency off), well under the heap's own limit so staging copies of other operands
 * still fit. Past the cap, or when the heap cannot grow, `take` returns null and the caller
 * allocates an ordinary host array, which every kernel accepts (it is staged as before).
 */
import type { WasmHeap } from './memory.js';

/** Blocks are handed out in these units; a resident array's block holds its length rounded up to 16 floats. */
const UNIT = 64;

/** The block a resident array of n floats takes. */
function blockBytes(n: number): number {
  return Math.max(UNIT, Math.ceil((4 * n) / UNIT) * UNIT);
}

export class ResidentArrays {
  private readonly cache = new Map<number, number[]>(); // block bytes -> free block addresses
  private readonly registry: FinalizationRegistry<{ ptr: number; bytes: number }>;
  private bytes = 0; // live + cached
  private cached = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly heap: WasmHeap,
    readonly maxBytes: number,
  ) {
    this.registry = new FinalizationRegistry(({ ptr, bytes }) => this.recycle(ptr, bytes));
  }

  /** A resident array of `n` floats with arbitrary contents, or null (over budget, or no heap room). */
  take(n: number): Float32Array | null {
    const bytes = blockBytes(n);
    let ptr = this.cache.get(bytes)?.pop();
    if (ptr !== undefined) {
      this.cached -= bytes;
      this.hits++;
    } else {
      if (this.bytes + bytes > this.maxBytes && this.cached > 0) this.clear(); // blocks of other sizes make room
      if (this.bytes + bytes > this.maxBytes) return null;
      try {
        ptr = this.heap.alloc(bytes);
      } catch {
        return null; // the heap is at its limit: a host array instead
      }
      this.bytes += bytes;
      this.misses++;
    }
    const view = this.heap.f32(ptr, n);
    // The registration is also the record of ownership: `give` unregisters, and only an array
    // registered here unregisters (no WeakMap of live arrays to keep beside it).
    this.registry.register(view, { ptr, bytes }, view);
    return view;
  }

  /** Returns an array from `take`; false (doing nothing) for any other array, or one given back already. */
  give(view: Float32Array): boolean {
    if (!this.registry.unregister(view)) return false;
    this.recycle(this.heap.addressOf(view)!, blockBytes(view.length));
    return true;
  }

  /** Live and cached resident bytes, and how many takes reused a cached block. */
  stats(): { bytes: number; cached: number; hits: number; misses: number } {
    return { bytes: this.bytes, cached: this.cached, hits: this.hits, misses: this.misses };
  }

  /** Frees every cached block back to the heap. */
  clear(): void {
    for (const [bytes, ptrs] of this.cache) {
      for (const ptr of ptrs) this.heap.free(ptr);
      this.bytes -= bytes * ptrs.length;
    }
    this.cache.clear();
    this.cached = 0;
  }

  private recycle(ptr: number, bytes: number): void {
    let list = this.cache.get(bytes);
    if (!list) this.cache.set(bytes, (list = []));
    list.push(ptr);
    this.cached += bytes;
  }
}
