/**
 * Version counters: catching in-place writes to tensors that backward still needs (PyTorch's
 * "modified by an inplace operation" error).
 *
 * `assign()` is the engine's only in-place write. It swaps the tensor's buffer, so a backward
 * formula that reads the tensor later would silently use the new values and give a wrong gradient.
 * Every write stamps the tensor with a global, increasing write clock; every recorded node stamps
 * itself with the clock at its forward. In backward, an input (or the output) whose stamp is newer
 * than its node's was written after the forward. Such a tensor is not an error by itself: most
 * backward formulas (add, reshape, sum, concat, ...) use only shapes. So it is fenced for the
 * duration of that one backward formula: any op that reads it throws, naming the op that saved
 * it. The hot path pays one integer increment per assign and one compare per input in backward.
 */
import type { Tensor } from './tensor.js';

let clock = 0;

/** Stamps one in-place write: a value greater than every stamp handed out before. */
export function nextWrite(): number {
  return ++clock;
}

/** The current write clock: a node recorded now sees every write so far as older. */
export function writeClock(): number {
  return clock;
}

/** Tensors that the backward formula now running must not read, with the error to raise. */
let fenced: Map<Tensor, string> | null = null;

/** Throws if `x` was modified after an op saved it for the backward formula now running. */
export function checkNotFenced(x: Tensor): void {
  const msg = fenced?.get(x);
  if (msg !== undefined) throw new Error(msg);
}

function message(op: string, which: string, t: Tensor): string {
  return (
    `backward of ${op}: one of the tensors needed for gradient computation has been modified by an ` +
    `in-place operation: ${which} [${t.shape.join(',')}] ${t.dtype} is at version ${t.version}, newer than when ` +
    `${op} saved it in the forward pass. Call backward() before assign(), or give ${op} a copy of the tensor`
  );
}

/**
 * Runs one node's backward formula `fn` with its inputs and output that were written after its
 * forward (stamp > `stamp`) fenced off. Without such tensors (the normal case) it just calls `fn`.
 */
export function withSavedChecked<T>(op: string, stamp: number, inputs: readonly Tensor[], out: Tensor, fn: () => T): T {
  let stale: Map<Tensor, string> | null = null;
  for (let i = 0; i < inputs.length; i++) {
    if (inputs[i].writeStamp > stamp) (stale ??= new Map()).set(inputs[i], message(op, `input ${i}`, inputs[i]));
  }
  if (out.writeStamp > stamp) (stale ??= new Map()).set(out, message(op, 'its output', out));
  if (stale === null) return fn();
  const prev = fenced;
  fenced = stale;
  try {
    return fn();
  } finally {
    fenced = prev;
  }
}
