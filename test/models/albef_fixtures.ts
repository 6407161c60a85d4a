/**
 * Shared micro ALBEF set-up for the gradient-check and PyTorch-parity tests: a float64 model with a
 * momentum model that differs from the online one (so the EMA update matters), a queue pointer that
 * wraps, a padded batch, fixed MLM masks and fixed ITM hard negatives.
 */
import { noGrad, randn, Rng, tensor, type Tensor } from '../../engine/index.js';
import { Albef, type AlbefInputs } from '../../models/albef/albef.js';
import { albefMicro, type AlbefConfig } from '../../models/albef/config.js';
import type { HardNegatives } from '../../models/common/objectives.js';

export const B = 3,
  T = 6;

export interface MicroSetup {
  config: AlbefConfig;
  model: Albef;
  inputs: AlbefInputs;
  negatives: HardNegatives;
  alpha: number;
}

/** ids: [CLS]=2, words 5..11, [SEP]=3, [PAD]=0; row 1 is padded. MLM: some [MASK]=4, one random swap, one kept. */
export function microSetup(seed = 1): MicroSetup {
  const config = albefMicro(12);
  const model = new Albef(config, { seed }).to('float64');
  const rng = new Rng(seed + 100);
  noGrad(() => {
    // Momentum parameters drift from the online ones, as they do after a few training steps.
    for (const [name, p] of model.namedParameters()) {
      if (!p.requiresGrad) p.assign(p.add(randn(p.shape, { rng, dtype: 'float64' }).mul(0.02)));
      else if (name === 'temp') p.assign(tensor([0.09], { dtype: 'float64' }).reshape([]));
    }
  });
  model.queuePtr = 3; // 3 + B = Q: the pointer wraps to 0
  const ids = tensor(Int32Array.from([2, 5, 6, 7, 8, 3, 2, 9, 10, 3, 0, 0, 2, 11, 5, 9, 6, 3]), { shape: [B, T] });
  const attentionMask = tensor(Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]), {
    shape: [B, T],
  });
  const mlmIds = tensor(Int32Array.from([2, 4, 6, 7, 4, 3, 2, 9, 10, 4, 0, 0, 2, 11, 7, 9, 6, 4]), { shape: [B, T] });
  const mlmLabels = tensor(
    Int32Array.from([-100, 5, -100, -100, 8, -100, -100, 9, -100, 3, -100, -100, -100, -100, 5, -100, -100, 3]),
    { shape: [B, T] },
  );
  const S = config.vision.imageSize;
  const images = randn([B, 3, S, S], { rng, dtype: 'float64' });
  const negatives = { imageForText: Int32Array.from([1, 2, 0]), textForImage: Int32Array.from([2, 0, 1]) };
  return { config, model, inputs: { images, ids, attentionMask, mlmIds, mlmLabels }, negatives, alpha: 0.4 };
}

/** Online parameters by name (tied tensors once). */
export function onlineParams(model: Albef): [string, Tensor][] {
  return model.namedParameters().filter(([, p]) => p.requiresGrad);
}
