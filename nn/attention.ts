/**
 * Multi-head scaled dot-product attention, self or cross, covering the three layouts ALBEF and VLMo
 * need: ViT (one fused qkv Linear with bias), BERT (separate query/key/value, keys and values
 * possibly from a wider encoder) and VLMo (fused qkv without bias plus separate q and v biases,
 * relative position bias added to the logits).
 */
import {
  concat,
  defaultRng,
  full,
  matmul,
  multiHeadSdpa,
  tensor,
  type DType,
  type Rng,
  type Tensor,
} from '../engine/index.js';
import { Dropout, Linear } from './layers.js';
import { Module } from './module.js';

export interface AttentionConfig {
  /** C: query (and output) width. */
  dim: number;
  /** H: number of heads; C must divide by H (head width D = C / H). */
  heads: number;
  /** Width of the key/value input (BERT's encoder_width for cross-attention); default C. */
  kvDim?: number;
  /** One [3C, C] projection `qkv` (ViT, VLMo) instead of `query`/`key`/`value` (BERT). Self-attention only. */
  fusedQkv?: boolean;
  /** Biases of q, k and v: one flag for all, or one each (VLMo: [true, false, true]). Default true. */
  qkvBias?: boolean | readonly [boolean, boolean, boolean];
  /** Dropout on the attention probabilities (BERT's attention_probs_dropout_prob). */
  attnDropout?: number;
  /** Draws the initial weights and the dropout masks. */
  rng?: Rng;
}

export interface AttentionInputs {
  /** Keys/values for cross-attention [B, S, kvDim]; self-attention when absent. */
  context?: Tensor;
  /** Additive mask broadcastable to [B, H, T, S], e.g. keyPaddingMask(keep) -> [B, 1, 1, S]. */
  mask?: Tensor;
  /** Additive bias on the logits, [H, T, S] or [B, H, T, S] (VLMo's relative position bias). */
  relPosBias?: Tensor;
  /** Query t sees keys 0..t only (requires T = S). */
  causal?: boolean;
}

/**
 * An additive key-padding mask from a keep-mask (1 = real token, 0 = padding): 0 where kept and
 * `value` where padded (BERT: -10000; VLMo: -Infinity). Shapes: keep [B, S] -> [B, 1, 1, S].
 */
export function keyPaddingMask(keep: Tensor, value = -10000, dtype: DType = 'float32'): Tensor {
  const [B, S] = keep.shape;
  const opts = { dtype, device: keep.backend };
  return full([], 0, opts)
    .where(keep.ne(0), full([], value, opts))
    .reshape([B, 1, 1, S]);
}

/** Additive causal mask: 0 on and below the diagonal, -Infinity above. Shapes: [T, T]. */
export function causalMask(T: number, like: Tensor): Tensor {
  const m = new Float64Array(T * T);
  for (let i = 0; i < T; i++) m.fill(-Infinity, i * T + i + 1, (i + 1) * T);
  return tensor(m, { shape: [T, T], dtype: like.dtype, device: like.backend });
}

/**
 * softmax((x Wq)(ctx Wk)ᵀ / sqrt(D) + relPosBias + mask) (ctx Wv), per head, then `proj`.
 * Parameters: `qkv` (fused; plus `qBias`/`kBias`/`vBias` when only some biases exist) or
 * `query`/`key`/`value`; and `proj`.
 * Shapes: x [B, T, C], context [B, S, kvDim] -> out [B, T, C], probs [B, H, T, S].
 */
export class MultiHeadAttention extends Module {
  readonly heads: number;
  readonly headDim: number;
  readonly scale: number;
  readonly qkv: Linear | null = null;
  readonly query: Linear | null = null;
  readonly key: Linear | null = null;
  readonly value: Linear | null = null;
  readonly proj: Linear;
  readonly attnDrop: Dropout;

  constructor(readonly config: AttentionConfig) {
    super();
    const { dim, heads, kvDim = dim, fusedQkv = false, qkvBias = true } = config;
    if (dim % heads !== 0) throw new RangeError(`MultiHeadAttention: dim ${dim} is not divisible by heads ${heads}`);
    if (fusedQkv && kvDim !== dim)
      throw new RangeError(`MultiHeadAttention: fusedQkv needs kvDim = dim, got ${kvDim} vs ${dim}`);
    const rng = config.rng ?? defaultRng();
    const [qb, kb, vb] = typeof qkvBias === 'boolean' ? [qkvBias, qkvBias, qkvBias] : qkvBias;
    this.heads = heads;
    this.headDim = dim / heads;
    this.scale = 1 / Math.sqrt(this.headDim);
    if (fusedQkv) {
      const all = qb && kb && vb;
      this.qkv = this.registerModule('qkv', new Linear(dim, 3 * dim, { bias: all, rng }));
      if (!all) {
        // VLMo: the bias of the fused projection is [qBias, 0, vBias]; absent ones stay zero.
        this.registerParameter('qBias', qb ? full([dim], 0) : null);
        this.registerParameter('kBias', kb ? full([dim], 0) : null);
        this.registerParameter('vBias', vb ? full([dim], 0) : null);
      }
    } else {
      this.query = this.registerModule('query', new Linear(dim, dim, { bias: qb, rng }));
      this.key = this.registerModule('key', new Linear(kvDim, dim, { bias: kb, rng }));
      this.value = this.registerModule('value', new Linear(kvDim, dim, { bias: vb, rng }));
    }
    this.proj = this.registerModule('proj', new Linear(dim, dim, { rng }));
    this.attnDrop = this.registerModule('attnDrop', new Dropout(config.attnDropout ?? 0, rng.fork()));
  }

