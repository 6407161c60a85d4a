/**
 * Short ALBEF-tiny training trials, used to size and diagnose the default run (models/albef/RESULTS.md,
 * "Trials"): trains with TRAIN_DEFAULTS overridden by a JSON object (and the albef-tiny config by
 * another), then scores in-batch retrieval over 256 test scenes in batches of 32 (chance ~3.1%), the
 * mean pairwise cosine of the image and text ITC features (1 = collapsed), and the last 40 steps'
 * losses and accuracies. Two research knobs, set by environment variable, patch the model for the
 * trial only: W='[itc, itm, mlm]' reweights the total loss; FREEZE_TEMP=0.07 replaces the learnable
 * temperature by a constant.
 *
 *   VLGRAD_THREADS=1 npx tsx bench/albef_trials.ts '{"steps":200,"lr":0.001}' '{"initStd":0.07}' /tmp/trial-a
 */
import { full, noGrad, tensor } from '../engine/index.js';
import { albefTiny } from '../models/albef/config.js';
import { trainAlbef, TRAIN_DEFAULTS } from '../models/albef/train.js';
import { buildGallery } from '../models/common/gallery.js';
import { readJsonl } from '../models/common/jsonl.js';
import { grammarVocab } from '../data/index.js';
import { Albef } from '../models/albef/albef.js';
const [o, c, out] = [JSON.parse(process.argv[2]), JSON.parse(process.argv[3]), process.argv[4]];

if (process.env.FREEZE_TEMP)
  Object.defineProperty(Albef.prototype, 'temp', {
    get() {
      return full([], Number(process.env.FREEZE_TEMP));
    },
  });
const W = JSON.parse(process.env.W ?? '[1,1,1]');
const orig = Albef.prototype.losses;
Albef.prototype.losses = function (...a: any[]) {
  const r = (orig as any).apply(this, a);
  return { ...r, total: r.itc.mul(W[0]).add(r.itm.mul(W[1])).add(r.mlm.mul(W[2])) };
};
const config = { ...albefTiny(grammarVocab().length), ...c };
const r = await trainAlbef({
  ...TRAIN_DEFAULTS,
  config,
  progress: false,
  maxMinutes: 0,
  checkpointEvery: 100000,
  out,
  ...o,
});
const { model, tokenizer, info } = r;
model.eval();
const n = 256,
  g = buildGallery(tokenizer, { dataset: 'mnist-scenes', size: n, seed: 1, normalize: info.normalize, textLength: 16 });
const S = g.S;
noGrad(() => {
  let hi = 0,
    ht = 0,
    cosI = 0,
    cosT = 0;
  for (let s = 0; s < n; s += 32) {
    const images = tensor(g.images.slice(s * 3 * S * S, (s + 32) * 3 * S * S), { shape: [32, 3, S, S] });
    const ids = tensor(g.ids.slice(s * 16, (s + 32) * 16), { shape: [32, 16] }),
      mask = tensor(g.mask.slice(s * 16, (s + 32) * 16), { shape: [32, 16] });
    const v = model.imageFeature(model.encodeImage(images)),
      t = model.textFeature(model.encodeText(ids, mask));
    const sim = v.matmul(t.mT()).dataSync(),
      vv = v.matmul(v.mT()).dataSync(),
      tt = t.matmul(t.mT()).dataSync();
    for (let i = 0; i < 32; i++) {
      let bi = 0,
        bt = 0;
      for (let j = 0; j < 32; j++) {
        if (sim[i * 32 + j] > sim[i * 32 + bi]) bi = j;
        if (sim[j * 32 + i] > sim[bt * 32 + i]) bt = j;
        if (j !== i) {
          cosI += vv[i * 32 + j];
          cosT += tt[i * 32 + j];
        }
      }
      if (g.matches(s + i).includes(s + bi)) hi++;
      if (g.matches(s + i).includes(s + bt)) ht++;
    }
  }
  const L = readJsonl(`${out}/log.jsonl`),
    tail = L.slice(-40),
    m = (k: string) => (tail.reduce((a, x) => a + (x[k] as number), 0) / tail.length).toFixed(3);
  console.log(
    JSON.stringify({ o, c, W }),
    `| in-batch32 i2t ${((hi / n) * 100).toFixed(1)}% t2i ${((ht / n) * 100).toFixed(1)}% | cos img ${(cosI / (n * 31)).toFixed(3)} txt ${(cosT / (n * 31)).toFixed(3)} | temp ${model.temp.item().toFixed(4)} | last40 itc ${m('itc')} itm ${m('itm')} mlm ${m('mlm')} itm_acc ${m('itm_acc')} mlm_acc ${m('mlm_acc')} | ${r.seconds.toFixed(0)} s`,
  );
});
process.exit(0);
