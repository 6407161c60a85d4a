/**
 * The shared wasm heap: one `WebAssembly.Memory({ shared: true })` that the main thread and
 * every worker instantiate the GEMM module on, plus a first-fit free-list allocator over it.
 *
 * Layout (bytes):
 *   [0, CONTROL_BYTES)   reserved (address 0 is never a block; pools allocate their control words)
 *   [CONTROL_BYTES, ..)  blocks handed out by `alloc`: per-thread scratch, job descriptors,
 *                        staging copies of operands, and arrays callers allocate themselves
 *
 * Growth is bounded: the memory grows on demand in whole 64 KiB pages up to `maxBytes` and
 * never shrinks (wasm memories cannot), so its size is the high-water mark of live blocks.
 * Growing a shared memory never detaches its buffer, so views handed out stay valid.
 */

/** Bytes at the bottom of memory that `alloc` never hands out (so no block sits at address 0). */
export const CONTROL_BYTES = 4096;
const PAGE = 65536;
/**
 * The kernels compare addresses as signed i32, so the heap must stay below 2 GiB.
 */
export const MAX_HEAP_BYTES = 2048 * 1024 * 1024 - PAGE;
/** Every block starts on a cache line, so v128 accesses never split lines and threads never share one. */
const ALIGN = 64;

/** Thrown when a block would take the heap past its limit. */
export class HeapLimitError extends RangeError {
  override name = 'HeapLimitError';
}

/** A first-fit allocator over a shared wasm memory. Main-thread only. */
export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  /** Free blocks, sorted by address and never adjacent (freeing coalesces). */
  private readonly freeList: { start: number; size: number }[] = [];
  private readonly sizes = new Map<number, number>();
  /** Every buffer object the memory has had; growth makes a new one over the same bytes. */
  private readonly buffers = new Set<ArrayBufferLike>();
  private top: number; // end of the highest block ever handed out

  constructor(readonly maxBytes: number) {
    if (!(maxBytes >= PAGE && maxBytes <= MAX_HEAP_BYTES)) {
      throw new RangeError(`wasm heap limit ${maxBytes} outside [${PAGE}, ${MAX_HEAP_BYTES}]`);
    }
    const maximum = Math.max(1, Math.floor(maxBytes / PAGE));
    this.memory = new WebAssembly.Memory({ initial: 1, maximum, shared: true });
    this.buffers.add(this.memory.buffer);
    this.top = CONTROL_BYTES;
  }

  /** Reserves `bytes` (rounded up to 64) and returns the block's byte address. Throws HeapLimitError past `maxBytes`. */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const i = this.freeList.findIndex((b) => b.size >= size);
    let start: number;
    if (i >= 0) {
      const block = this.freeList[i]!;
      start = block.start;
      block.start += size;
      block.size -= size;
      if (block.size === 0) this.freeList.splice(i, 1);
    } else {
      start = this.top;
      this.ensure(start + size);
      this.top = start + size;
    }
    this.sizes.set(start, size);
    return start;
  }

  /** Returns a block from `alloc` to the free list. */
  free(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new Error(`free(${ptr}): not an allocated block`);
    this.sizes.delete(ptr);
    let i = this.freeList.findIndex((b) => b.start > ptr);
    if (i < 0) i = this.freeList.length;
    this.freeList.splice(i, 0, { start: ptr, size });
    // Coalesce with the neighbours so repeated alloc/free of one size reuses one block.
    const next = this.freeList[i + 1];
    if (next && ptr + size === next.start) {
      this.freeList[i]!.size += next.size;
      this.freeList.splice(i + 1, 1);
    }
    const prev = this.freeList[i - 1];
    if (prev && prev.start + prev.size === ptr) {
      prev.size += this.freeList[i]!.size;
      this.freeList.splice(i, 1);
    }
    // A free block at the top shrinks the bump pointer instead of lingering.
    const last = this.freeList[this.freeList.length - 1];
    if (last && last.start + last.size === this.top) {
      this.top = last.start;
      this.freeList.pop();
    }
  }

  /** The first byte no block has used yet: blocks allocated next (with no free block to reuse) start here. */
  get end(): number {
    return this.top;
  }

  /**
   * Grows the memory to at least `bytes` (capped at the limit) without allocating, so a thread
   * can fault the pages in ahead of use. Growing costs nothing until pages are touched.
   */
  reserve(bytes: number): void {
    this.ensure(Math.min(bytes, Math.floor(this.maxBytes / PAGE) * PAGE));
  }

  /** Live bytes in blocks (for tests and diagnostics). */
  get liveBytes(): number {
    let n = 0;
    for (const s of this.sizes.values()) n += s;
    return n;
  }

  /** The memory's current size in bytes (its high-water mark). */
  get byteLength(): number {
    return this.memory.buffer.byteLength;
  }

  /** A Float32Array view of `n` floats at byte address `ptr`. */
  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.buffer(), ptr, n);
  }

  /** An Int32Array view of `n` words at byte address `ptr`. */
  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.buffer(), ptr, n);
  }

  /** The byte address of `view` if it lies in this heap, else undefined. */
  addressOf(view: ArrayBufferView): number | undefined {
    return this.buffers.has(view.buffer) ? view.byteOffset : undefined;
  }

  /**
   * The address of `view` where a kernel may read `floats` floats from there in place (the view
   * lies in this heap and the memory extends that far), else undefined: the caller stages a copy.
   */
  readableAt(view: Float32Array, floats: number): number | undefined {
    const at = this.addressOf(view);
    return at !== undefined && floats >= view.length && at + 4 * floats <= this.memory.buffer.byteLength
      ? at
      : undefined;
  }

  /**
   * The address of `view` where a kernel may write `floats` floats there: the view starts a block
   * from `alloc` that large (so writes past its length land in its own padding), else undefined.
   */
  writableAt(view: Float32Array, floats: number): number | undefined {
    const at = this.addressOf(view);
    return at !== undefined && floats >= view.length && (this.sizes.get(at) ?? 0) >= 4 * floats ? at : undefined;
  }

  private buffer(): ArrayBufferLike {
    const b = this.memory.buffer;
    this.buffers.add(b);
    return b;
  }

  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    if (end > this.maxBytes) {
      throw new HeapLimitError(`wasm heap: ${end} bytes needed, limit is ${this.maxBytes} (VLGRAD_WASM_MAX_MB)`);
    }
    this.memory.grow(Math.ceil((end - have) / PAGE));
    this.buffers.add(this.memory.buffer);
  }
}