  /** [B, T, C] -> [B, H, T, D] */
  private splitHeads(x: Tensor): Tensor {
    const [B, T] = x.shape;
    return x.reshape([B, T, this.heads, this.headDim]).permute(0, 2, 1, 3);
  }

  /** The projections as the Linears give them: one packed [B, T, 3C] (fused qkv) or q [B, T, C],
   * k and v [B, S, C]. */
  private sources(x: Tensor, context: Tensor | undefined): Tensor[] {
    if (this.qkv) {
      if (context) throw new Error('MultiHeadAttention: a fused qkv projection cannot attend to a separate context');
      let qkv = this.qkv.forward(x); // [B, T, 3C]
      const biases = ['qBias', 'kBias', 'vBias'].map((n) => this.paramOrNull(n));
      if (!this.qkv.bias && biases.some((b) => b)) {
        const C = this.config.dim;
        qkv = qkv.add(concat(biases.map((b) => b ?? full([C], 0, { dtype: qkv.dtype, device: qkv.backend }))));
      }
      return [qkv];
    }
    const kv = context ?? x;
    return [this.query!.forward(x), this.key!.forward(kv), this.value!.forward(kv)];
  }

  /** q, k, v as [B, H, T|S, D]. */
  private project(x: Tensor, context: Tensor | undefined): [Tensor, Tensor, Tensor] {
    const src = this.sources(x, context);
    if (src.length === 3) return src.map((t) => this.splitHeads(t)) as [Tensor, Tensor, Tensor];
    const [B, T] = x.shape;
    const parts = src[0].reshape([B, T, 3, this.heads, this.headDim]).permute(2, 0, 3, 1, 4); // [3, B, H, T, D]
    return [0, 1, 2].map((i) => parts.narrow(0, i, 1).squeeze(0)) as [Tensor, Tensor, Tensor];
  }

  /**
   * Output and attention probabilities (before attention dropout), e.g. for visualization or
   * Grad-CAM. Built op by op (the probabilities are a tensor of the graph); `forward` computes
   * the same output with the fused op, taking the same dropout draws.
   */
  attend(x: Tensor, inputs: AttentionInputs = {}): { out: Tensor; probs: Tensor } {
    const [q, k, v] = this.project(x, inputs.context); // [B, H, T, D], [B, H, S, D] x2
    let logits = matmul(q.mul(this.scale), k, { transB: true }); // [B, H, T, D] @ [B, H, S, D]ᵀ -> [B, H, T, S]
    for (const m of this.masks(x, k.shape[2], inputs)) logits = logits.add(m);
    const probs = logits.softmax(-1); // [B, H, T, S]
    const y = this.attnDrop.forward(probs).matmul(v); // [B, H, T, S] @ [B, H, S, D] -> [B, H, T, D]
    return { out: this.merge(y), probs };
  }

  /**
   * The output alone, through the fused `multiHeadSdpa` op: heads are read from the projections
   * and written into [B, T, C] in place (no split or merge copies), with the same values and
   * dropout draws as `attend`. Shapes: [B, T, C] -> [B, T, C].
   */
  forward(x: Tensor, inputs: AttentionInputs = {}): Tensor {
    const src = this.sources(x, inputs.context);
    const S = src.length === 3 ? src[1].shape[1] : x.shape[1];
    const drop = this.attnDrop;
    const y = multiHeadSdpa(src.length === 3 ? (src as [Tensor, Tensor, Tensor]) : src[0], {
      heads: this.heads,
      mask: this.masks(x, S, inputs),
      scale: this.scale,
      dropout: drop.training ? drop.p : 0,
      rng: drop.rng,
    });
    return this.proj.forward(y);
  }

  /** The additive terms of the logits, in the order they are added: relPosBias, mask, causal. */
  private masks(x: Tensor, S: number, inputs: AttentionInputs): Tensor[] {
    const out: Tensor[] = [];
    if (inputs.relPosBias) out.push(inputs.relPosBias);
    if (inputs.mask) out.push(inputs.mask.to(x.dtype)); // no silent dtype promotion
    if (inputs.causal) {
      const T = x.shape[1];
      if (S !== T) throw new RangeError(`MultiHeadAttention: causal needs T = S, got ${T} and ${S}`);
      out.push(causalMask(T, x));
    }
    return out;
  }

  /** [B, H, T, D] -> proj([B, T, C]). */
  private merge(y: Tensor): Tensor {
    const [B, , T] = y.shape;
    return this.proj.forward(y.permute(0, 2, 1, 3).reshape([B, T, this.config.dim]));
  }
}
