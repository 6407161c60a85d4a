// PyTorch parity: test/parity/albef_torch.py builds the same micro ALBEF in plain torch following the
// reference module structure, loads our exported float64 state dict and batch, runs one pre-training
// forward with the same MLM masks and hard negatives (dropout off) and back-propagates the total.
// Every loss, every online gradient and the updated momentum model and queues must agree to 1e-8.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { tensor, type Tensor } from '../../engine/index.js';
import { fromRecords, toRecords } from '../../models/common/checkpoint.js';
import { load, save } from '../../nn/safetensors_node.js';
import { microSetup, onlineParams } from './albef_fixtures.js';
import { PYTHON, torchSkip } from '../helpers/torch.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', 'parity', 'albef_torch.py');
const skip = torchSkip(t); // a failure under CI=true

/** Largest |a - b| - 1e-8·|b| over the elements (<= 1e-8 passes), and where it happens. */
function worst(a: Tensor, b: Tensor): { err: number; at: number } {
  const x = a.dataSync(),
    y = b.dataSync();
  let err = 0,
    at = -1;
  for (let i = 0; i < x.length; i++) {
    const e = Math.abs(x[i] - y[i]) - 1e-8 * Math.abs(y[i]);
    if (!(e <= err)) {
      err = e;
      at = i;
    }
  }
  return { err, at };
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  const x = a.dataSync(),
    y = b.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

t.test('one ALBEF step matches the PyTorch reference structure to 1e-8 (float64)', { skip }, async (t) => {
  const { config, model, inputs, negatives, alpha } = microSetup();
  const dir = await mkdtemp(join(tmpdir(), 'albef-parity-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, alpha }));
  await save(join(dir, 'state.safetensors'), toRecords(model.stateDict()));
  await save(
    join(dir, 'batch.safetensors'),
    toRecords({
      images: inputs.images,
      ids: inputs.ids,
      attention_mask: inputs.attentionMask,
      mlm_ids: inputs.mlmIds!,
      mlm_labels: inputs.mlmLabels!,
      neg_image: tensor(negatives.imageForText),
      neg_text: tensor(negatives.textForImage),
    }),
  );

  const out = model.forward(inputs, { alpha, negatives });
  out.total.backward();
  const { stdout } = await promisify(execFile)(PYTHON, [
    SCRIPT,
    ...['config.json', 'state.safetensors', 'batch.safetensors', 'torch.safetensors'].map((f) => join(dir, f)),
  ]);
  t.comment(`torch losses: ${stdout.trim()}`);
  const ref = fromRecords((await load(join(dir, 'torch.safetensors'))).tensors);

  const ours: Record<string, Tensor> = {
    itc: out.itc,
    itm: out.itm,
    mlm: out.mlm,
    i2t: out.i2t,
    t2i: out.t2i,
    total: out.total,
  };
  for (const [k, v] of Object.entries(ours))
    t.ok(Math.abs(v.item() - ref[`loss.${k}`].item()) <= 1e-8, `loss ${k}: ${v.item()} vs ${ref[`loss.${k}`].item()}`);
  t.ok(worst(out.itmLogits, ref.itm_logits).err <= 1e-8, 'ITM logits');

  const params = onlineParams(model);
  t.equal(
    params.length,
    Object.keys(ref).filter((k) => k.startsWith('grad.')).length,
    'same number of trainable tensors',
  );
  let bad = 0,
    maxErr = 0;
  for (const [name, p] of params) {
    const g = ref[`grad.${name}`];
    if (!g || !p.grad) {
      bad++;
      t.fail(`no gradient for ${name}`);
      continue;
    }
    const w = worst(p.grad, g);
    maxErr = Math.max(maxErr, maxAbsDiff(p.grad, g));
    if (w.err > 1e-8) {
      bad++;
      t.fail(`grad ${name} differs at element ${w.at} by ${w.err}`);
    }
  }
  t.equal(bad, 0, `all ${params.length} parameter gradients agree (largest |difference| ${maxErr.toExponential(2)})`);

  const after = model.stateDict();
  let stateBad = 0;
  for (const [k, v] of Object.entries(ref)) {
    if (!k.startsWith('after.')) continue;
    const name = k.slice(6),
      mine = after[name];
    if (!mine) {
      stateBad++;
      t.fail(`no ${name} after the step`);
      continue;
    }
    if (worst(mine.to(v.dtype === 'int32' ? 'int32' : 'float64'), v).err > 1e-8) {
      stateBad++;
      t.fail(`${name} after the step differs`);
    }
  }
  t.equal(stateBad, 0, 'momentum model, queues, queue_ptr and temp agree after the step');
  t.equal(model.queuePtr, 0, 'the queue pointer wrapped');
});
