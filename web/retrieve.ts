/**
 * Retrieval and grounding on a loaded checkpoint, as the demo's worker runs them (and the browser
 * test re-runs them in Node to compare): a gallery of generated test scenes encoded once, captions
 * ranked against it by ITC similarity, and per-word Grad-CAM maps of one scene.
 */
import { noGrad, tensor, type Tensor } from '../engine/index.js';
import { makeDataset, Tokenizer, type Normalize, type SceneDataset } from '../data/index.js';
import { deserialize } from '../nn/safetensors.js';
import { Albef, gradCam, type Grounding, type RunInfo } from '../models/albef/index.js';
import { fromRecords } from '../models/common/records.js';

/** A checkpoint ready for queries: the model (eval mode, default device), its tokenizer and an encoded gallery. */
export interface Loaded {
  model: Albef;
  tokenizer: Tokenizer;
  normalize: Normalize;
  gallery: SceneDataset;
  features: Tensor;
}

/** Scenes in the gallery; seed 1 as the CLI's evaluation. */
export const GALLERY_SIZE = 64;

/**
 * Rebuilds a run's model from model.safetensors bytes and run.json text, and encodes the gallery.
 * The gallery is always 'shapes' scenes: a browser has no mnist package (a run trained on
 * 'mnist-scenes' then sees shapes it never trained on).
 */
export function loadCheckpoint(bytes: ArrayBuffer | Uint8Array, runJson: string): Loaded {
  const info = JSON.parse(runJson) as RunInfo;
  const model = new Albef(info.config, { seed: info.options.seed });
  model.loadStateDict(fromRecords(deserialize(bytes, 'model.safetensors').tensors));
  model.eval();
  const gallery = makeDataset({
    name: 'shapes',
    split: 'test',
    size: GALLERY_SIZE,
    seed: 1,
    imageSize: info.config.vision.imageSize as 32 | 64,
  });
  const S = gallery.imageSize,
    per = 3 * S * S,
    images = new Float32Array(gallery.length * per);
  for (let i = 0; i < gallery.length; i++) images.set(normalized(gallery.image(i), S, info.normalize), i * per);
  const features = noGrad(() =>
    model.imageFeature(model.encodeImage(tensor(images, { shape: [gallery.length, 3, S, S] }))),
  );
  return { model, tokenizer: Tokenizer.fromVocab(info.vocab), normalize: info.normalize, gallery, features };
}

/** An image [3, S, S] in [0, 1] normalized with the run's channel statistics. */
export function normalized(image: Float32Array, S: number, n: Normalize): Float32Array {
  const out = image.slice();
  for (let i = 0; i < out.length; i++) {
    const c = Math.floor(i / (S * S)) % 3;
    out[i] = (out[i]! - n.mean[c]!) / n.std[c]!;
  }
  return out;
}

function encodeCaption(l: Loaded, caption: string): { ids: Tensor; mask: Tensor; tokens: string[] } {
  const enc = l.tokenizer.encode(caption, { maxLength: 16, truncation: true });
  return {
    ids: tensor(enc.ids, { shape: [1, enc.ids.length] }),
    mask: tensor(enc.attentionMask, { shape: [1, enc.ids.length] }),
    tokens: enc.tokens,
  };
}

/** The k gallery scenes most similar to `caption` (cosine of the projected [CLS] features), best first. */
export function topScenes(l: Loaded, caption: string, k: number): { scene: number; score: number }[] {
  const { ids, mask } = encodeCaption(l, caption);
  const sims = noGrad(() =>
    l.features.matmul(l.model.textFeature(l.model.encodeText(ids, mask)).transpose(0, 1)),
  ).dataSync();
  return [...sims.keys()]
    .sort((a, b) => sims[b]! - sims[a]! || a - b)
    .slice(0, k)
    .map((scene) => ({ scene, score: sims[scene]! }));
}

/** Per-word Grad-CAM maps of gallery scene `scene` and `caption` (first fusion layer, each word masked: gradCam's default 'mlm'). */
export function groundScene(l: Loaded, scene: number, caption: string): Grounding {
  const S = l.gallery.imageSize,
    { ids, mask, tokens } = encodeCaption(l, caption);
  return gradCam(
    l.model,
    tensor(normalized(l.gallery.image(scene), S, l.normalize), { shape: [1, 3, S, S] }),
    ids,
    mask,
    tokens,
    { maskId: l.tokenizer.maskId },
  );
}
