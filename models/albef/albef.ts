/**
 * ALBEF (Li et al., NeurIPS 2021): align image and text features with a contrastive loss (ITC) before
 * fusing them with cross-attention (ITM, MLM), and learn from a momentum model's pseudo-targets
 * (momentum distillation). Reference: ALBEF:models/model_pretrain.py. Checkpoint names are the
 * reference's, so a state dict moves to and from PyTorch unchanged.
 */
import { concat, full, noGrad, Rng, tensor, type Tensor } from '../../engine/index.js';
import { Ema } from '../../nn/ema.js';
import { Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { BertForMaskedLM } from './bert.js';
import { validateConfig, type AlbefConfig } from './config.js';
import {
  itmLoss,
  lazyLabelledSubset,
  sameGroup,
  sampleNegativeIndices,
  type HardNegatives,
  type NegativeIndices,
} from '../common/objectives.js';
import { itcLoss, mlmLoss, softTargets } from './losses.js';
import { enqueue, initQueue } from './momentum.js';
import { VisionTransformer } from './vit.js';

/** One training batch as tensors. Shapes: images [B, 3, S, S]; ids, attentionMask, mlmIds, mlmLabels [B, T] int32. */
export interface AlbefInputs {
  images: Tensor;
  ids: Tensor;
  attentionMask: Tensor;
  /** MLM input: `ids` with 15% of tokens masked (80/10/10); MLM is skipped when absent. */
  mlmIds?: Tensor;
  /** The original id at masked positions, −100 elsewhere. */
  mlmLabels?: Tensor;
  /**
   * Content group of each pair (host ids, [B]): pairs with the same id show the same content, so ITC
   * counts them as each other's positives and ITM never draws them as negatives. Absent: every pair
   * is its own group (the pre-training reference).
   */
  groups?: Int32Array;
}

export interface ForwardOptions {
  /** Distillation weight α (ramped 0 -> 0.4 over the first epoch by the trainer). Default config.alpha. */
  alpha?: number;
  /** Fixed ITM hard negatives (gradient checks, PyTorch parity); sampled with `rng` otherwise. */
  negatives?: HardNegatives;
}

/** The three objectives and their sum, plus what metrics and the queue update need. */
export interface AlbefOutput {
  itc: Tensor;
  itm: Tensor;
  mlm: Tensor;
  total: Tensor;
  /** ITC's two directions. */
  i2t: Tensor;
  t2i: Tensor;
  /** [3B, 2]: positives, then (text, negative image), then (negative text, image). */
  itmLogits: Tensor;
  /**
   * [M, V] logits and [M] labels at the masked positions (null without MLM input or mask), for
   * metrics. Computed on first access, which reads the labels back: the loss itself runs over all
   * B·T positions with unlabelled ones weighted 0, so a step reads nothing.
   */
  readonly mlmLogits: Tensor | null;
  readonly mlmTargets: Tensor | null;
  /** All B·T positions' MLM logits [B·T, V] and labels [B·T] (−100 = not masked), read by nothing: for metrics on any device. */
  mlmAll: { logits: Tensor; labels: Tensor } | null;
  /** The ITM hard negatives used, as int32 batch indices [B] on the model's device. */
  negatives: NegativeIndices;
  /** Momentum features of this batch, enqueued after the loss. Shapes: [B, E]. */
  imageFeatM: Tensor;
  textFeatM: Tensor;
}

/** What the momentum model contributes to a step. Shapes: states [B, 1+N, Cv]; feats [B, E]; banks [E, B+Q]; targets [B, B+Q]. */
export interface MomentumOutputs {
  imageStatesM: Tensor;
  imageFeatM: Tensor;
  textFeatM: Tensor;
  imageBank: Tensor;
  textBank: Tensor;
  targetI2t: Tensor;
  targetT2i: Tensor;
}

/** L2 normalization along the last dim, x / max(‖x‖, 1e-12) (F.normalize). Shapes: [..., E]. */
export function l2normalize(x: Tensor): Tensor {
  return x.div(x.mul(x).sum(-1, true).sqrt().clamp(1e-12));
}

/** Row 0 of every sequence: the [CLS] state. Shapes: [B, T, C] -> [B, C]. */
const cls = (x: Tensor): Tensor => x.narrow(1, 0, 1).squeeze(1);

/**
 * ALBEF with its momentum model and queues. Online: visual_encoder, text_encoder (BERT + MLM head),
 * vision_proj, text_proj, temp, itm_head. Momentum (`*_m`, EMA, no gradient): the four encoders and
 * projections. Buffers: image_queue, text_queue [E, Q], queue_ptr [1].
 */
export class Albef extends Module {
  readonly visualEncoder: VisionTransformer;
  readonly textEncoder: BertForMaskedLM;
  readonly visionProj: Linear;
  readonly textProj: Linear;
  readonly itmHead: Linear;
  readonly visualEncoderM: VisionTransformer;
  readonly visionProjM: Linear;
  readonly textEncoderM: BertForMaskedLM;
  readonly textProjM: Linear;
  /** Draws the ITM hard negatives. */
  readonly rng: Rng;

  /** `rng` (default: a generator seeded with `seed`, default 0) draws the init, the queues and the ITM negatives. */
  constructor(
    readonly config: AlbefConfig,
    opts: { seed?: number; rng?: Rng } = {},
  ) {
    super();
    validateConfig(config);
    const rng = opts.rng ?? new Rng(opts.seed ?? 0),
      { vision: v, text: t, embedDim: E } = config;
    this.visualEncoder = this.registerModule('visual_encoder', new VisionTransformer(v, rng, config.initStd));
    this.textEncoder = this.registerModule('text_encoder', new BertForMaskedLM(t, rng, config.initStd));
    this.visionProj = this.registerModule('vision_proj', new Linear(v.dim, E, { rng }));
    this.textProj = this.registerModule('text_proj', new Linear(t.hidden, E, { rng }));
    this.registerParameter('temp', full([], config.temp));
    this.itmHead = this.registerModule('itm_head', new Linear(t.hidden, 2, { rng }));
    // The momentum model starts as a copy of the online one (its own init draws are overwritten).
    this.visualEncoderM = this.registerModule('visual_encoder_m', new VisionTransformer(v, rng, config.initStd));
    this.visionProjM = this.registerModule('vision_proj_m', new Linear(v.dim, E, { rng }));
    this.textEncoderM = this.registerModule('text_encoder_m', new BertForMaskedLM(t, rng, config.initStd));
    this.textProjM = this.registerModule('text_proj_m', new Linear(t.hidden, E, { rng }));
    for (const ema of this.emas()) ema.copyFrom();
    this.registerBuffer('image_queue', initQueue(E, config.queueSize, rng));
    this.registerBuffer('text_queue', initQueue(E, config.queueSize, rng));
    this.registerBuffer('queue_ptr', full([1], 0, { dtype: 'int32' }));
    this.rng = rng.fork();
  }

  /** Host mirror of the queue_ptr buffer, so enqueueing never reads the device. */
  private ptr = 0;

  get temp(): Tensor {
    return this.param('temp');
  }
  get imageQueue(): Tensor {
    return this.buffer('image_queue')!;
  }
  get textQueue(): Tensor {
    return this.buffer('text_queue')!;
  }
  /**
   * Next queue column to overwrite: a host mirror of the `queue_ptr` buffer (which the state dict
   * saves); the setter writes both, `loadStateDict` refreshes the mirror.
   */
  get queuePtr(): number {
    return this.ptr;
  }
  set queuePtr(ptr: number) {
    this.ptr = checkPtr(ptr, this.config.queueSize);
    noGrad(() =>
      this.buffer('queue_ptr')!.assign(full([1], ptr, { dtype: 'int32', device: this.buffer('queue_ptr')!.backend })),
    );
  }

  /** Module.loadStateDict, then the queue pointer's host mirror from the loaded value (a host read of the checkpoint's tensor). */
  override loadStateDict(
    sd: Parameters<Module['loadStateDict']>[0],
    opts: { strict?: boolean } = {},
  ): { missing: string[]; unexpected: string[] } {
    const r = super.loadStateDict(sd, opts);
    if (Object.hasOwn(sd, 'queue_ptr')) this.ptr = checkPtr(sd.queue_ptr.dataSync()[0], this.config.queueSize);
    return r;
  }
  /** The parameters' dtype (inputs are cast to it). */
  get dtype(): 'float32' | 'float64' {
    return this.temp.dtype as 'float32' | 'float64';
  }

  /** ViT states. Shapes: images [B, 3, S, S] -> [B, 1+N, Cv]. */
  encodeImage(images: Tensor): Tensor {
    return this.visualEncoder.forward(images.to(this.dtype));
  }
  /** Text-encoder states (layers [0, fusionLayer)). Shapes: ids, mask [B, T] -> [B, T, C]. */
  encodeText(ids: Tensor, mask: Tensor): Tensor {
    return this.textEncoder.bert.encodeText(ids, mask);
  }
  /** Fusion-encoder states of (text, image) pairs. Shapes: [B, T, C], [B, T], [B, 1+N, Cv] -> [B, T, C]. */
  fuse(text: Tensor, mask: Tensor, image: Tensor): Tensor {
    return this.textEncoder.bert.fuse(text, mask, image, false).out;
  }
  /** ITC embeddings: normalize(proj([CLS])). Shapes: [B, 1+N, Cv] / [B, T, C] -> [B, E]. */
  imageFeature(image: Tensor): Tensor {
    return l2normalize(this.visionProj.forward(cls(image)));
  }
  textFeature(text: Tensor): Tensor {
    return l2normalize(this.textProj.forward(cls(text)));
  }
  /** ITM logits on the fusion [CLS]; class 1 = matched. Shapes: fused [B, T, C] -> [B, 2]. */
  itmLogits(fused: Tensor): Tensor {
    return this.itmHead.forward(cls(fused));
  }

  /** ALBEF's model_pairs, matched by name each time (Module.to() replaces parameter tensors). */
  private emas(): Ema[] {
    return (
      [
        [this.visualEncoder, this.visualEncoderM],
        [this.visionProj, this.visionProjM],
        [this.textEncoder, this.textEncoderM],
        [this.textProj, this.textProjM],
      ] as const
    ).map(([on, mom]) => new Ema(on, mom));
  }

  /** θ_m ← m·θ_m + (1 − m)·θ for every momentum parameter. */
  momentumUpdate(): void {
    for (const ema of this.emas()) ema.update(this.config.momentum);
  }

  /** Writes this batch's momentum features into both queues and advances queue_ptr. Shapes: [B, E]. */
  enqueueFeatures(imageFeatM: Tensor, textFeatM: Tensor): void {
    const ptr = this.queuePtr,
      img = enqueue(this.imageQueue, imageFeatM, ptr),
      txt = enqueue(this.textQueue, textFeatM, ptr);
    noGrad(() => {
      this.imageQueue.assign(img.queue);
      this.textQueue.assign(txt.queue);
    });
    this.queuePtr = img.ptr;
  }

  /**
   * One pre-training step's forward, in the reference's order: clamp τ to [0.001, 0.5], update the
   * momentum model, compute the losses, enqueue the momentum features.
   */
  forward(inputs: AlbefInputs, opts: ForwardOptions = {}): AlbefOutput {
    const B = inputs.images.shape[0],
      Q = this.config.queueSize;
    if (Q % B !== 0)
      throw new RangeError(`queue size ${Q} is not a multiple of the batch size ${B}; pick a batch that divides it`);
    noGrad(() => this.temp.assign(this.temp.clamp(0.001, 0.5)));
    this.momentumUpdate();
    const out = this.losses(inputs, opts);
    this.enqueueFeatures(out.imageFeatM, out.textFeatM);
    return out;
  }

  /**
   * The no-gradient half of a step (ALBEF momentum distillation): momentum features, the ITC feature
   * banks [momentum batch | queue] and the soft targets α·softmax(s_m / τ) + (1 − α)·Y.
   */
  momentumOutputs(inputs: AlbefInputs, alpha = this.config.alpha): MomentumOutputs {
    const { images, ids, attentionMask: mask } = inputs,
      same = inputs.groups && sameGroup(inputs.groups);
    return noGrad(() => {
      const imageStatesM = this.visualEncoderM.forward(images.to(this.dtype)); // [B, 1+N, Cv]
      const imageFeatM = l2normalize(this.visionProjM.forward(cls(imageStatesM))); // [B, E]
      const textFeatM = l2normalize(this.textProjM.forward(cls(this.textEncoderM.bert.encodeText(ids, mask))));
      const imageBank = concat([imageFeatM.mT(), this.imageQueue], 1); // [E, B+Q] batch, then queue
      const textBank = concat([textFeatM.mT(), this.textQueue], 1); // [E, B+Q]
      const temp = this.temp.detach();
      const targetI2t = softTargets(imageFeatM.matmul(textBank).div(temp), alpha, same); // [B, B+Q]
      const targetT2i = softTargets(textFeatM.matmul(imageBank).div(temp), alpha, same);
      return { imageStatesM, imageFeatM, textFeatM, imageBank, textBank, targetI2t, targetT2i };
    });
  }

  /**
   * The losses for the current parameters, momentum model and queues, without changing any of them.
   * `momentum` reuses precomputed momentum outputs (a gradient check holds them fixed).
   */
  losses(inputs: AlbefInputs, opts: ForwardOptions & { momentum?: MomentumOutputs } = {}): AlbefOutput {
    const { images, ids, attentionMask: mask } = inputs,
      alpha = opts.alpha ?? this.config.alpha;
    checkInputs(inputs);
    const img = this.encodeImage(images); // [B, 1+N, Cv]
    const txt = this.encodeText(ids, mask); // [B, T, C]
    const v = this.imageFeature(img),
      t = this.textFeature(txt); // [B, E]
    const m = opts.momentum ?? this.momentumOutputs(inputs, alpha);

    // ITC: online features against momentum features + queue (not online vs online).
    const simI2t = v.matmul(m.textBank).div(this.temp); // [B, E] @ [E, B+Q] -> [B, B+Q]
    const simT2i = t.matmul(m.imageBank).div(this.temp);
    const { i2t, t2i, itc } = itcLoss(simI2t, simT2i, m.targetI2t, m.targetT2i);

    // ITM on [pos; (text, neg image); (neg text, image)], fused in one 3B pass; gradients flow into the negatives.
    const negatives = opts.negatives
      ? uploadNegatives(opts.negatives, img)
      : sampleNegativeIndices(simI2t, simT2i, this.rng, inputs.groups && sameGroup(inputs.groups));
    const { imageForText: negImg, textForImage: negTxt } = negatives; // [B] int32 each
    const textAll = concat([txt, txt, txt.indexSelect(0, negTxt)]); // [3B, T, C]
    const maskAll = concat([mask, mask, mask.indexSelect(0, negTxt)]); // [3B, T], negative text keeps its mask
    const imageAll = concat([img, img.indexSelect(0, negImg), img]); // [3B, 1+N, Cv]
    const itmLogits = this.itmLogits(this.fuse(textAll, maskAll, imageAll)); // [3B, 2]
    const itm = itmLoss(itmLogits);

    // MLM on the masked ids (full 'multi_modal' pass), distilled from the momentum model with img_m.
    // The head runs on all B·T positions and the loss weighs unlabelled ones 0: the same loss as on
    // the M masked rows, without reading the labels to find them.
    let mlm = full([], 0, { dtype: this.dtype, device: img.backend }),
      logitsAll: Tensor | null = null,
      labelsAll: Tensor | null = null;
    if (inputs.mlmIds && inputs.mlmLabels) {
      const mlmIds = inputs.mlmIds;
      labelsAll = inputs.mlmLabels.reshape([-1]); // [B·T], −100 unlabelled
      const soft = noGrad(() =>
        this.textEncoderM.head
          .forward(rows(this.textEncoderM.bert.multimodal(mlmIds, mask, m.imageStatesM)))
          .softmax(-1),
      );
      logitsAll = this.textEncoder.head.forward(rows(this.textEncoder.bert.multimodal(mlmIds, mask, img))); // [B·T, V]
      mlm = mlmLoss(logitsAll, labelsAll, soft, alpha);
    }
    const total = mlm.add(itc).add(itm); // the reference's sum order
    const metrics = lazyLabelledSubset(logitsAll, labelsAll);
    return {
      itc,
      itm,
      mlm,
      total,
      i2t,
      t2i,
      itmLogits,
      negatives,
      imageFeatM: m.imageFeatM,
      textFeatM: m.textFeatM,
      mlmAll: logitsAll && labelsAll ? { logits: logitsAll, labels: labelsAll } : null,
      get mlmLogits() {
        return metrics.logits;
      },
      get mlmTargets() {
        return metrics.labels;
      },
    };
  }
}

/** Every position as a row. Shapes: [B, T, C] -> [B·T, C]. */
const rows = (x: Tensor): Tensor => x.reshape([-1, x.shape[2]]);

/** Fixed host negatives as int32 index tensors on `like`'s device. */
function uploadNegatives(n: HardNegatives, like: Tensor): NegativeIndices {
  return {
    imageForText: tensor(n.imageForText, { device: like.backend }),
    textForImage: tensor(n.textForImage, { device: like.backend }),
  };
}

function checkPtr(ptr: number, Q: number): number {
  if (!(Number.isInteger(ptr) && ptr >= 0 && ptr < Q)) throw new RangeError(`queue_ptr ${ptr} outside [0, ${Q})`);
  return ptr;
}

function checkInputs({ images, ids, attentionMask, mlmIds, mlmLabels, groups }: AlbefInputs): void {
  const B = images.shape[0],
    want = `[${B}, ${ids.shape[1]}]`;
  for (const [name, t] of [
    ['ids', ids],
    ['attentionMask', attentionMask],
    ['mlmIds', mlmIds],
    ['mlmLabels', mlmLabels],
  ] as const) {
    if (!t) continue;
    if (t.dtype !== 'int32') throw new TypeError(`ALBEF: ${name} must be int32, got ${t.dtype}`);
    if (t.ndim !== 2 || t.shape[0] !== B || t.shape[1] !== ids.shape[1])
      throw new RangeError(`ALBEF: ${name} is [${t.shape}], expected ${want} to match ${B} images`);
  }
  if (groups && groups.length !== B)
    throw new RangeError(`ALBEF: groups has ${groups.length} ids, expected ${B} (one per image)`);
}
