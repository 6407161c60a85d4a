/**
 * One ALBEF pre-training step (forward with the α of the step, backward, AdamW) and the numbers it
 * logs. Shared by `trainAlbef` (Node, with a run directory) and the browser demo, so both train
 * the same way; nothing here touches files.
 */
import { noGrad, stack, tensor, tidy, type Tensor } from '../../engine/index.js';
import { contentGroups, type Batch } from '../../data/index.js';
import type { Optimizer } from '../../nn/optim.js';
import { correctShare as share, readAll } from '../common/objectives.js';
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
    groups: contentGroups(b.captions),
  };
  if (b.mlm) {
    inputs.mlmIds = tensor(cut(b.mlm.inputIds), { shape: [B, T] });
    inputs.mlmLabels = tensor(cut(b.mlm.labels), { shape: [B, T] });
  }
  return inputs;
}

/** The tensors a step logs: the stacked scalars (itc, itm, mlm, total, τ) and the accuracies' argmaxes. */
function readsOf(out: AlbefOutput, temp: Tensor): Record<string, Tensor> {
  return noGrad(() => ({
    scalars: stack([out.itc, out.itm, out.mlm, out.total, temp]),
    itm_pred: out.itmLogits.argmax(-1),
    ...(out.mlmAll ? { mlm_pred: out.mlmAll.logits.argmax(-1), mlm_labels: out.mlmAll.labels.reshape([-1]) } : {}),
  }));
}

/** The logged numbers from the values read. ITM rows are B positives, then 2B negatives. */
function logged(v: Record<string, ArrayLike<number>>) {
  const B = v.itm_pred.length / 3,
    s = v.scalars;
  return {
    losses: { itc: s[0], itm: s[1], mlm: s[2], total: s[3] },
    temp: s[4],
    itm_acc: share(
      v.itm_pred,
      Int32Array.from({ length: 3 * B }, (_, i) => (i < B ? 1 : 0)),
    ),
    mlm_acc: v.mlm_pred ? share(v.mlm_pred, v.mlm_labels) : NaN,
  };
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
  const step = (): Record<string, Tensor> => {
    const out = model.forward(batchInputs(batch, model.config.vision.imageSize), { alpha });
    optimizer.zeroGrad();
    out.total.backward();
    optimizer.step();
    return readsOf(out, model.temp); // τ after the update
  };
  const r = logged(await readAll(tidy(step)));
  return {
    losses: r.losses,
    extra: { lr, alpha, temp: r.temp, itm_acc: r.itm_acc, mlm_acc: r.mlm_acc },
    samples: batch.batchSize,
  };
}
