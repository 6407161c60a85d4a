/**
 * One ALBEF pre-training step (forward with the α of the step, backward, AdamW) and the numbers it
 * logs. Shared by `trainAlbef` (Node, with a run directory) and the browser demo, so both train
 * the same way; nothing here touches files.
 */
import { noGrad, stack, tensor, type Tensor } from '../../engine/index.js';
import type { Batch } from '../../data/index.js';
import type { Optimizer } from '../../nn/optim.js';
import { accuracyAsync } from '../common/objectives.js';
import type { StepReport } from '../common/trainer.js';
import type { Albef, AlbefInputs, AlbefOutput } from './albef.js';

/**
 * A loader batch as model inputs, cut to its longest caption (ALBEF pads with padding='longest'; the
 * positions cut are padding, which attention masks out exactly, so only the cost changes).
 */
export function batchInputs(b: Batch, imageSize: number): AlbefInputs {
  const B = b.batchSize,
    L = b.length;
  let T = 1;
  for (let r = 0; r < B; r++)
    for (let k = L - 1; k >= T; k--)
      if (b.attentionMask[r * L + k]) {
        T = k + 1;
        break;
      }
  const cut = (a: Int32Array): Int32Array =>
    T === L ? a : Int32Array.from({ length: B * T }, (_, i) => a[Math.floor(i / T) * L + (i % T)]);
  const inputs: AlbefInputs = {
    images: tensor(b.images, { shape: [B, 3, imageSize, imageSize] }),
    ids: tensor(cut(b.ids), { shape: [B, T] }),
    attentionMask: tensor(cut(b.attentionMask), { shape: [B, T] }),
  };
  if (b.mlm) {
    inputs.mlmIds = tensor(cut(b.mlm.inputIds), { shape: [B, T] });
    inputs.mlmLabels = tensor(cut(b.mlm.labels), { shape: [B, T] });
  }
  return inputs;
}

/**
 * The logged numbers of a step, read with one asynchronous read of the stacked scalars (itc, itm,
 * mlm, total, τ) and the argmax reads of the accuracies, all in flight together.
 */
export async function stepReadings(
  out: AlbefOutput,
  temp: Tensor,
): Promise<{ losses: Record<string, number>; temp: number; itm_acc: number; mlm_acc: number }> {
  const B = out.itmLogits.shape[0] / 3;
  const itmLabels = tensor(Int32Array.from({ length: 3 * B }, (_, i) => (i < B ? 1 : 0)));
  const scalars = noGrad(() => stack([out.itc, out.itm, out.mlm, out.total, temp]));
  const [v, itmAcc, mlmAcc] = await Promise.all([
    scalars.data(),
    accuracyAsync(out.itmLogits, itmLabels),
    out.mlmAll ? accuracyAsync(out.mlmAll.logits, out.mlmAll.labels) : NaN,
  ]);
  return { losses: { itc: v[0], itm: v[1], mlm: v[2], total: v[3] }, temp: v[4], itm_acc: itmAcc, mlm_acc: mlmAcc };
}

/**
 * Trains `model` one step on `batch` at learning rate `lr` (set on every parameter group) and
 * distillation weight `alpha`, then reads the logged numbers (losses, lr, α, τ, ITM and MLM
 * accuracies) with asynchronous reads, so it runs on every device, 'webgpu' included.
 */
export async function albefStep(
  model: Albef,
  optimizer: Optimizer<any>,
  batch: Batch,
  lr: number,
  alpha: number,
): Promise<StepReport> {
  for (const g of optimizer.paramGroups) g.lr = lr;
  model.train();
  const out = model.forward(batchInputs(batch, model.config.vision.imageSize), { alpha });
  optimizer.zeroGrad();
  out.total.backward();
  optimizer.step();
  const r = await stepReadings(out, model.temp); // τ after the update
  return {
    losses: r.losses,
    extra: { lr, alpha, temp: r.temp, itm_acc: r.itm_acc, mlm_acc: r.mlm_acc },
    samples: batch.batchSize,
  };
}
