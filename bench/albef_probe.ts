/**
 * Probe: can ALBEF-tiny's image tower [CLS] (or text tower [CLS]) learn, with a linear head and BCE,
 * which colours a scene (or its caption) contains? Prints the per-label accuracy every 25 steps and
 * the all-zero baseline. Used in models/albef/RESULTS.md to show each tower can encode the
 * information ITC needs.
 *
 *   VLGRAD_THREADS=1 npx tsx bench/albef_probe.ts image|text <initStd> [steps]
 */
import { tensor, Rng, binaryCrossEntropyWithLogits, type Tensor } from '../engine/index.js';
import { Albef } from '../models/albef/albef.js';
import { albefTiny } from '../models/albef/config.js';
import { makeDataset, grammarVocab, Tokenizer, channelStats } from '../data/index.js';
import { Linear } from '../nn/layers.js';
import { AdamW } from '../nn/optim.js';
const [tower, std, steps] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] ?? 150)];
const tok = Tokenizer.fromVocab(grammarVocab());
const ds = makeDataset({ name: 'mnist-scenes', split: 'train', size: 4096, seed: 0 });
const norm = channelStats(ds, 256);
const colours = [
  ...new Set(Array.from({ length: 500 }, (_, i) => ds.meta(i).objects.map((o: any) => o.colour)).flat()),
].sort();
const m = new Albef({
  ...albefTiny(tok.vocabSize),
  initStd: std,
  text: { ...albefTiny(tok.vocabSize).text, hiddenDropout: 0, attnDropout: 0 },
});
const rng = new Rng(3),
  head = new Linear(64, colours.length, { rng });
const params = [
  ...(tower === 'image' ? m.visualEncoder.parameters() : m.textEncoder.parameters()),
  ...head.parameters(),
];
const opt = new AdamW(params, { lr: 1e-3, weightDecay: 0 });
const S = 32,
  B = 32;
const accs: number[] = [];
for (let s = 0; s < steps; s++) {
  const idx = Array.from({ length: B }, () => rng.int(0, ds.length));
  const y = new Float32Array(B * colours.length);
  idx.forEach((i, r) =>
    ds.meta(i).objects.forEach((o: any) => {
      y[r * colours.length + colours.indexOf(o.colour)] = 1;
    }),
  );
  let cls: Tensor;
  if (tower === 'image') {
    const img = new Float32Array(B * 3 * S * S);
    idx.forEach((i, r) => ds.image(i, false, img, r * 3 * S * S));
    for (let k = 0; k < img.length; k++) {
      const c = Math.floor(k / (S * S)) % 3;
      img[k] = (img[k] - norm.mean[c]) / norm.std[c];
    }
    cls = m
      .encodeImage(tensor(img, { shape: [B, 3, S, S] }))
      .narrow(1, 0, 1)
      .squeeze(1);
  } else {
    const e = tok.encodeBatch(
      idx.map((i) => ds.cleanCaption(i)),
      { maxLength: 16, padding: 'max_length', truncation: true },
    );
    cls = m
      .encodeText(tensor(e.ids, { shape: [B, 16] }), tensor(e.attentionMask, { shape: [B, 16] }))
      .narrow(1, 0, 1)
      .squeeze(1);
  }
  const logits = head.forward(cls),
    loss = binaryCrossEntropyWithLogits(logits, tensor(y, { shape: [B, colours.length] }));
  opt.zeroGrad();
  loss.backward();
  opt.step();
  const p = logits.dataSync();
  let ok = 0;
  for (let k = 0; k < p.length; k++) if ((p[k] > 0 ? 1 : 0) === y[k]) ok++;
  accs.push(ok / p.length);
  if ((s + 1) % 25 === 0) {
    const a = accs.slice(-25);
    console.log(
      tower,
      std,
      'step',
      s + 1,
      'loss',
      loss.item().toFixed(3),
      'label acc',
      (a.reduce((x, z) => x + z) / a.length).toFixed(3),
    );
  }
}
const base =
  1 - Array.from({ length: 500 }, (_, i) => ds.meta(i).objects.length).reduce((a, b) => a + b) / 500 / colours.length;
console.log('colours', colours.length, 'all-zero baseline acc', base.toFixed(3));
process.exit(0);
