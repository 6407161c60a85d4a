/**
 * Basic layers: Linear, Embedding, LayerNorm, Dropout, DropPath, GELU, Identity and the
 * containers Sequential and ModuleList. Parameter names follow PyTorch (`weight`, `bias`), so
 * state dicts map 1:1. Parameters are accessors over the module's registry: assigning one
 * (`decoder.weight = wordEmbeddings.weight`) re-registers it, which is how weights are tied.
 */
import {
  defaultRng,
  dropout,
  embedding,
  layerNorm,
  linear,
  ones,
  tensor,
  zeros,
  type Rng,
  type Tensor,
} from '../engine/index.js';
import { linearDefault_, normal_ } from './init.js';
import { Module, type UnaryModule } from './module.js';

/**
 * y = x Wᵀ + b, with PyTorch's default init (kaiming_uniform a = sqrt(5), bias U(±1/sqrt(in))).
 * Shapes: [..., in] -> [..., out]; weight [out, in], bias [out].
 */
export class Linear extends Module {
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean; rng?: Rng } = {},
  ) {
    super();
    this.weight = zeros([outFeatures, inFeatures]);
    this.bias = (opts.bias ?? true) ? zeros([outFeatures]) : null;
    linearDefault_(this.weight, this.bias, opts.rng ?? defaultRng());
  }
  get weight(): Tensor {
    return this.param('weight');
  }
  set weight(t: Tensor) {
    this.registerParameter('weight', t);
  }
  get bias(): Tensor | null {
    return this.paramOrNull('bias');
  }
  set bias(t: Tensor | null) {
    this.registerParameter('bias', t);
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias); // [..., in] @ [out, in]ᵀ -> [..., out], W read in place
  }
}

/**
 * A lookup table of V vectors of width C, initialized N(0, 1) as PyTorch. With `paddingIdx` that
 * row starts at zero and never receives a gradient (PyTorch's padding_idx).
 * Shapes: ids [...] int32 -> [..., C]; weight [V, C].
 */
export class Embedding extends Module {
  readonly paddingIdx: number | null;
  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: { paddingIdx?: number; rng?: Rng } = {},
  ) {
    super();
    this.weight = normal_(zeros([numEmbeddings, embeddingDim]), opts.rng ?? defaultRng());
    const p = opts.paddingIdx;
    this.paddingIdx = p === undefined ? null : p < 0 ? p + numEmbeddings : p;
    if (this.paddingIdx !== null) {
      const data = this.weight.dataSync();
      data.fill(0, this.paddingIdx * embeddingDim, (this.paddingIdx + 1) * embeddingDim);
      this.weight.assign(tensor(data, { shape: this.weight.shape }));
    }
  }
  get weight(): Tensor {
    return this.param('weight');
  }
  set weight(t: Tensor) {
    this.registerParameter('weight', t);
  }

  forward(ids: Tensor): Tensor {
    const out = embedding(this.weight, ids); // [..., C]
    if (this.paddingIdx === null || !out.requiresGrad) return out;
    // Same values, but rows looked up at paddingIdx pass no gradient back to the table.
    const pad = ids.eq(this.paddingIdx).unsqueeze(-1).to(out.dtype); // [..., 1]
    return out.mul(pad.neg().add(1)).add(out.detach().mul(pad));
  }
}

/**
 * Layer normalization over the last dim: (x - mean) / sqrt(var + eps) · weight + bias, biased
 * variance. eps: 1e-5 (PyTorch), 1e-6 (ViT, VLMo), 1e-12 (BERT).
 * Shapes: [..., C] -> [..., C]; weight, bias [C].
 */
export class LayerNorm extends Module {
  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
    opts: { affine?: boolean } = {},
  ) {
    super();
    const affine = opts.affine ?? true;
    this.weight = affine ? ones([dim]) : null;
    this.bias = affine ? zeros([dim]) : null;
  }
  get weight(): Tensor | null {
    return this.paramOrNull('weight');
  }
  set weight(t: Tensor | null) {
    this.registerParameter('weight', t);
  }
  get bias(): Tensor | null {
    return this.paramOrNull('bias');
  }
  set bias(t: Tensor | null) {
    this.registerParameter('bias', t);
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, [this.dim], this.weight, this.bias, this.eps);
  }
}

/** Inverted dropout with its own seeded generator, active only in training mode. Shapes: any. */
export class Dropout extends Module {
  constructor(
    readonly p = 0.5,
    readonly rng: Rng = defaultRng(),
  ) {
    super();
    if (!(p >= 0 && p <= 1)) throw new RangeError(`Dropout: p must be in [0, 1], got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.rng);
  }
}

/**
 * Stochastic depth (timm DropPath): in training, zeroes a whole sample's residual branch with
 * probability p and scales kept samples by 1/(1-p); the identity in eval mode.
 * Shapes: [B, ...] -> [B, ...] (one draw per sample).
 */
export class DropPath extends Module {
  constructor(
    readonly p = 0,
    readonly rng: Rng = defaultRng(),
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new RangeError(`DropPath: p must be in [0, 1), got ${p}`);
  }
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    const B = x.shape[0],
      keep = 1 - this.p;
    const mask = new Float64Array(B).map(() => (this.rng.uniform() < keep ? 1 / keep : 0));
    const shape = [B, ...x.shape.slice(1).map(() => 1)]; // [B, 1, 1]
    return x.mul(tensor(mask, { shape, dtype: x.dtype, device: x.backend }));
  }
}

/** GELU, exact (x·Φ(x), erf form: BERT, ViT) or the tanh approximation. Shapes: any. */
export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.gelu(this.approximate);
  }
}

/** Returns its input (a placeholder where a layer is switched off). Shapes: any. */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Children registered as '0', '1', ... and applied in order. Shapes: those of the chain. */
export class Sequential extends Module {
  readonly layers: readonly UnaryModule[];
  constructor(...layers: UnaryModule[]) {
    super();
    layers.forEach((m, i) => this.registerModule(String(i), m));
    this.layers = layers;
  }
  forward(x: Tensor): Tensor {
    return this.layers.reduce((h, m) => m.forward(h), x);
  }
}

/** A list of modules registered as '0', '1', ... (e.g. `encoder.layer.0...`); no forward. */
export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  private readonly items: M[] = [];
  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.push(m);
  }
  push(m: M): this {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
    return this;
  }
  get length(): number {
    return this.items.length;
  }
  /** The i-th module; negative i counts from the end. */
  at(i: number): M {
    const m = this.items.at(i);
    if (!m) throw new RangeError(`ModuleList: index ${i} out of range for length ${this.items.length}`);
    return m;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
