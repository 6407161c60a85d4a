/**
 * Live-buffer accounting for a backend: every buffer a backend creates is tracked until it is
 * released explicitly (`dispose`) or its handle is garbage-collected (a FinalizationRegistry
 * backstop, which also frees device memory the GC cannot see).
 */
import type { Raw } from './backend.js';

export interface MemoryInfo {
  device: string;
  buffers: number;
  bytes: number;
}

/** A tracked buffer's entry: its size, how to free it, and whose it is; also its unregister token. */
interface Entry {
  readonly bytes: number;
  readonly free?: () => void;
  readonly owner: MemoryTracker;
}

export class MemoryTracker {
  private buffers = 0;
  private bytes = 0;
  private readonly registry: FinalizationRegistry<Entry>;

  constructor(readonly device: string) {
    this.registry = new FinalizationRegistry(({ bytes, free }) => this.drop(bytes, free));
  }

  /** Starts accounting for `raw`; `free` releases its device memory (GPU buffers). */
  track(raw: Raw, bytes: number, free?: () => void): void {
    // The entry hangs on the handle (a field, not a WeakMap: one per result buffer) and is the
    // registry's held value and unregister token at once; it does not reference the handle.
    const entry: Entry = { bytes, free, owner: this };
    raw.tracked = entry;
    this.registry.register(raw, entry, entry);
    this.buffers++;
    this.bytes += bytes;
  }

  /** Explicit release; returns false when `raw` was already released (or is not this tracker's). */
  release(raw: Raw, free?: () => void): boolean {
    const entry = raw.tracked as Entry | null | undefined;
    if (!entry || entry.owner !== this) return false;
    raw.tracked = null;
    this.registry.unregister(entry);
    this.drop(entry.bytes, free);
    return true;
  }

  isLive(raw: Raw): boolean {
    return (raw.tracked as Entry | null | undefined)?.owner === this;
  }

  stats(): MemoryInfo {
    return { device: this.device, buffers: this.buffers, bytes: this.bytes };
  }

  private drop(bytes: number, free?: () => void): void {
    this.buffers--;
    this.bytes -= bytes;
    free?.();
  }
}
