/**
 * Reverse-mode autograd. The graph is the `node` links from each result to its inputs; backward
 * visits it in reverse topological order (an iterative DFS, so a 100,000-op chain cannot overflow the
 * stack), calling each op's backward closure and summing gradients that meet.
 */
import { fullOn } from './functional.js';
import { collecting, keep, trackTensor } from './memory.js';
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
 * The gradients one backward pass creates and may free. Without `createGraph` no gradient is part
 * of a graph, so a gradient this pass created is dead once no entry of the pending-gradient map
 * holds it and it was not handed to the caller: it is disposed there and then, and its buffer goes
 * back to the device's pool for the next result (the cpu backend's; others just free it early).
 * Temporaries inside a backward closure (the unreduced product before a `sumTo`, ...) are freed
 * when the closure returns. Disposal is by reference count on the buffer (engine/memory.ts), so a
 * buffer also reachable through a user's tensor (a reshape, a detach) is never reused.
 */
class Releaser {
  private readonly owned = new Set<Tensor>();
  private readonly holders = new Map<Tensor, number>();

  /** Runs one backward closure; returns its gradients, the closure's other tensors disposed. */
  run(fn: () => (Tensor | null)[]): (Tensor | null)[] {
    const [gs, created] = collecting(fn);
    for (const c of created) {
      if (gs.includes(c)) this.owned.add(c);
      else c.dispose();
    }
    return gs;
  }
  /** `x` was created by this pass (a sum of two gradients, a dtype conversion). */
  own(x: Tensor): void {
    this.owned.add(x);
  }
  hold(x: Tensor): void {
    this.holders.set(x, (this.holders.get(x) ?? 0) + 1);
  }
  unhold(x: Tensor): void {
    const n = (this.holders.get(x) ?? 1) - 1;
    if (n > 0) this.holders.set(x, n);
    else this.holders.delete(x);
  }
  /** `x` goes to the caller: never freed here; an enclosing tidy tracks it again. */
  handOut(x: Tensor): void {
    if (this.owned.delete(x)) trackTensor(x);
  }
  /** Frees `x` if this pass created it and nothing holds it. */
  freeIfDead(x: Tensor): void {
    if (!this.holders.has(x) && this.owned.delete(x)) x.dispose();
  }
  /** After the pass (or a throw inside it): whatever is left goes back to the enclosing tidy. */
  finish(): void {
    for (const x of this.owned) trackTensor(x);
    this.owned.clear();
  }
}

/**
 * Propagates `grads` (cotangents of `roots`) to every tensor in the graph. `onGrad` receives each
 * tensor's total gradient once it is complete, and returns true if it keeps that very tensor (not
 * a copy or a detached alias), which backward then never frees. Releases the graph unless
 * `retainGraph`.
 */
function propagate(
  roots: readonly Tensor[],
  rootGrads: readonly Tensor[],
  opts: BackwardOpts,
  onGrad: (t: Tensor, g: Tensor) => boolean,
): void {
  const order = topoSort(roots);
  const grads = new Map<Tensor, Tensor>();
  // Under createGraph the gradients are themselves graph nodes: nothing is freed early.
  const rel = opts.createGraph ? null : new Releaser();
  const store = (x: Tensor, g: Tensor): void => {
    const prev = grads.get(x);
    if (prev) rel?.unhold(prev);
    grads.set(x, g);
    rel?.hold(g);
  };
  roots.forEach((r, i) => {
    const prev = grads.get(r);
    const sum = prev ? prev.add(rootGrads[i]) : rootGrads[i];
    if (prev) rel?.own(sum);
    store(r, sum);
  });
  try {
    withGradMode(opts.createGraph ?? false, () => walk(order, grads, rel, store, onGrad));
  } finally {
    rel?.finish();
  }
  // As in PyTorch, retainGraph defaults to createGraph.
  if (!(opts.retainGraph ?? opts.createGraph)) for (const t of order) if (t.node) t.node.inputs = null;
}

/** The reverse sweep of `propagate`: each tensor's backward, its gradients stored or summed. */
function walk(
  order: readonly Tensor[],
  grads: Map<Tensor, Tensor>,
  rel: Releaser | null,
  store: (x: Tensor, g: Tensor) => void,
  onGrad: (t: Tensor, g: Tensor) => boolean,
): void {
  for (let k = order.length - 1; k >= 0; k--) {
    const t = order[k];
    const g = grads.get(t);
    grads.delete(t); // free as we go
    if (!g) continue;
    rel?.unhold(g);
    if (onGrad(t, g)) rel?.handOut(g);
    const node = t.node;
    if (!node || !node.inputs) {
      rel?.freeIfDead(g);
      continue;
    }
    const inputs = node.inputs;
    const needs = inputs.map((x) => x.requiresGrad);
    const t0 = profiling() ? performance.now() : 0;
    const call = (): (Tensor | null)[] =>
      withSavedChecked(node.op.name, node.stamp, inputs, t, () =>
        node.op.backward!(g, { inputs, out: t, attrs: node.attrs, needs }),
      );
    const gs = rel ? rel.run(call) : call();
    if (t0) record(node.op.name, 'backward', performance.now() - t0);
    // Freed only after every input is served: one tensor may be the gradient of several.
    const dead: Tensor[] = [g];
    inputs.forEach((x, i) => {
      let gi = gs[i];
      if (!gi) return;
      if (!needs[i]) {
        dead.push(gi); // computed but not wanted (an op that does not check `needs`)
        return;
      }
      // A mixed-dtype op (float32 * float64 -> float64) must hand each input a gradient of its
      // own dtype, as PyTorch does; otherwise a float32 leaf would get a float64 .grad.
      if (gi.dtype !== x.dtype) {
        dead.push(gi);
        gi = gi.to(x.dtype);
        rel?.own(gi);
      }
      if (!sameShape(gi.shape, x.shape)) {
        throw new ShapeError(
          `backward of ${node.op.name}: gradient ${fmt(gi.shape)} for input ${i} of shape ${fmt(x.shape)}`,
        );
      }
      const prev = grads.get(x);
      if (!prev) return store(x, gi);
      const sum = prev.add(gi);
      rel?.own(sum);
      store(x, sum);
      dead.push(prev, gi);
    });
    if (rel) for (const d of dead) rel.freeIfDead(d);
  }
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
    if (!t.isLeaf && !t.retainsGrad) return false;
    if (opts.createGraph) {
      t.grad = keep(t.grad ? t.grad.add(g) : g);
      return true;
    }
    const gd = g.detach(); // shares g's buffer, which backward may then release from g
    if (!t.grad) t.grad = keep(gd);
    else accumulateGrad(t, gd);
    return false;
  });
}

/**
 * grad += g for a `.grad` that already holds a gradient (a second backward without zeroGrad).
 * As PyTorch's AccumulateGrad, in place: `.grad` stays the same tensor, its version is bumped,
 * so a graph that saved the old value fails its backward instead of using the sum. The old
 * buffer is released (to the cpu pool) unless a tensor sharing it, such as a detach, still
 * needs it. A `.grad` set by hand to another shape or dtype keeps the old out-of-place rule.
 */
function accumulateGrad(t: Tensor, g: Tensor): void {
  const old = t.grad!;
  const sum = old.add(g);
  if (sameShape(sum.shape, old.shape) && sum.dtype === old.dtype) {
    old.assign(sum);
    sum.dispose();
  } else {
    t.grad = keep(sum);
  }
  g.dispose();
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
    if (!wanted.has(t)) return false;
    found.set(t, g);
    return true;
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
