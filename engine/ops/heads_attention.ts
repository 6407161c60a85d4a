/**
 * Multi-head scaled dot-product attention on head-interleaved activations: q [B, T, H*D],
 * k [B, S, H*D], v [B, S, H*Dv] (the Linear outputs as they come), or one packed [B, T, 3C]
 * q|k|v (a fused qkv Linear), -> [B, T, H*Dv], the layout the output projection reads.
 *
 * The op does what `scaledDotProductAttention` does on [B, H, T, D] heads, but never builds
 * them: every head product reads its head in place as a [T, D] matrix with row stride W (the
 * source's width) through the backend matmul's row strides and batch offsets, and the P v
 * product writes each head straight into its columns of the [B, T, H*Dv] result. That removes
 * the head split (reshape + permute + slice copies) and merge (permute copy) of the forward and
 * their slice/sliceAssign/permute copies in the backward. The composite (split, sdpaComposite,
 * merge, all tensor ops) is the oracle, the dtype-mixing fallback and the `createGraph` backward.
 */
import type { MatmulParams, Shape } from '../../kernels/backend.js';
import { apply } from '../apply.js';
import { concat } from '../functional.js';
import { keep as keepFromTidy } from '../memory.js';
import { defineOp, isGradEnabled, noGrad } from '../op.js';
import { contiguousStrides, DTypeError, fmt, isFloat, ShapeError } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { checkLogitMasks, sdpa, sdpaComposite, softmaxGrad } from './attention.js';

export interface HeadsAttrs {
  readonly heads: number;
  /** Inputs before the masks: 1 (packed q|k|v) or 3 (q, k, v). */
  readonly sources: 1 | 3;
  readonly scale: number;
  /** Inverted-dropout keep-mask [B, H, T, S], or null. */
  readonly keep: Tensor | null;
  /** The forward's probabilities, held for the first backward (then released). */
  readonly stash: { probs?: Tensor };
}

/** Where one of q, k, v lives: a source [B, rows, width] and the column its first head starts at. */
interface Part {
  readonly src: Tensor;
  readonly col: number;
  /** Head width (D, or Dv for v). */
  readonly d: number;
}

/** B, T, S and the q, k, v parts of the inputs (assumed checked by `headsShape`). */
function partsOf(inputs: readonly Tensor[], { heads, sources }: HeadsAttrs) {
  const [q, k, v] = sources === 1 ? [inputs[0], inputs[0], inputs[0]] : inputs;
  const C = sources === 1 ? q.shape[2] / 3 : q.shape[2];
  const parts = {
    q: { src: q, col: 0, d: C / heads },
    k: { src: k, col: sources === 1 ? C : 0, d: C / heads },
    v: { src: v, col: sources === 1 ? 2 * C : 0, d: (sources === 1 ? C : v.shape[2]) / heads },
  };
  return { B: q.shape[0], T: q.shape[1], S: k.shape[1], masks: inputs.slice(sources), ...parts };
}

/** An operand of a head product: a head of a [B, rows, W] source, or a dense [B, H, rows, cols] tensor. */
type Operand = Part | { readonly dense: Tensor };

/** Batch offsets and row stride of an operand; item i = b*H + h. */
function layout(x: Operand, heads: number): { t: Tensor; offsets: Int32Array; ld?: number } {
  if ('dense' in x) {
    const [, , r, c] = x.dense.shape;
    return { t: x.dense, offsets: Int32Array.from({ length: x.dense.shape[0] * heads }, (_, i) => i * r * c) };
  }
  const [B, rows, W] = x.src.shape;
  const offsets = new Int32Array(B * heads);
  for (let b = 0; b < B; b++) for (let h = 0; h < heads; h++) offsets[b * heads + h] = b * rows * W + x.col + h * x.d;
  return { t: x.src, offsets, ld: W };
}

interface HeadMatmulAttrs {
  readonly params: MatmulParams;
  readonly shape: Shape;
}
/** One batched head product through the backend's strided matmul. Internal: only called where
 * no graph is recorded (the forward, and the first-order backward), so it needs no backward. */
const headMatmul = defineOp<HeadMatmulAttrs>({
  name: 'headMatmul',
  shape: ([a], { shape }) => ({ shape, dtype: a.dtype }),
  forward: (be, [a, b], _out, { params }) => be.matmul(a.raw, b.raw, params),
});

/**
 * op(a_bh) @ op(b_bh) for every batch b and head h, with `into` = 'heads' writing head h of
 * batch b to columns [h*n, (h+1)*n) of a [B, m, H*n] result, else a dense [B, H, m, n].
 */
function headProduct(
  a: Operand,
  b: Operand,
  dims: { B: number; H: number; m: number; k: number; n: number },
  opts: { transA?: boolean; transB?: boolean; into?: 'heads' },
): Tensor {
  const { B, H, m, k, n } = dims;
  const la = layout(a, H),
    lb = layout(b, H);
  const heads = opts.into === 'heads';
  const params: MatmulParams = {
    batch: B * H,
    m,
    k,
    n,
    aOffsets: la.offsets,
    bOffsets: lb.offsets,
    transA: opts.transA ?? false,
    transB: opts.transB ?? false,
    aRowStride: la.ld,
    bRowStride: lb.ld,
    ...(heads
      ? {
          cOffsets: Int32Array.from({ length: B * H }, (_, i) => Math.floor(i / H) * m * H * n + (i % H) * n),
          cRowStride: H * n,
          cSize: B * m * H * n,
        }
      : {}),
  };
  return apply(headMatmul, [la.t, lb.t], { params, shape: heads ? [B, m, H * n] : [B, H, m, n] });
}

