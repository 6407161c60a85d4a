/**
 * Unimodal warm start of an image tower: a linear multi-label head on the tower's [CLS] state,
 * trained with binary cross-entropy to predict the facts a training scene's caption names
 * (data/facts.ts: colours, kinds, sizes, (colour, kind) and (size, kind) pairs). It is the
 * miniature of the references' DeiT initialisation: the tower learns to tell digits and colours
 * apart before the contrastive and matching objectives need it. Model-agnostic: the tower is any
 * module with a function from images to [CLS] features, so ALBEF's ViT and VLMo's image path share it.
 */
import { binaryCrossEntropyWithLogits, noGrad, Rng, tensor, tidy, type Tensor } from '../../engine/index.js';
import {
  DataLoader,
  factBatch,
  factVocab,
  grammarVocab,
  makeDataset,
  Tokenizer,
  type DatasetName,
  type FactGroup,
  type FactVocab,
  type Normalize,
  type SceneDataset,
} from '../../data/index.js';
import { Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { AdamW, paramGroups } from '../../nn/optim.js';
import { warmupCosine } from '../../nn/schedulers.js';
import type { JsonlLog } from './jsonl.js';
import type { ProgressBar } from './progress.js';
import { trainLoop } from './trainer.js';

/** A linear multi-label head: [CLS] features -> one logit per fact. Shapes: [B, C] -> [B, F]. */
export class FactsHead extends Module {
  readonly proj: Linear;
  constructor(
    readonly dim: number,
    readonly numFacts: number,
    rng: Rng,
  ) {
    super();
    this.proj = this.registerModule('proj', new Linear(dim, numFacts, { rng }));
  }
  forward(features: Tensor): Tensor {
    return this.proj.forward(features);
  }
}

/** An image tower to warm-start: its module (trained) and its [CLS] features. Shapes: images [B, 3, S, S] -> [B, dim]. */
export interface ImageTower {
  module: Module;
  dim: number;
  imageSize: number;
  features(images: Tensor): Tensor;
}

/** Options of `trainFacts`. */
export interface FactsTrainOptions {
  dataset: DatasetName;
  /** Training scenes (train split only: targets never come from val or test). */
  trainSize: number;
  seed: number;
  steps: number;
  batchSize: number;
  /** Peak lr (AdamW), linear warm-up from lr/100 over `warmupSteps`, cosine to `minLr`. */
  lr: number;
  warmupSteps: number;
  minLr: number;
  weightDecay: number;
  /** Fact groups to predict (default all). */
  groups?: readonly FactGroup[];
  /** Horizontal flips per item (facts are mirror-invariant). Default 0.5. */
  flip?: number;
  /** Image normalization: the one the downstream model will use. */
  normalize: Normalize;
}

/** Per-group and overall accuracy of thresholded (logit > 0) predictions. */
export interface FactsMetrics {
  /** Share of scenes whose every label is right. */
  exact: number;
  /** Share of labels right (dominated by true negatives; reported next to the all-negative baseline). */
  label: number;
  /** The all-negative predictor's label accuracy. */
  labelBaseline: number;
  /** Per group: share of scenes whose labels in that group are all right. */
  groups: Record<string, number>;
}

/** Metrics of logits [B, F] against multi-hot targets [B, F] (row-major). */
export function factsMetrics(logits: ArrayLike<number>, targets: ArrayLike<number>, vocab: FactVocab): FactsMetrics {
  const F = vocab.labels.length,
    B = targets.length / F;
  let exact = 0,
    right = 0,
    positives = 0;
  const groupRight: Record<string, number> = Object.fromEntries(vocab.groups.map((g) => [g, 0]));
  for (let b = 0; b < B; b++) {
    let all = true;
    const bad = new Set<string>();
    for (let f = 0; f < F; f++) {
      const y = targets[b * F + f],
        ok = (logits[b * F + f] > 0 ? 1 : 0) === y;
      positives += y;
      if (ok) right++;
      else {
        all = false;
        bad.add(vocab.groupOf[f]);
      }
    }
    if (all) exact++;
    for (const g of vocab.groups) if (!bad.has(g)) groupRight[g]++;
  }
  return {
    exact: exact / B,
    label: right / (B * F),
    labelBaseline: 1 - positives / (B * F),
    groups: Object.fromEntries(Object.entries(groupRight).map(([g, n]) => [g, n / B])),
  };
}

/** Images of scenes `indices`, normalized, as one tensor. Shapes: [n, 3, S, S]. */
function imagesOf(ds: SceneDataset, indices: readonly number[], normalize: Normalize): Tensor {
  const S = ds.imageSize,
    per = 3 * S * S,
    img = new Float32Array(indices.length * per);
  indices.forEach((i, r) => ds.image(i, false, img, r * per));
  for (let k = 0; k < img.length; k++) {
    const c = Math.floor(k / (S * S)) % 3;
    img[k] = (img[k] - normalize.mean[c]) / normalize.std[c];
  }
  return tensor(img, { shape: [indices.length, 3, S, S] });
}

/** Evaluates a tower + head on the first `size` scenes of a split (eval mode, no gradient). */
export function evaluateFacts(
  tower: ImageTower,
  head: FactsHead,
  o: {
    dataset: DatasetName;
    split: 'train' | 'val' | 'test';
    size: number;
    seed: number;
    normalize: Normalize;
    groups?: readonly FactGroup[];
    batchSize?: number;
  },
): FactsMetrics {
  const vocab = factVocab(o.dataset, o.groups),
    bs = o.batchSize ?? 64;
  const ds = makeDataset({
    name: o.dataset,
    split: o.split,
    size: o.size,
    seed: o.seed,
    imageSize: tower.imageSize as 32 | 64,
  });
  const logits = new Float32Array(o.size * vocab.labels.length);
  noGrad(() => {
    tower.module.eval();
    head.eval();
    for (let s = 0; s < o.size; s += bs) {
      const idx = Array.from({ length: Math.min(bs, o.size - s) }, (_, k) => s + k);
      logits.set(head.forward(tower.features(imagesOf(ds, idx, o.normalize))).dataSync(), s * vocab.labels.length);
    }
  });
  return factsMetrics(
    logits,
    factBatch(
      ds,
      Array.from({ length: o.size }, (_, i) => i),
      vocab,
    ),
    vocab,
  );
}

/**
 * Trains `tower` and a fresh `FactsHead` on the training split to predict every scene's facts.
 * Logs loss, label accuracy and exact-match share per step. Returns the head (discarded by warm
 * starts: only the tower's weights carry over) and the loop's result.
 */
export async function trainFacts(
  tower: ImageTower,
  o: FactsTrainOptions,
  io: { log?: JsonlLog; progress?: ProgressBar | null } = {},
): Promise<{ head: FactsHead; vocab: FactVocab; seconds: number; steps: number }> {
  const vocab = factVocab(o.dataset, o.groups);
  const train = makeDataset({
    name: o.dataset,
    split: 'train',
    size: o.trainSize,
    seed: o.seed,
    imageSize: tower.imageSize as 32 | 64,
  });
  const loader = new DataLoader(train, {
    batchSize: o.batchSize,
    tokenizer: Tokenizer.fromVocab(grammarVocab()),
    seed: o.seed,
    dropLast: true,
    normalize: o.normalize,
    flip: o.flip ?? 0.5,
  });
  const head = new FactsHead(tower.dim, vocab.labels.length, new Rng(o.seed + 7919));
  const named = [
    ...tower.module.namedParameters().filter(([, p]) => p.requiresGrad),
    ...head.namedParameters().map(([k, p]) => [`facts_head.${k}`, p] as [string, Tensor]),
  ];
  const optimizer = new AdamW(paramGroups(named, { weightDecay: o.weightDecay }), {
    lr: o.lr,
    betas: [0.9, 0.999],
    eps: 1e-8,
  });
  const schedule = warmupCosine({
    warmupInit: o.lr / 100,
    warmupSteps: o.warmupSteps,
    minLr: o.minLr,
    totalSteps: o.steps,
  });
  const lrAt = (step: number): number => schedule(step, o.lr);
  const S = tower.imageSize,
    F = vocab.labels.length;
  const result = await trainLoop({
    startStep: 0,
    totalSteps: o.steps,
    log: io.log,
    progress: io.progress ?? null,
    step: (s) => {
      const batch = loader.next(),
        lr = lrAt(s - 1),
        B = batch.batchSize;
      for (const g of optimizer.paramGroups) g.lr = lr;
      tower.module.train();
      head.train();
      const y = factBatch(train, batch.indices, vocab);
      // One tidy scope per step: its intermediates return to the buffer pool when it ends.
      const { logits, loss } = tidy(() => {
        const logits = head.forward(tower.features(tensor(batch.images, { shape: [B, 3, S, S] })));
        const loss = binaryCrossEntropyWithLogits(logits, tensor(y, { shape: [B, F] }));
        optimizer.zeroGrad();
        loss.backward();
        optimizer.step();
        return { logits, loss };
      });
      const m = factsMetrics(logits.dataSync(), y, vocab),
        bce = loss.item();
      logits.dispose();
      loss.dispose();
      return { losses: { bce }, extra: { lr, label_acc: m.label, exact: m.exact }, samples: B };
    },
  });
  return { head, vocab, seconds: result.seconds, steps: result.step };
}
