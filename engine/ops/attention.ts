/**
 * Scaled dot-product attention as one primitive: softmax(q kᵀ · scale + masks) v over the last
 * two dims, with optional dropout on the probabilities. The composite (`sdpaComposite`, the
 * chain the attention modules used to build: mul, matmul, add per mask, softmax, dropout mul,
 * matmul) is its oracle and its forward: the op's forward runs it without recording a graph,
 * so every backend computes exactly what it computed before, and the graph holds one node
 * instead of six or more. The probabilities are kept from the forward for a first-order
 * backward; under `createGraph` the backward recomputes them with tensor ops, so the op stays
 * differentiable to any order.
 *
 * Dropout: the caller draws the keep-mask (`dropoutMask`, the same draws in the same order as
 * `dropout(probs)`), so a seeded run is unchanged by switching to the fused op.
 */
import { apply } from '../apply.js';
import { keep as keepFromTidy } from '../memory.js';
import { defineOp, isGradEnabled, noGrad } from '../op.js';
import { matmul } from './matmul.js';
import { DTypeError, fmt, isFloat, ShapeError, broadcastShapes } from '../shape.js';
import type { Tensor } from '../tensor.js';

export interface SdpaAttrs {
  /** Multiplies q before q kᵀ. */
  readonly scale: number;
  /** Inverted-dropout keep-mask [..., T, S] (0 or 1/(1-p)), or null for no dropout. */
  readonly keep: Tensor | null;
  /** The forward's probabilities, held for the first backward (then released). */
  readonly stash: { probs?: Tensor };
}

/** op(a) @ op(b) over the last two dims, transposed operands read in place. */
const mm = (a: Tensor, b: Tensor, transA = false, transB = false): Tensor => apply(matmul, [a, b], { transA, transB });

/** softmax(q·scale kᵀ + masks), the composite's own order of operations. */
function probsOf(q: Tensor, k: Tensor, masks: readonly Tensor[], scale: number): Tensor {
  let logits = mm(q.mul(scale), k, false, true);
  for (const m of masks) logits = logits.add(m);
  return logits.softmax(-1);
}

/**
 * The composite oracle: softmax(q·scale kᵀ + masks[0] + masks[1] + ...) (⊙ keep) v.
 * Shapes: q [..., T, D], k [..., S, D], v [..., S, Dv], masks broadcastable to [..., T, S],
 * keep [..., T, S] -> [..., T, Dv].
 */
export function sdpaComposite(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  masks: readonly Tensor[] = [],
  scale = 1 / Math.sqrt(q.shape[q.ndim - 1]),
  keep: Tensor | null = null,
): Tensor {
  const probs = probsOf(q, k, masks, scale);
  return mm(keep ? probs.mul(keep) : probs, v);
}

function sdpaShape([q, k, v, ...masks]: readonly Tensor[], { keep }: SdpaAttrs) {
  const what = () =>
    `scaledDotProductAttention: q ${fmt(q.shape)}, k ${fmt(k.shape)}, v ${fmt(v.shape)}` +
    (masks.length ? `, masks ${masks.map((m) => fmt(m.shape)).join(' ')}` : '');
  if (![q, k, v, ...masks].every((x) => isFloat(x.dtype) && x.dtype === q.dtype)) {
    throw new DTypeError(`${what()}: need float tensors of one dtype, got ${[q, k, v, ...masks].map((x) => x.dtype)}`);
  }
  const n = q.ndim;
  if (n < 2 || k.ndim !== n || v.ndim !== n) throw new ShapeError(`${what()}: need q, k, v of one rank >= 2`);
  const batch = q.shape.slice(0, -2);
  if (fmt(k.shape.slice(0, -2)) !== fmt(batch) || fmt(v.shape.slice(0, -2)) !== fmt(batch)) {
    throw new ShapeError(`${what()}: q, k and v need the same leading (batch) dims`);
  }
  const [T, D] = q.shape.slice(-2),
    [S, Dk] = k.shape.slice(-2),
    [Sv, Dv] = v.shape.slice(-2);
  if (Dk !== D || Sv !== S) throw new ShapeError(`${what()}: need k [..., S, ${D}] and v [..., S, Dv] with one S`);
  checkLogitMasks(what, [...batch, T, S], masks, keep);
  return { shape: [...batch, T, Dv], dtype: q.dtype };
}

