/**
 * ALBEF's text and fusion encoder (ALBEF:models/xbert.py) as one post-LN BERT: layers
 * [0, fusionLayer) encode text, layers [fusionLayer, L) add cross-attention to the image tokens
 * (self -> cross -> FFN). The reference switches these with `mode='text' | 'fusion' | 'multi_modal'`;
 * here they are three methods. Each layer is nn's TransformerLayer; `BertLayer` only registers its
 * pieces under BERT's checkpoint names (`attention.self.query`, `output.LayerNorm`, ...).
 */
import { matmul, tensor, type Rng, type Tensor } from '../../engine/index.js';
import { normal_, zeros_ } from '../../nn/init.js';
import { Dropout, Embedding, LayerNorm, Linear, ModuleList } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { keyPaddingMask } from '../../nn/attention.js';
import { TransformerLayer } from '../../nn/transformer.js';
import type { BertConfig } from './config.js';

/** A parameterless module that only groups children under checkpoint names. */
function group(children: Record<string, Module | null>): Module {
  const m = new Module();
  for (const [name, child] of Object.entries(children)) if (child) m.registerModule(name, child);
  return m;
}

/** BERT init (initializer_range): Linear and Embedding weights N(0, std²), zero biases, [PAD] row zero. */
function initBert_(root: Module, rng: Rng, std: number, padId: number): void {
  for (const m of root.modules()) {
    if (m instanceof Linear) {
      normal_(m.weight, rng, { std });
      if (m.bias) zeros_(m.bias);
    }
    if (m instanceof Embedding) {
      normal_(m.weight, rng, { std });
      if (m.paddingIdx !== null) {
        const w = m.weight.dataSync();
        w.fill(0, padId * m.embeddingDim, (padId + 1) * m.embeddingDim);
        m.weight.assign(tensor(w, { shape: m.weight.shape, dtype: m.weight.dtype, device: m.weight.backend }));
      }
    }
  }
}

/**
 * word + position + token-type(0) embeddings -> LayerNorm -> dropout.
 * Shapes: ids [B, T] int32 -> [B, T, C].
 */
export class BertEmbeddings extends Module {
  readonly wordEmbeddings: Embedding;
  readonly positionEmbeddings: Embedding;
  readonly tokenTypeEmbeddings: Embedding;
  readonly layerNorm: LayerNorm;
  readonly dropout: Dropout;

  constructor(
    readonly config: BertConfig,
    rng: Rng,
  ) {
    super();
    const { vocabSize, hidden, maxPositions, typeVocabSize, eps, hiddenDropout, padId } = config;
    this.wordEmbeddings = this.registerModule(
      'word_embeddings',
      new Embedding(vocabSize, hidden, { paddingIdx: padId, rng }),
    );
    this.positionEmbeddings = this.registerModule('position_embeddings', new Embedding(maxPositions, hidden, { rng }));
    this.tokenTypeEmbeddings = this.registerModule(
      'token_type_embeddings',
      new Embedding(typeVocabSize, hidden, { rng }),
    );
    this.layerNorm = this.registerModule('LayerNorm', new LayerNorm(hidden, eps));
    this.dropout = this.registerModule('dropout', new Dropout(hiddenDropout, rng.fork()));
  }

  forward(ids: Tensor): Tensor {
    const T = ids.shape[1],
      max = this.config.maxPositions;
    if (T > max) throw new RangeError(`BERT: text of ${T} tokens is longer than the ${max} positions of this config`);
    const words = this.wordEmbeddings.forward(ids); // [B, T, C]
    const positions = this.positionEmbeddings.weight.narrow(0, 0, T); // [T, C], ids 0..T-1
    const type0 = this.tokenTypeEmbeddings.weight.narrow(0, 0, 1); // [1, C], ALBEF uses type 0 only
    return this.dropout.forward(this.layerNorm.forward(words.add(positions).add(type0)));
  }
}