interface ScaledColumnsAttrs {
  readonly col: number;
  readonly width: number;
  readonly scale: number;
}
/** x[:, :, col:col+width] · scale as a contiguous [B, T, width], read in place (internal, no
 * backward: used where no graph is recorded). It is the composite's `q.mul(scale)`, so the
 * logits round exactly as the composite's do. */
const scaledColumns = defineOp<ScaledColumnsAttrs>({
  name: 'scaledColumns',
  shape: ([x], { width }) => ({ shape: [x.shape[0], x.shape[1], width], dtype: x.dtype }),
  forward: (be, [x], out, { col, scale }) => {
    const [, T, W] = x.shape;
    const s = be.full(1, scale, x.dtype);
    const scalar = { shape: out.shape, strides: [0, 0, 0], offset: 0 };
    // The columns as one contiguous block (row copies), then the backend's elementwise kernel
    // where it has one; else one strided pass.
    const cols = be.arith ? be.copyStrided(x.raw, { shape: out.shape, strides: [T * W, W, 1], offset: col }) : null;
    const raw =
      (cols &&
        be.arith?.(
          'mul',
          cols,
          { shape: out.shape, strides: contiguousStrides(out.shape), offset: 0 },
          s,
          scalar,
          x.dtype,
        )) ||
      be.binary(scalarMul, x.raw, { shape: out.shape, strides: [T * W, W, 1], offset: col }, s, scalar, x.dtype);
    if (cols) be.dispose(cols);
    be.dispose(s);
    return raw;
  },
});
function scalarMul(a: number, b: number): number {
  return a * b;
}

/** [B, rows, W] columns [col, col + H*d) -> [B, H, rows, d] (tensor ops: slice + reshape + permute copies). */
function splitHeads(p: Part, heads: number): Tensor {
  const [B, rows] = p.src.shape;
  return p.src
    .narrow(2, p.col, heads * p.d)
    .reshape([B, rows, heads, p.d])
    .permute(0, 2, 1, 3);
}
/** [B, H, rows, d] -> [B, rows, H*d]. */
function mergeHeads(x: Tensor): Tensor {
  const [B, H, rows, d] = x.shape;
  return x.permute(0, 2, 1, 3).reshape([B, rows, H * d]);
}

/**
 * The oracle: split the heads with tensor ops, `sdpaComposite`, merge. Inputs as the op's:
 * `sources` = [qkv] packed [B, T, 3C] or [q, k, v]; masks broadcastable to [B, H, T, S].
 */
export function multiHeadSdpaComposite(
  sources: readonly Tensor[],
  heads: number,
  masks: readonly Tensor[] = [],
  scale?: number,
  keep: Tensor | null = null,
): Tensor {
  const attrs = { heads, sources: sources.length as 1 | 3, scale: 0, keep, stash: {} };
  const { q, k, v } = partsOf([...sources, ...masks], attrs);
  const y = sdpaComposite(splitHeads(q, heads), splitHeads(k, heads), splitHeads(v, heads), masks, scale, keep);
  return mergeHeads(y);
}

function headsShape(inputs: readonly Tensor[], attrs: HeadsAttrs): { shape: Shape; dtype: Tensor['dtype'] } {
  const { heads, sources, keep } = attrs;
  const src = inputs.slice(0, sources),
    masks = inputs.slice(sources);
  const what = () =>
    `multiHeadSdpa: ${sources === 1 ? 'qkv' : 'q, k, v'} ${src.map((x) => fmt(x.shape)).join(' ')}, heads ${heads}` +
    (masks.length ? `, masks ${masks.map((m) => fmt(m.shape)).join(' ')}` : '');
  if (!inputs.every((x) => isFloat(x.dtype) && x.dtype === inputs[0].dtype)) {
    throw new DTypeError(`${what()}: need float tensors of one dtype, got ${inputs.map((x) => x.dtype)}`);
  }
  if (!(Number.isInteger(heads) && heads >= 1)) throw new ShapeError(`${what()}: heads must be an integer >= 1`);
  if (src.some((x) => x.ndim !== 3)) throw new ShapeError(`${what()}: need [B, T, width] tensors`);
  const [B, T, W] = src[0].shape;
  if (sources === 1 && W % (3 * heads) !== 0) {
    throw new ShapeError(`${what()}: the packed width ${W} must be 3 * heads * D`);
  }
  if (sources === 3) {
    const [, k, v] = src;
    if (k.shape[0] !== B || v.shape[0] !== B) throw new ShapeError(`${what()}: q, k and v need one batch size`);
    if (k.shape[1] !== v.shape[1]) throw new ShapeError(`${what()}: k and v need one length S`);
    if (k.shape[2] !== W) throw new ShapeError(`${what()}: q and k need one width`);
    if (W % heads !== 0 || v.shape[2] % heads !== 0)
      throw new ShapeError(`${what()}: the widths must divide by heads ${heads}`);
  }
  const { S, v } = partsOf(inputs, attrs);
  checkLogitMasks(what, [B, heads, T, S], masks, keep);
  return { shape: [B, T, heads * v.d], dtype: inputs[0].dtype };
}

