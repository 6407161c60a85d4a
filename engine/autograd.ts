/**
 * Reverse-mode autograd. The graph is the `node` links from each result to its inputs; backward
 * visits it in reverse topological order (an iterative DFS, so a 100,000-op chain cannot overflow the
 * stack), calling each op's backward closure and summing gradients that meet.
 */
import { fullOn } from './functional.js';
import { keep } from './memory.js';
import { profiling, record } from './profiler.js';
import { isGradEnabled, withGradMode } from './op.js';
import { fmt, sameShape, ShapeError } from './shape.js';
import type { Tensor } from './tensor.js';
import { withSavedChecked } from './version.js';

export interface BackwardOpts {
  retainGraph?: boolean;
  createGraph?: boolean;
}

/** Tensors reachable from `roots` through recorded nodes, inputs before the tensors they feed. */
function topoSort(roots: readonly Tensor[]): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [];
  for (const r of roots) {
    if (seen.has(r)) continue;
    seen.add(r);
    stack.push([r, 0]);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const [t, i] = top;
      const inputs = t.node?.inputs ?? [];
      if (t.node && t.node.inputs === null) {
        throw new Error(
          `backward: the graph through '${t.node.op.name}' was freed by an earlier backward; ` +
            'pass { retainGraph: true } to the first backward to run it twice',
        );
      }
      if (i < inputs.length) {
        top[1]++;
        const x = inputs[i];
        if (x.requiresGrad && !seen.has(x)) {
          seen.add(x);
          stack.push([x, 0]);
        }
      } else {
        stack.pop();
        order.push(t);
      }
    }
  }
  return order;
}

/**
 * Propagates `grads` (cotangents of `roots`) to every tensor in the graph. `onGrad` receives each
 * tensor's total gradient once it is complete. Releases the graph unless `retainGraph`.
 */
function propagate(
  roots: readonly Tensor[],
  rootGrads: readonly Tensor[],
  opts: BackwardOpts,
  onGrad: (t: Tensor, g: Tensor) => void,
): void {
  const order = topoSort(roots);
  const grads = new Map<Tensor, Tensor>();
  roots.forEach((r, i) => grads.set(r, grads.has(r) ? grads.get(r)!.add(rootGrads[i]) : rootGrads[i]));
  withGradMode(opts.createGraph ?? false, () => {
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k];
      const g = grads.get(t);
      grads.delete(t); // free as we go
      const node = t.node;
      if (g) onGrad(t, g);
      if (!node || !g || !node.inputs) continue;
      const inputs = node.inputs;
      const needs = inputs.map((x) => x.requiresGrad);
      const t0 = profiling() ? performance.now() : 0;
      const gs = withSavedChecked(node.op.name, node.stamp, inputs, t, () =>
        node.op.backward!(g, { inputs, out: t, attrs: node.attrs, needs }),
      );
      if (t0) record(node.op.name, 'backward', performance.now() - t0);
      inputs.forEach((x, i) => {
        let gi = gs[i];
        if (!gi || !needs[i]) return;
        // A mixed-dtype op (float32 * float64 -> float64) must hand each input a gradient of its
        // own dtype, as PyTorch does; otherwise a float32 leaf would get a float64 .grad.
        if (gi.dtype !== x.dtype) gi = gi.to(x.dtype);
        if (!sameShape(gi.shape, x.shape)) {
          throw new ShapeError(
            `backward of ${node.op.name}: gradient ${fmt(gi.shape)} for input ${i} of shape ${fmt(x.shape)}`,
          );
        }
        const prev = grads.get(x);
        grads.set(x, prev ? prev.add(gi) : gi);
      });
    }
  });
  // As in PyTorch, retainGraph defaults to createGraph.
  if (!(opts.retainGraph ?? opts.createGraph)) for (const t of order) if (t.node) t.node.inputs = null;
}

function seedGrad(root: Tensor, grad: Tensor | undefined, op: string): Tensor {
  if (grad) {
    if (!sameShape(grad.shape, root.shape))
      throw new ShapeError(`${op}: grad ${fmt(grad.shape)} does not match output ${fmt(root.shape)}`);
    return grad;
  }
  if (root.size !== 1) {
    throw new ShapeError(
      `${op}: grad can be implicitly created only for one-element outputs, got ${fmt(root.shape)}; ` +
        'pass a gradient of the same shape',
    );
  }
  return fullOn(root.backend, root.shape, 1, root.dtype);
}

/** Computes d(root)/d(leaf) for every leaf that requires grad and accumulates it into `leaf.grad`. */
export function backward(root: Tensor, grad?: Tensor, opts: BackwardOpts = {}): void {
  if (!root.requiresGrad)
    throw new Error(
      `backward: the output ${fmt(root.shape)} does not require grad (no input requires grad, or it was computed under noGrad)`,
    );
  const g0 = seedGrad(root, grad, 'backward');
  propagate([root], [g0], opts, (t, g) => {
    if (!t.isLeaf && !t.retainsGrad) return;
    const gd = opts.createGraph ? g : g.detach();
    t.grad = keep(t.grad ? (opts.createGraph ? t.grad.add(gd) : t.grad.add(gd).detach()) : gd);
  });
}

export interface GradOpts extends BackwardOpts {
  gradOutputs?: readonly (Tensor | undefined)[];
  allowUnused?: boolean;
}

/** Functional gradients d(sum of outputs)/d(inputs), without touching `.grad` (torch.autograd.grad). */
export function grad(
  outputs: Tensor | readonly Tensor[],
  inputs: Tensor | readonly Tensor[],
  opts: GradOpts = {},
): (Tensor | null)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs as Tensor];
  const ins = Array.isArray(inputs) ? inputs : [inputs as Tensor];
  for (const o of outs) if (!o.requiresGrad) throw new Error(`grad: output ${fmt(o.shape)} does not require grad`);
  const seeds = outs.map((o, i) => seedGrad(o, opts.gradOutputs?.[i], 'grad'));
  const found = new Map<Tensor, Tensor>();
  const wanted = new Set(ins);
  propagate(outs, seeds, opts, (t, g) => {
    if (wanted.has(t)) found.set(t, g);
  });
  return ins.map((x, i) => {
    const g = found.get(x);
    if (!g && !opts.allowUnused) {
      throw new Error(
        `grad: input ${i} ${fmt(x.shape)} was not used to compute the outputs; pass { allowUnused: true }`,
      );
    }
    return g ? (opts.createGraph ? g : g.detach()) : null;
  });
}

/** Keeps the gradient of a non-leaf in `.grad` on the next backward. */
export function retainGrad(t: Tensor): void {
  if (!t.requiresGrad) throw new Error(`retainGrad: ${fmt(t.shape)} does not require grad`);
  t.retainsGrad = true;
}

export { isGradEnabled };