/**
 * One BERT layer: nn's post-LN TransformerLayer, y = LN(x + Dropout(sub(x))) per sub-layer, with
 * optional cross-attention whose keys/values read `encoderWidth`-wide image states.
 * Shapes: x [B, T, C], image [B, P, Cv] -> [B, T, C].
 */
export class BertLayer extends Module {
  readonly core: TransformerLayer;

  constructor(
    config: BertConfig,
    readonly hasCrossAttention: boolean,
    rng: Rng,
  ) {
    super();
    const { hidden, heads, intermediate, eps, hiddenDropout, attnDropout, encoderWidth } = config;
    const core = new TransformerLayer({
      dim: hidden,
      heads,
      mlpDim: intermediate,
      norm: 'post',
      eps,
      crossAttention: hasCrossAttention,
      kvDim: encoderWidth,
      dropout: hiddenDropout,
      attnDropout,
      rng,
    });
    this.core = core;
    // The same tensors, under xbert's names (BertAttention = self + output; then intermediate, output).
    const attention = (a: TransformerLayer['attn'], norm: LayerNorm): Module =>
      group({
        self: group({ query: a.query, key: a.key, value: a.value, dropout: a.attnDrop }),
        output: group({ dense: a.proj, LayerNorm: norm, dropout: core.drop }),
      });
    this.registerModule('attention', attention(core.attn, core.norm1));
    if (core.crossAttn && core.crossNorm)
      this.registerModule('crossattention', attention(core.crossAttn, core.crossNorm));
    this.registerModule('intermediate', group({ dense: core.mlp.fc1 }));
    this.registerModule('output', group({ dense: core.mlp.fc2, LayerNorm: core.norm2, dropout: core.drop }));
  }

  /** Output and the cross-attention probabilities [B, H, T, P] (null in a text layer). */
  forwardWithAttention(x: Tensor, mask: Tensor, image?: Tensor): { out: Tensor; crossAttn: Tensor | null } {
    const r = this.core.forwardWithAttention(x, { mask, context: image }); // image mask is all ones: no term
    return { out: r.out, crossAttn: r.crossAttn };
  }
}

/**
 * BertModel without pooler: `embeddings` and `encoder.layer.i`. The three reference modes are the
 * methods `encodeText`, `fuse` and `multimodal`.
 */
export class BertModel extends Module {
  readonly embeddings: BertEmbeddings;
  readonly layers: ModuleList<BertLayer>;

  constructor(
    readonly config: BertConfig,
    rng: Rng,
  ) {
    super();
    this.embeddings = this.registerModule('embeddings', new BertEmbeddings(config, rng));
    this.layers = new ModuleList<BertLayer>();
    for (let i = 0; i < config.layers; i++) this.layers.push(new BertLayer(config, i >= config.fusionLayer, rng));
    this.registerModule('encoder', group({ layer: this.layers }));
  }

  /** Additive self-attention mask from the keep-mask: 0 on tokens, −10000 on padding. [B, T] -> [B, 1, 1, T]. */
  private extendedMask(mask: Tensor, like: Tensor): Tensor {
    return keyPaddingMask(mask, -10000, like.dtype);
  }

  /** Layers [from, to); with `withAttention` they also return their cross-attention probabilities
   * (op by op), without it attention runs through the fused op. */
  private run(
    x: Tensor,
    mask: Tensor,
    from: number,
    to: number,
    image?: Tensor,
    withAttention = false,
  ): { out: Tensor; crossAttn: Tensor[] } {
    const ext = this.extendedMask(mask, x),
      crossAttn: Tensor[] = [];
    for (let i = from; i < to; i++) {
      const layer = this.layers.at(i),
        context = i >= this.config.fusionLayer ? image : undefined;
      const r = withAttention
        ? layer.forwardWithAttention(x, ext, context)
        : { out: layer.core.forward(x, { mask: ext, context }), crossAttn: null };
      x = r.out; // [B, T, C]
      if (r.crossAttn) crossAttn.push(r.crossAttn);
    }
    return { out: x, crossAttn };
  }

