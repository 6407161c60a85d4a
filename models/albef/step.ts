/**
 * One ALBEF pre-training step (forward with the α of the step, backward, AdamW) and the numbers it
 * logs. Shared by `trainAlbef` (Node, with a run directory) and the browser demo, so both train
 * the same way; nothing here touches files.
 */
import { noGrad, stack, tensor, tidy, type Tensor } from '../../engine/index.js';
import type { Batch } from '../../data/index.js';
import type { Optimizer } from '../../nn/optim.js';
import { correctShare as share } from '../common/objectives.js';
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

/** The tensors a step's logged numbers are read from (see `stepReadings`). */
interface StepReads {
  scalars: Tensor;
  itmPred: Tensor;
  itmLabels: Tensor;
  mlm: { pred: Tensor; labels: Tensor } | null;
}

/** Builds the tensors to read: the stacked scalars (itc, itm, mlm, total, τ) and the accuracies' argmaxes. */
function readsOf(out: AlbefOutput, temp: Tensor): StepReads {
  const B = out.itmLogits.shape[0] / 3;
  return noGrad(() => ({
    scalars: stack([out.itc, out.itm, out.mlm, out.total, temp]),
    itmPred: out.itmLogits.argmax(-1),
    itmLabels: tensor(Int32Array.from({ length: 3 * B }, (_, i) => (i < B ? 1 : 0))),
    mlm: out.mlmAll ? { pred: out.mlmAll.logits.argmax(-1), labels: out.mlmAll.labels.reshape([-1]) } : null,
  }));
}

/** Reads them, all in flight together, then disposes them. */
async function readBack(
  r: StepReads,
): Promise<{ losses: Record<string, number>; temp: number; itm_acc: number; mlm_acc: number }> {
  const [v, itmPred, itmY, mlmPred, mlmY] = await Promise.all([
    r.scalars.data(),
    r.itmPred.data(),
    r.itmLabels.data(),
    r.mlm?.pred.data(),
    r.mlm?.labels.data(),
  ]);
  for (const t of [r.scalars, r.itmPred, r.itmLabels, r.mlm?.pred, r.mlm?.labels]) t?.dispose();
  return {
    losses: { itc: v[0], itm: v[1], mlm: v[2], total: v[3] },
    temp: v[4],
    itm_acc: share(itmPred, itmY),
    mlm_acc: mlmPred && mlmY ? share(mlmPred, mlmY) : NaN,
  };
}

/**
 * The logged numbers of a step, read with one asynchronous read of the stacked scalars (itc, itm,
 * mlm, total, τ) and the argmax reads of the accuracies, all in flight together.
 */
export async function stepReadings(
  out: AlbefOutput,
  temp: Tensor,
): Promise<{ losses: Record<string, number>; temp: number; itm_acc: number; mlm_acc: number }> {
  return readBack(readsOf(out, temp));
}

/**
 * Trains `model` one step on `batch` at learning rate `lr` (set on every parameter group) and
 * distillation weight `alpha`, then reads the logged numbers (losses, lr, α, τ, ITM and MLM
 * accuracies) with asynchronous reads, so it runs on every device, 'webgpu' included. The forward,
 * backward and update run in a `tidy` scope: every intermediate is disposed when the step ends, so
 * its buffers go back to the device's pool instead of waiting for the garbage collector.
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
  const step = (): StepReads => {
    const out = model.forward(batchInputs(batch, model.config.vision.imageSize), { alpha });
    optimizer.zeroGrad();
    out.total.backward();
    optimizer.step();
    return readsOf(out, model.temp); // τ after the update
  };
  const r = await readBack(tidy(step));
  return {
    losses: r.losses,
    extra: { lr, alpha, temp: r.temp, itm_acc: r.itm_acc, mlm_acc: r.mlm_acc },
    samples: batch.batchSize,
  };
}
