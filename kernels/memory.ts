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

export class MemoryTracker {
  private buffers = 0;
  private bytes = 0;
  private readonly live = new WeakMap<Raw, { bytes: number; token: object }>();
  private readonly registry: FinalizationRegistry<{ bytes: number; free?: () => void }>;

  constructor(readonly device: string) {
    this.registry = new FinalizationRegistry(({ bytes, free }) => this.drop(bytes, free));
  }

  /** Starts accounting for `raw`; `free` releases its device memory (GPU buffers). */
  track(raw: Raw, bytes: number, free?: () => void): void {
    const token = {};
    this.live.set(raw, { bytes, token });
    this.registry.register(raw, { bytes, free }, token);
    this.buffers++;
    this.bytes += bytes;
  }

  /** Explicit release; returns false when `raw` was already released. */
  release(raw: Raw, free?: () => void): boolean {
    const entry = this.live.get(raw);
    if (!entry) return false;
    this.live.delete(raw);
    this.registry.unregister(entry.token);
    this.drop(entry.bytes, free);
    return true;
  }

  isLive(raw: Raw): boolean {
    return this.live.has(raw);
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