  /** mode 'text': embeddings + layers [0, fusionLayer). Shapes: ids, mask [B, T] -> [B, T, C]. */
  encodeText(ids: Tensor, mask: Tensor): Tensor {
    return this.run(this.embeddings.forward(ids), mask, 0, this.config.fusionLayer).out;
  }

  /**
   * mode 'fusion': the text encoder's states (no second embedding) through layers [fusionLayer, L),
   * cross-attending to the image. Also returns each fusion layer's cross-attention probabilities
   * unless `withAttention` is false (then `crossAttn` is empty and attention uses the fused op).
   * Shapes: text [B, T, C], mask [B, T], image [B, P, Cv] -> out [B, T, C], crossAttn[i] [B, H, T, P].
   */
  fuse(text: Tensor, mask: Tensor, image: Tensor, withAttention = true): { out: Tensor; crossAttn: Tensor[] } {
    return this.run(text, mask, this.config.fusionLayer, this.config.layers, image, withAttention);
  }

  /** mode 'multi_modal': embeddings + all layers (used by MLM). Shapes: ids [B, T] -> [B, T, C]. */
  multimodal(ids: Tensor, mask: Tensor, image: Tensor): Tensor {
    return this.run(this.embeddings.forward(ids), mask, 0, this.config.layers, image).out;
  }
}

/**
 * BERT's MLM head `cls.predictions`: dense -> GELU -> LayerNorm -> decoder, whose weight is the word
 * embedding matrix (tied) plus its own bias (registered as both `bias` and `decoder.bias`, as HF ties them).
 * Shapes: [..., C] -> [..., V].
 */
export class MlmHead extends Module {
  readonly dense: Linear;
  readonly layerNorm: LayerNorm;
  constructor(
    config: BertConfig,
    readonly wordEmbeddings: Embedding,
    rng: Rng,
  ) {
    super();
    this.dense = new Linear(config.hidden, config.hidden, { rng });
    this.layerNorm = new LayerNorm(config.hidden, config.eps);
    this.registerModule('transform', group({ dense: this.dense, LayerNorm: this.layerNorm }));
    const bias = this.registerParameter('bias', wordEmbeddings.weight.zerosLike([config.vocabSize]))!;
    const decoder = this.registerModule('decoder', new Module());
    decoder.registerParameter('weight', wordEmbeddings.weight); // tied: one tensor, two names
    decoder.registerParameter('bias', bias);
  }
  get bias(): Tensor {
    return this.param('bias');
  }

  forward(h: Tensor): Tensor {
    const x = this.layerNorm.forward(this.dense.forward(h).gelu()); // [..., C]
    return matmul(x, this.wordEmbeddings.weight, { transB: true }).add(this.bias); // [..., C] @ [V, C]ᵀ -> [..., V]
  }
}

/** BertForMaskedLM: `bert` + `cls.predictions`. The whole text side of ALBEF (online or momentum). */
export class BertForMaskedLM extends Module {
  readonly bert: BertModel;
  readonly head: MlmHead;
  constructor(
    readonly config: BertConfig,
    rng: Rng,
    initStd = 0.02,
  ) {
    super();
    this.bert = this.registerModule('bert', new BertModel(config, rng));
    this.head = new MlmHead(config, this.bert.embeddings.wordEmbeddings, rng);
    this.registerModule('cls', group({ predictions: this.head }));
    initBert_(this, rng, initStd, config.padId);
  }

  /**
   * MLM logits at selected positions only: the losses read nothing else, so the head (the widest
   * matmul, C×V) runs on M rows instead of B·T. Shapes: states [B, T, C], positions [M] -> [M, V].
   */
  logitsAt(states: Tensor, positions: Tensor): Tensor {
    const [B, T, C] = states.shape;
    return this.head.forward(states.reshape([B * T, C]).indexSelect(0, positions));
  }
}
