/**
 * Explicit memory management for device buffers (tfjs-style). Buffers are also freed when their
 * tensors are garbage-collected, but GPU memory is scarce and the GC cannot see it, so:
 * - `t.dispose()` releases a tensor's buffer now (tensors sharing it, e.g. reshapes, keep it alive);
 * - `tidy(fn)` disposes every tensor created inside `fn` except those it returns or `keep`s;
 * - `memory()` reports live buffers and bytes per device.
 */
import type { Raw } from '../kernels/backend.js';
import type { MemoryInfo } from '../kernels/memory.js';
import { registeredBackends } from '../kernels/select.js';
import type { Tensor } from './tensor.js';

const scopes: Set<Tensor>[] = [];

/** Called by the Tensor constructor and by assign: one more tensor uses `raw`. */
export function retainRaw(raw: Raw): void {
  raw.tensors = (raw.tensors ?? 0) + 1;
}

/** One tensor fewer uses `raw`; the last one releases the buffer on its backend. */
export function releaseRaw(t: Tensor, raw: Raw): void {
  const n = (raw.tensors ?? 1) - 1;
  raw.tensors = n;
  if (n <= 0) t.backend.dispose(raw);
}

/** Records a new tensor in the innermost tidy scope. */
export function trackTensor(t: Tensor): void {
  if (scopes.length > 0) scopes[scopes.length - 1].add(t);
}

/**
 * Runs `fn` in a scope of its own and returns its result with the tensors created inside. Those
 * are not tracked by the enclosing tidy scopes: the caller disposes each or hands it on with
 * `trackTensor` (backward uses this to free its own intermediates as soon as they are dead).
 */
export function collecting<T>(fn: () => T): [T, Set<Tensor>] {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) trackTensor(t); // an enclosing tidy still cleans up after a throw
    throw e;
  }
  scopes.pop();
  return [result, scope];
}

/** Exempts tensors from the enclosing tidy scopes (optimizer state, caches). */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

/** Tensors inside a returned value: a tensor, or arrays / plain objects of them. */
function collect(x: unknown, out: Set<Tensor>, isTensor: (v: unknown) => v is Tensor): void {
  if (isTensor(x)) out.add(x);
  else if (Array.isArray(x)) for (const v of x) collect(v, out, isTensor);
  else if (x && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
    for (const v of Object.values(x)) collect(v, out, isTensor);
  }
}

/**
 * Runs `fn` and disposes every tensor it created, except those in its result (which move to the
 * enclosing scope) and those passed to `keep`. Leaf gradients written by backward are kept.
 * Not for async functions: a scope ends when `fn` returns.
 */
export function tidy<T>(fn: () => T, isTensor: (v: unknown) => v is Tensor): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const returned = new Set<Tensor>();
  collect(result, returned, isTensor);
  for (const t of scope) {
    if (returned.has(t)) trackTensor(t);
    else t.dispose();
  }
  return result;
}

/** Live buffers and bytes on every registered device. */
export function memory(): MemoryInfo[] {
  return registeredBackends().map((be) => be.memory());
}