/** Throws unless every additive mask broadcasts to the attention logits' shape and the dropout keep-mask is exactly it. */
export function checkLogitMasks(
  what: () => string,
  logits: readonly number[],
  masks: readonly Tensor[],
  keep: Tensor | null | undefined,
): void {
  for (const m of masks) {
    const b = broadcastShapes(`${what()}: mask`, m.shape, logits);
    if (fmt(b) !== fmt(logits))
      throw new ShapeError(`${what()}: mask ${fmt(m.shape)} must broadcast to ${fmt(logits)}`);
  }
  if (keep && fmt(keep.shape) !== fmt(logits)) {
    throw new ShapeError(`${what()}: dropout keep-mask ${fmt(keep.shape)} must be ${fmt(logits)}`);
  }
}

/**
 * The primitive. Inputs: q, k, v, then any number of additive masks. Gradients (P the
 * probabilities, M the keep-mask, G the output gradient, dS the logits' gradient):
 * gv = (P⊙M)ᵀ G; dP = (G vᵀ)⊙M; dS = P⊙(dP - Σ_S dP⊙P); gq = dS k · scale; gk = dSᵀ q · scale;
 * each mask gets dS summed to its shape.
 */
export const sdpa = defineOp<SdpaAttrs>({
  name: 'scaledDotProductAttention',
  shape: sdpaShape,
  forward: (_be, inputs, _out, attrs) => {
    const [q, k, v, ...masks] = inputs;
    const recording = isGradEnabled() && inputs.some((x) => x.requiresGrad);
    return noGrad(() => {
      const probs = probsOf(q, k, masks, attrs.scale);
      // Held only where a node will be recorded; `keep` stops an enclosing tidy from freeing it.
      if (recording) attrs.stash.probs = keepFromTidy(probs);
      return mm(attrs.keep ? probs.mul(attrs.keep) : probs, v).raw;
    });
  },
  backward: (g, { inputs, attrs: { scale, keep, stash }, needs }) => {
    const [q, k, v, ...masks] = inputs;
    const held = stash.probs;
    stash.probs = undefined;
    // Under createGraph the probabilities must carry their own graph: recompute them.
    const fresh = !held || held.isDisposed || isGradEnabled();
    const probs = fresh ? probsOf(q, k, masks, scale) : held;
    const dropped = keep ? probs.mul(keep) : probs;
    const gv = needs[2] ? mm(dropped, g, true) : null;
    const gs = softmaxGrad(probs, mm(g, v, false, true), keep);
    const gq = needs[0] ? mm(gs, k).mul(scale) : null;
    const gk = needs[1] ? mm(gs, q, true).mul(scale) : null;
    const gm = masks.map((m, i) => (needs[3 + i] ? gs.sumTo(m.shape) : null));
    if (held && !held.isDisposed) held.dispose();
    return [gq, gk, gv, ...gm];
  },
});

/** The fused softmax backward (Backend.softmaxBackward). Internal: applied only where no graph
 * is recorded, so it needs no backward of its own. Inputs p, g (and keep), all one shape. */
const softmaxBackward = defineOp<Record<string, never>>({
  name: 'softmaxBackward',
  shape: ([p]) => ({ shape: p.shape, dtype: p.dtype }),
  forward: (be, [p, g, keep], out) => be.softmaxBackward!(p.raw, g.raw, keep?.raw ?? null, out.shape.at(-1)!),
});

/**
 * The logits' gradient from the probabilities' one: dS = P ⊙ (D − Σ_S D ⊙ P), D = dP (⊙ keep).
 * One backend pass where the backend has one and no graph is recorded (same bits as the ops);
 * otherwise the tensor ops, differentiable for createGraph.
 */
export function softmaxGrad(p: Tensor, gp: Tensor, keep: Tensor | null): Tensor {
  const fused =
    !isGradEnabled() &&
    p.backend.softmaxBackward !== undefined &&
    p.ndim > 0 &&
    [gp, ...(keep ? [keep] : [])].every((x) => x.dtype === p.dtype && fmt(x.shape) === fmt(p.shape));
  if (fused) return apply(softmaxBackward, keep ? [p, gp, keep] : [p, gp], {});
  const d = keep ? gp.mul(keep) : gp;
  return p.mul(d.sub(d.mul(p).sum(-1, true)));
}

export const ATTENTION_OPS = [sdpa] as const;
