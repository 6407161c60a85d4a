/**
 * Shared micro VLMo set-up for the routing, gradient-check and PyTorch-parity tests: a float64 model
 * with the stage-1 parts, its zero- and constant-initialized tensors (relative-position table, q/v
 * biases, layer scales, logit scales) moved off their initial values so every path carries a
 * distinct gradient, a padded batch, fixed MLM masks, fixed ITM hard negatives and a fixed MIM mask.
 */
import { noGrad, randint, randn, Rng, tensor, type Tensor } from '../../engine/index.js';
import { vlmoMicro, type VlmoConfig } from '../../models/vlmo/config.js';
import type { HardNegatives, VlBatch } from '../../models/vlmo/objectives.js';
import { Vlmo } from '../../models/vlmo/vlmo.js';

export const B = 3,
  T = 5;

export interface MicroSetup {
  config: VlmoConfig;
  model: Vlmo;
  batch: VlBatch;
  negatives: HardNegatives;
  /** Stage 1: 1 = masked patch, and every patch's code. Shapes: [B, P] int32. */
  mimMask: Tensor;
  codes: Tensor;
}

/** ids: [CLS]=2, words 5..11, [SEP]=3, [PAD]=0; row 1 is padded. MLM: [MASK]=4 twice, one random swap, one kept. */
export function microSetup(seed = 1, opts: { dtype?: 'float32' | 'float64' } = {}): MicroSetup {
  const config = vlmoMicro(12);
  const model = new Vlmo(config, { seed, mim: true });
  if ((opts.dtype ?? 'float64') === 'float64') model.to('float64');
  const rng = new Rng(seed + 100),
    dtype = model.dtype;
  noGrad(() => {
    for (const [name, p] of model.namedParameters()) {
      const scale = name === 'relative_position_bias_table' ? 0.5 : /Bias$|gamma_|logit_/.test(name) ? 0.1 : 0;
      if (scale > 0) p.assign(p.add(randn(p.shape, { rng, dtype }).mul(scale)));
    }
  });
  const ids = tensor(Int32Array.from([2, 5, 6, 7, 3, 2, 9, 3, 0, 0, 2, 11, 5, 9, 3]), { shape: [B, T] });
  const attentionMask = tensor(Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1]), { shape: [B, T] });
  const mlmIds = tensor(Int32Array.from([2, 4, 6, 7, 3, 2, 4, 3, 0, 0, 2, 11, 8, 9, 3]), { shape: [B, T] });
  const mlmLabels = tensor(
    Int32Array.from([-100, 5, -100, -100, -100, -100, 9, -100, -100, -100, -100, 11, 5, -100, -100]),
    { shape: [B, T] },
  );
  const S = config.imageSize,
    P = (S / config.patchSize) ** 2;
  const images = randn([B, 3, S, S], { rng, dtype });
  const negatives = { imageForText: Int32Array.from([1, 2, 0]), textForImage: Int32Array.from([2, 0, 1]) };
  const mimMask = tensor(Int32Array.from([1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 1]), { shape: [B, P] });
  const codes = randint(0, config.codebookSize, [B, P], { rng });
  return { config, model, batch: { images, ids, attentionMask, mlmIds, mlmLabels }, negatives, mimMask, codes };
}