/** softmax(q·scale kᵀ + masks) over [B, H, T, S], heads read in place. */
function probsOf(inputs: readonly Tensor[], attrs: HeadsAttrs): Tensor {
  const { B, T, S, q, k, masks } = partsOf(inputs, attrs);
  const H = attrs.heads;
  const qs = apply(scaledColumns, [q.src], { col: q.col, width: H * q.d, scale: attrs.scale });
  let logits = headProduct({ src: qs, col: 0, d: q.d }, k, { B, H, m: T, k: q.d, n: S }, { transB: true });
  qs.dispose();
  for (const m of masks) {
    const next = logits.add(m);
    logits.dispose();
    logits = next;
  }
  const probs = logits.softmax(-1);
  logits.dispose();
  return probs;
}

/**
 * The primitive. Gradients as sdpa's (P the probabilities, M the keep-mask, G the output
 * gradient): gv = (P⊙M)ᵀ G; dP = (G vᵀ)⊙M; dS = P⊙(dP - Σ_S dP⊙P); gq = dS k · scale;
 * gk = dSᵀ q · scale, each written into its head's columns; a packed source gets [gq | gk | gv].
 */
export const multiHeadSdpa = defineOp<HeadsAttrs>({
  name: 'multiHeadSdpa',
  shape: headsShape,
  forward: (_be, inputs, _out, attrs) => {
    const { B, T, S, v } = partsOf(inputs, attrs);
    const H = attrs.heads;
    const recording = isGradEnabled() && inputs.some((x) => x.requiresGrad);
    return noGrad(() => {
      const probs = probsOf(inputs, attrs);
      const dropped = attrs.keep ? probs.mul(attrs.keep) : probs;
      const y = headProduct({ dense: dropped }, v, { B, H, m: T, k: S, n: v.d }, { into: 'heads' });
      if (dropped !== probs) dropped.dispose();
      // Held only where a node will be recorded; `keep` stops an enclosing tidy from freeing it.
      if (recording) attrs.stash.probs = keepFromTidy(probs);
      else probs.dispose();
      return y.raw;
    });
  },
  backward: (g, { inputs, attrs, needs }) => {
    const { stash, scale, keep, heads: H, sources } = attrs;
    const held = stash.probs;
    stash.probs = undefined;
    const parts = partsOf(inputs, attrs);
    const { B, T, S, q, k, v, masks } = parts;
    const need = sources === 1 ? [needs[0], needs[0], needs[0]] : needs.slice(0, 3);
    const maskNeeds = needs.slice(sources);
    let grads: (Tensor | null)[];
    if (!held || held.isDisposed || isGradEnabled()) {
      // Under createGraph (or without the forward's probabilities): the [B, H, T, D] heads as
      // tensor ops and sdpa's own backward, differentiable to any order.
      if (held && !held.isDisposed) held.dispose();
      const gh = g.reshape([B, T, H, v.d]).permute(0, 2, 1, 3);
      const hs = [q, k, v].map((p) => splitHeads(p, H));
      const gs = sdpa.backward!(gh, {
        inputs: [...hs, ...masks],
        out: gh,
        attrs: { scale, keep, stash: {} },
        needs: [...need, ...maskNeeds],
      });
      grads = [...gs.slice(0, 3).map((x) => x && mergeHeads(x)), ...gs.slice(3)];
    } else {
      const G = { src: g, col: 0, d: v.d };
      const dropped = keep ? held.mul(keep) : held;
      const gv = need[2]
        ? headProduct({ dense: dropped }, G, { B, H, m: S, k: T, n: v.d }, { transA: true, into: 'heads' })
        : null;
      const gs = softmaxGrad(held, headProduct(G, v, { B, H, m: T, k: v.d, n: S }, { transB: true }), keep);
      const gq = need[0]
        ? headProduct({ dense: gs }, k, { B, H, m: T, k: S, n: q.d }, { into: 'heads' }).mul(scale)
        : null;
      const gk = need[1]
        ? headProduct({ dense: gs }, q, { B, H, m: S, k: T, n: k.d }, { transA: true, into: 'heads' }).mul(scale)
        : null;
      grads = [gq, gk, gv, ...masks.map((m, i) => (maskNeeds[i] ? gs.sumTo(m.shape) : null))];
      held.dispose();
    }
    const [gq, gk, gv, ...gm] = grads;
    return sources === 1 ? [needs[0] ? concat([gq!, gk!, gv!], 2) : null, ...gm] : [gq, gk, gv, ...gm];
  },
});

export const HEADS_ATTENTION_OPS = [multiHeadSdpa] as const;
