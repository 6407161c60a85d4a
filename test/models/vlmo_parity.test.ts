// PyTorch parity: test/parity/vlmo_torch.py builds the same micro VLMo in plain torch following the
// reference module structure (and builds the relative-position indices the reference's way), loads
// our exported float64 state dict (reference keys, via weights.ts) and batch, and runs the three stage
// objectives with the same MLM masks, ITM hard negatives and MIM mask (drop path 0), each with its
// own backward. Every loss and every gradient must agree to 1e-8.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { tensor, type Tensor } from '../../engine/index.js';
import { fromRecords, toRecords } from '../../models/common/checkpoint.js';
import { mimObjective, textMlmObjective, vlObjective } from '../../models/vlmo/objectives.js';
import { fusedRelPosIndex, imageRelPosIndex, relPosLayout, textRelPosIndex } from '../../models/vlmo/relpos.js';
import { fromReferenceKey, toReference, toReferenceKey } from '../../models/vlmo/weights.js';
import { load, save } from '../../nn/safetensors_node.js';
import { microSetup } from './vlmo_fixtures.js';
import { PYTHON, torchSkip } from '../helpers/torch.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', 'parity', 'vlmo_torch.py');
const skip = torchSkip(t); // a failure under CI=true

/** Largest |a - b| - 1e-8·|b| over the elements (<= 1e-8 passes), and where it happens. */
function worst(a: Tensor, b: Tensor): { err: number; at: number } {
  const x = a.dataSync(),
    y = b.dataSync();
  if (x.length !== y.length) return { err: Infinity, at: -1 };
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

t.test('the three stage objectives match the PyTorch reference structure to 1e-8 (float64)', { skip }, async (t) => {
  const { config, model, batch, negatives, mimMask, codes } = microSetup();
  const dir = await mkdtemp(join(tmpdir(), 'vlmo-parity-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  await save(join(dir, 'state.safetensors'), toRecords(toReference(model.stateDict())));
  await save(
    join(dir, 'batch.safetensors'),
    toRecords({
      images: batch.images,
      ids: batch.ids,
      attention_mask: batch.attentionMask,
      mlm_ids: batch.mlmIds,
      mlm_labels: batch.mlmLabels,
      neg_image: tensor(negatives.imageForText),
      neg_text: tensor(negatives.textForImage),
      mim_mask: mimMask,
      codes,
    }),
  );
  const { stdout } = await promisify(execFile)(PYTHON, [
    SCRIPT,
    ...['config.json', 'state.safetensors', 'batch.safetensors', 'torch.safetensors'].map((f) => join(dir, f)),
  ]);
  t.comment(`torch: ${stdout.trim().replace(/\n/g, ' | ')}`);
  const ref = fromRecords((await load(join(dir, 'torch.safetensors'))).tensors);

  // Relative-position indices built the reference's way.
  const g = config.imageSize / config.patchSize,
    layout = relPosLayout(g, config.maxTextLenOfInitCkpt);
  t.same(Array.from(ref['index.image'].dataSync()), Array.from(imageRelPosIndex(g)), 'image index');
  t.same(
    Array.from(ref['index.text'].dataSync()),
    Array.from(textRelPosIndex(config.maxTextLen, layout)),
    'text index',
  );
  t.same(
    Array.from(ref['index.vl'].dataSync()),
    Array.from(fusedRelPosIndex(config.maxTextLen, g, layout)),
    'fused index',
  );

  const runs: [string, () => Record<string, Tensor>][] = [
    [
      'vl',
      () => {
        const out = vlObjective(model, batch, { negatives });
        t.ok(worst(out.itmLogits, ref.itm_logits).err <= 1e-8, 'ITM logits');
        return { itc: out.itc, itc_a: out.itcA, itc_b: out.itcB, itm: out.itm, mlm: out.mlm, total: out.total };
      },
    ],
    ['text', () => ({ mlm: textMlmObjective(model, batch).loss })],
    ['mim', () => ({ mim: mimObjective(model, { images: batch.images, mimMask, codes }).loss })],
  ];
  for (const [stage, run] of runs) {
    model.zeroGrad();
    const losses = run();
    (losses.total ?? Object.values(losses)[0]).backward();
    for (const [k, v] of Object.entries(losses)) {
      const r = ref[`loss.${stage}.${k}`];
      t.ok(r && Math.abs(v.item() - r.item()) <= 1e-8, `${stage} loss ${k}: ${v.item()} vs ${r?.item()}`);
    }
    const refGrads = Object.keys(ref).filter((k) => k.startsWith(`grad.${stage}.`));
    const ours = model.namedParameters().filter(([, p]) => p.grad);
    t.same(
      ours.map(([n]) => n).sort(),
      refGrads.map((k) => fromReferenceKey(k.slice(`grad.${stage}.`.length))).sort(),
      `${stage}: the same parameters receive gradients`,
    );
    let bad = 0,
      maxErr = 0;
    for (const [name, p] of ours) {
      const g = ref[`grad.${stage}.${toReferenceKey(name)}`];
      if (!g) continue;
      const w = worst(p.grad!, g),
        x = p.grad!.dataSync(),
        y = g.dataSync();
      for (let i = 0; i < x.length; i++) maxErr = Math.max(maxErr, Math.abs(x[i] - y[i]));
      if (w.err > 1e-8) {
        bad++;
        t.fail(`${stage} grad ${name} differs at element ${w.at} by ${w.err}`);
      }
    }
    t.equal(bad, 0, `${stage}: all ${ours.length} gradients agree (largest |difference| ${maxErr.toExponential(2)})`);
  }
});
