/**
 * The models' training steps on the asynchronous webgpu device (issue #5): two ALBEF-micro
 * pre-training steps (forward with τ clamp, EMA and enqueue, backward, AdamW) and two VLMo-micro
 * stage-3 steps, with sampled hard negatives and MLM masks, on webgpu and on cpu from the same seed
 * and inputs. On webgpu a synchronous read throws, so finishing the steps shows there is none; the
 * losses (read with itemAsync) must match cpu's to float32 tolerance, and nothing may fall back to
 * the CPU. Without a WebGPU adapter the test is skipped with the reason (a failure under CI=true).
 */
import t from 'tap';
import { Rng, tensor, type Backend, type Tensor } from '../../engine/index.js';
import { getBackend } from '../../kernels/select.js';
import { fallbacks, resetFallbacks } from '../../kernels/gpujs/index.js';
import { AdamW } from '../../nn/optim.js';
import { Albef, type AlbefInputs } from '../../models/albef/albef.js';
import { albefMicro } from '../../models/albef/config.js';
import { vlmoMicro } from '../../models/vlmo/config.js';
import { vlObjective, type VlBatch } from '../../models/vlmo/objectives.js';
import { Vlmo } from '../../models/vlmo/vlmo.js';
import { compareF32, startDevice } from '../helpers/backends.js';

const STEPS = 2,
  TOL = 2e-4; // F32_TOL.torch: a whole model step, f32 vs the CPU's f64 accumulation

/** Host batches: B rows of [CLS] words [SEP] [PAD]…, ~30% of the words masked with labels (never none). */
function hostBatches(
  n: number,
  B: number,
  T: number,
  S: number,
  seed: number,
): { images: Float32Array; ids: Int32Array; mask: Int32Array; mlmIds: Int32Array; labels: Int32Array }[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const ids = new Int32Array(B * T),
      mask = new Int32Array(B * T),
      mlmIds = new Int32Array(B * T),
      labels = new Int32Array(B * T).fill(-100);
    for (let b = 0; b < B; b++) {
      const len = rng.int(3, T + 1); // [CLS] + words + [SEP]
      for (let k = 0; k < len; k++) {
        const i = b * T + k,
          id = k === 0 ? 2 : k === len - 1 ? 3 : rng.int(5, 12);
        ids[i] = mlmIds[i] = id;
        mask[i] = 1;
        if ((k > 0 && k < len - 1 && rng.uniform() < 0.3) || (b === 0 && k === 1)) {
          labels[i] = id;
          mlmIds[i] = 4;
        }
      }
    }
    const images = Float32Array.from({ length: B * 3 * S * S }, () => rng.normal());
    return { images, ids, mask, mlmIds, labels };
  });
}

interface Run {
  losses: number[][];
  extra: number[];
}

/** The trainable parameters' AdamW. */
const adamw = (params: Tensor[]): AdamW =>
  new AdamW(
    params.filter((p) => p.requiresGrad),
    { lr: 1e-3, weightDecay: 0.02 },
  );

async function albefSteps(be: Backend): Promise<Run> {
  const config = albefMicro(12),
    B = 3,
    T = 6,
    S = config.vision.imageSize;
  const model = new Albef(config, { seed: 1 }).to(be).train();
  const opt = adamw(model.parameters()),
    losses: number[][] = [];
  for (const h of hostBatches(STEPS, B, T, S, 5)) {
    const inputs: AlbefInputs = {
      images: tensor(h.images, { shape: [B, 3, S, S], device: be }),
      ids: tensor(h.ids, { shape: [B, T], device: be }),
      attentionMask: tensor(h.mask, { shape: [B, T], device: be }),
      mlmIds: tensor(h.mlmIds, { shape: [B, T], device: be }),
      mlmLabels: tensor(h.labels, { shape: [B, T], device: be }),
    };
    const out = model.forward(inputs, { alpha: 0.4 });
    opt.zeroGrad();
    out.total.backward();
    opt.step();
    losses.push(await Promise.all([out.itc, out.itm, out.mlm, out.total].map((l) => l.itemAsync())));
  }
  // The queue after two enqueues, and the queue_ptr buffer (the state dict's) against its host mirror.
  const sd = model.stateDict();
  const ptr = (await sd.queue_ptr.data())[0];
  if (ptr !== model.queuePtr) throw new Error(`queue_ptr buffer ${ptr} differs from the host mirror ${model.queuePtr}`);
  return { losses, extra: [...(await sd.image_queue.data()), ...(await sd.text_queue.data()), ptr] };
}

async function vlmoSteps(be: Backend): Promise<Run> {
  const config = vlmoMicro(12),
    B = 3,
    T = config.maxTextLen,
    S = config.imageSize;
  const model = new Vlmo(config, { seed: 1 }).to(be).train();
  const opt = adamw(model.parameters()),
    losses: number[][] = [];
  for (const h of hostBatches(STEPS, B, T, S, 6)) {
    const batch: VlBatch = {
      images: tensor(h.images, { shape: [B, 3, S, S], device: be }),
      ids: tensor(h.ids, { shape: [B, T], device: be }),
      attentionMask: tensor(h.mask, { shape: [B, T], device: be }),
      mlmIds: tensor(h.mlmIds, { shape: [B, T], device: be }),
      mlmLabels: tensor(h.labels, { shape: [B, T], device: be }),
    };
    const out = vlObjective(model, batch);
    opt.zeroGrad();
    out.total.backward();
    opt.step();
    losses.push(await Promise.all([out.itc, out.itm, out.mlm, out.total].map((l) => l.itemAsync())));
  }
  return { losses, extra: [await model.logitScale.itemAsync()] };
}

const MODELS = [
  ['ALBEF-micro pre-training', albefSteps],
  ['VLMo-micro stage 3', vlmoSteps],
] as const;

t.test('ALBEF and VLMo training steps on webgpu: no synchronous read, no CPU fallback, cpu losses', async (t) => {
  const slot = await startDevice('webgpu');
  if (!slot.backend) {
    if (slot.required) t.fail(`${slot.reason} (required here: CI=true)`);
    else await t.test('webgpu', { skip: slot.reason }, async () => {});
    return;
  }
  const gpu = slot.backend;
  for (const [name, steps] of MODELS) {
    await t.test(name, async (t) => {
      const cpu = await steps(getBackend('cpu'));
      resetFallbacks();
      const started = performance.now();
      const run = await steps(gpu);
      const seconds = (performance.now() - started) / 1000;
      t.same(fallbacks(), {}, 'nothing ran on the CPU');
      t.same(
        compareF32(run.losses.flat(), cpu.losses.flat(), TOL),
        null,
        `itc, itm, mlm, total of ${STEPS} steps match cpu`,
      );
      t.same(
        compareF32(run.extra, cpu.extra, TOL),
        null,
        name.startsWith('ALBEF') ? 'queues and queue_ptr match cpu' : 'logit scale matches cpu',
      );
      t.ok(run.losses.flat().every(Number.isFinite), 'finite losses');
      t.comment(
        `${name}: ${STEPS} steps on webgpu in ${seconds.toFixed(1)} s; totals ${run.losses.map((l) => l[3].toFixed(5)).join(', ')} (cpu ${cpu.losses.map((l) => l[3].toFixed(5)).join(', ')})`,
      );
    });
  }
});
