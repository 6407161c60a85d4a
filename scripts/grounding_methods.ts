/**
 * Compares per-word grounding maps of a trained ALBEF run on one split: Grad-CAM of the ITM logit
 * ('itm', the paper's), Grad-CAM of each masked word's MLM log-probability ('mlm') and the raw
 * cross-attention (mean over heads), on each fusion layer, scored by `groundingStats`.
 * The default method was chosen with this on validation scenes (models/albef/RESULTS.md).
 *
 *   npx tsx scripts/grounding_methods.ts [--run runs/albef-tiny] [--split val] [--scenes 200]
 */
import { parseArgs } from 'node:util';
import { noGrad, type Tensor, tensor } from '../engine/index.js';
import { makeDataset, SPLITS, type Split } from '../data/index.js';
import { loadRun } from '../models/albef/cli.js';
import { GROUNDING_METHODS, gradCam, groundingStats } from '../models/albef/grounding.js';
import { EVAL_FLAGS } from '../models/common/flags.js';

const { values: a } = parseArgs({
  options: {
    run: { type: 'string', default: 'runs/albef-tiny' },
    split: { type: 'string', default: 'val' },
    scenes: { type: 'string', default: '200' },
  },
});
const n = Number(a.scenes);
if (!SPLITS.includes(a.split as Split))
  throw new RangeError(`--split ${a.split}: expected one of ${SPLITS.join(', ')}`);
if (!(Number.isInteger(n) && n >= 1 && n <= EVAL_FLAGS.evalSize.default))
  throw new RangeError(`--scenes ${a.scenes}: expected an integer in 1..${EVAL_FLAGS.evalSize.default}`);
const { model, tokenizer, info, checkpoint } = await loadRun(a.run!);
// The evaluation's scenes: same size and seed as `eval albef` (the split picks which scenes).
const ds = makeDataset({
  name: info.options.dataset,
  split: a.split as Split,
  size: EVAL_FLAGS.evalSize.default,
  seed: EVAL_FLAGS.evalSeed.default,
});
const S = ds.imageSize,
  layers = model.config.text.layers - model.config.text.fusionLayer;

type Scored = Parameters<typeof groundingStats>[0][number];
const rows = new Map<string, Scored[]>();
const add = (name: string, s: Scored): void => void rows.set(name, [...(rows.get(name) ?? []), s]);

for (let i = 0; i < n; i++) {
  const norm = ds.image(i).slice();
  for (let j = 0; j < norm.length; j++) {
    const c = Math.floor(j / (S * S));
    norm[j] = (norm[j]! - info.normalize.mean[c]!) / info.normalize.std[c]!;
  }
  const enc = tokenizer.encode(ds.cleanCaption(i), { maxLength: 16, truncation: true }),
    T = enc.ids.length;
  const image = tensor(norm, { shape: [1, 3, S, S] }),
    ids = tensor(enc.ids, { shape: [1, T] }),
    mask = tensor(enc.attentionMask, { shape: [1, T] });
  const base = { tokens: enc.tokens, imageSize: S, objects: ds.meta(i).objects };
  const crossAttn: Tensor[] = noGrad(
    () => model.textEncoder.bert.fuse(model.encodeText(ids, mask), mask, model.encodeImage(image)).crossAttn,
  );
  for (let layer = 0; layer < layers; layer++) {
    for (const method of GROUNDING_METHODS) {
      const g = gradCam(model, image, ids, mask, enc.tokens, { layer, method, maskId: tokenizer.maskId });
      add(`${method} Grad-CAM, fusion layer ${layer}`, { ...base, maps: g.maps, grid: g.grid });
    }
    const A = crossAttn[layer]!;
    const N = A.shape[3]! - 1,
      att = A.narrow(3, 1, N).mean(1).squeeze(0).dataSync();
    const maps = Array.from({ length: T }, (_, t) => Float64Array.from(att.subarray(t * N, (t + 1) * N)));
    add(`cross-attention, fusion layer ${layer}`, { ...base, maps, grid: Math.round(Math.sqrt(N)) });
  }
}

const pct = (h: number, w: number): string => `${((100 * h) / w).toFixed(0)}%`;
console.log(`${checkpoint}, ${a.split} split, scenes 0..${n - 1}`);
console.log('| maps | words on their object | colour | size | digit | scenes, most words | random patch |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const [name, scenes] of rows) {
  const s = groundingStats(scenes),
    b = s.byType;
  console.log(
    `| ${name} | ${pct(s.hits, s.words)} of ${s.words} | ${pct(b.colour.hits, b.colour.words)} | ${pct(b.size.hits, b.size.words)} | ` +
      `${pct(b.kind.hits, b.kind.words)} | ${s.scenesMostWords} of ${s.scenes} | ${pct(s.chance, 1)} |`,
  );
}
