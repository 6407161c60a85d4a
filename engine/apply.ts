/**
 * Applying an op: the one place that turns an OpDef and its inputs into a Tensor and records the
 * autograd node. It lives apart from op.ts so that op definitions (op.ts, ops/*) never import
 * Tensor as a value and load first in any order (docs/architecture.md, "Load order").
 */
import { isGradEnabled, type OpDef } from './op.js';
import { profiling, record } from './profiler.js';
import { DTypeError, fmt, isFloat, ShapeError } from './shape.js';
import { Tensor } from './tensor.js';
import { checkNotFenced, writeClock } from './version.js';

/** Applies `op` to `inputs`: checks devices, computes the shape, runs the kernel, records the node. */
export function apply<A>(op: OpDef<A>, inputs: readonly Tensor[], attrs: A): Tensor {
  const be = inputs[0].backend;
  for (const x of inputs) {
    if (x.isDisposed) throw new Error(`${op.name}: input ${fmt(x.shape)} was disposed`);
    checkNotFenced(x);
    if (x.backend !== be) {
      throw new ShapeError(
        `${op.name}: inputs are on different devices ` +
          `(${inputs.map((t) => `${fmt(t.shape)} on ${t.device}`).join(', ')}); move them with .to(device)`,
      );
    }
  }
  const meta = op.shape(inputs, attrs);
  const t0 = profiling() ? performance.now() : 0;
  const raw = op.forward(be, inputs, meta, attrs);
  if (t0) record(op.name, 'forward', performance.now() - t0);
  const out = new Tensor(raw, meta.shape, be);
  if (isGradEnabled() && op.backward && inputs.some((x) => x.requiresGrad)) {
    if (!isFloat(meta.dtype)) throw new DTypeError(`${op.name}: an ${meta.dtype} result cannot carry a gradient`);
    out.node = { op, inputs, attrs, stamp: writeClock() };
    out.requiresGrad = true;
  }
  return out;
}
