/**
 * Grounding (models/albef/grounding.ts): the per-word Grad-CAM maps of both methods and the
 * statistic that scores them against the scene's objects.
 */
import t from 'tap';
import { grad, randn, Rng, tensor } from '../../engine/index.js';
import { Albef } from '../../models/albef/albef.js';
import { albefMicro, type AlbefConfig } from '../../models/albef/config.js';
import { gradCam, groundingStats } from '../../models/albef/grounding.js';

const MASK = 4;
/** albefMicro with two fusion layers (one text layer), float64. */
function micro(): { config: AlbefConfig; model: Albef } {
  const base = albefMicro(12);
  const config = { ...base, text: { ...base.text, layers: 3, fusionLayer: 1 } };
  return { config, model: new Albef(config, { seed: 3 }).to('float64') };
}
const TOKENS = ['[CLS]', 'a', 'b', 'c', 'd', '[SEP]'];
const idsOf = (a: number[]) => tensor(Int32Array.from(a), { shape: [1, a.length] });
const ONES = tensor(Int32Array.from([1, 1, 1, 1, 1, 1]), { shape: [1, 6] });

t.test('groundingStats scores peaks against the named object', async (t) => {
  const grid = 4,
    N = grid * grid;
  const peakAt = (p: number) => Float64Array.from({ length: N }, (_, i) => (i === p ? 1 : 0));
  // Objects in the top-left and bottom-right 12-pixel boxes of a 32-pixel image (8-pixel patches).
  const objects = [
    { kind: '3', x: 0, y: 0, box: 12 },
    { kind: '7', x: 20, y: 20, box: 12 },
  ];
  const tokens = ['[CLS]', 'the', 'small', 'red', '3', 'left', 'of', 'the', '7', '[SEP]'];
  // small -> patch 0 (on the 3: hit); red -> patch 15 (on the 7, but red names the 3: miss);
  // 3 -> patch 5 (touches the 3's box, which spans patches 0, 1, 4, 5: hit); 7 -> patch 0 (miss).
  const peaks: Record<number, number> = { 2: 0, 3: 15, 4: 5, 8: 0 };
  const maps = tokens.map((_, i) => peakAt(peaks[i] ?? 3));
  const s = groundingStats([{ tokens, maps, grid, imageSize: 32, objects }]);
  t.same(
    [s.words, s.hits, s.byType.size, s.byType.colour, s.byType.kind],
    [4, 2, { words: 1, hits: 1 }, { words: 1, hits: 0 }, { words: 2, hits: 1 }],
  );
  t.equal(s.chance, 4 / 16, 'each box touches 4 of the 16 patches');
  t.same([s.scenes, s.scenesMostWords], [1, 0], 'two hits of four words is not most');
  const better = maps.slice();
  better[8] = peakAt(15);
  const s2 = groundingStats([{ tokens, maps: better, grid, imageSize: 32, objects }]);
  t.same([s2.hits, s2.scenesMostWords], [3, 1], 'three of four is most');
  const flat = better.slice();
  flat[2] = new Float64Array(N); // 'small' had its peak on patch 0, inside its object's box
  t.equal(groundingStats([{ tokens, maps: flat, grid, imageSize: 32, objects }]).hits, 2, 'a flat map peaks nowhere');
});

t.test("gradCam 'mlm': each word's map is Grad-CAM of its masked prediction", async (t) => {
  const { config, model } = micro();
  const S = config.vision.imageSize,
    image = randn([1, 3, S, S], { rng: new Rng(5), dtype: 'float64' });
  const ids = [2, 5, 6, 7, 8, 3];
  const g = gradCam(model, image, idsOf(ids), ONES, TOKENS, { layer: 0, method: 'mlm', maskId: MASK });
  t.equal(g.maps.length, 6);
  t.equal(g.grid, 2);
  t.ok(g.maps[0]!.every((v) => v === 0) && g.maps[5]!.every((v) => v === 0), '[CLS] and [SEP] have no map');
  t.ok(
    g.maps.slice(1, 5).every((m) => m.some((v) => v > 0) && m.every((v) => v >= 0)),
    'every word has a non-negative, non-zero map',
  );
  // Oracle for word 2: mask it, take log p(its id) from the MLM head, Grad-CAM on the whole
  // attention matrix, keep row 2.
  const masked = idsOf([2, 5, MASK, 7, 8, 3]);
  const f = model.textEncoder.bert.fuse(model.encodeText(masked, ONES), ONES, model.encodeImage(image));
  const logp = model.textEncoder.head
    .forward(f.out.reshape([6, -1]))
    .logSoftmax(-1)
    .narrow(0, 2, 1)
    .narrow(1, 6, 1);
  const [dA] = grad(logp.sum(), [f.crossAttn[0]!]);
  const cam = f.crossAttn[0]!.mul(dA!.clamp(0)).mean(1).dataSync(); // [1, T, 1+N]
  const want = Array.from(cam.subarray(2 * 5 + 1, 3 * 5));
  t.ok(
    want.every((v, i) => Math.abs(v - g.maps[2]![i]!) <= 1e-12 * Math.max(1, Math.abs(v))),
    `word 2's map is the masked-word oracle (${want.map((v) => v.toExponential(3))} vs ${Array.from(g.maps[2]!, (v) => v.toExponential(3))})`,
  );
  // Word 2 replaced: word 3's map moves with it (it sees its neighbours).
  const other = gradCam(model, image, idsOf([2, 5, 10, 7, 8, 3]), ONES, TOKENS, { layer: 0, maskId: MASK });
  const diff = Math.max(...g.maps[3]!.map((v, i) => Math.abs(v - other.maps[3]![i]!)));
  t.ok(diff > 1e-9, `a neighbouring word's map moves with it (max change ${diff.toExponential(2)})`);
});

t.test("gradCam 'itm': in the last fusion layer only [CLS] has a gradient", async (t) => {
  const { config, model } = micro();
  const S = config.vision.imageSize,
    image = randn([1, 3, S, S], { rng: new Rng(6), dtype: 'float64' }),
    ids = idsOf([2, 5, 6, 7, 8, 3]);
  const last = gradCam(model, image, ids, ONES, TOKENS, { layer: 1, method: 'itm' });
  t.ok(
    last.maps.slice(1).every((m) => m.every((v) => v === 0)),
    'words reach nothing the ITM head reads after the last layer',
  );
  const first = gradCam(model, image, ids, ONES, TOKENS, { layer: 0, method: 'itm' });
  t.ok(
    first.maps.slice(1, 5).some((m) => m.some((v) => v > 0)),
    'in an earlier layer the words do carry a map',
  );
  const mlm = gradCam(model, image, ids, ONES, TOKENS, { layer: 0, maskId: MASK });
  t.equal(mlm.itmLogit, first.itmLogit, 'both methods report the unmasked caption ITM logit');
});

t.test('gradCam refuses bad options with the reason', async (t) => {
  const { config, model } = micro();
  const S = config.vision.imageSize,
    image = randn([1, 3, S, S], { rng: new Rng(7), dtype: 'float64' }),
    ids = idsOf([2, 5, 6, 7, 8, 3]);
  t.throws(() => gradCam(model, image, ids, ONES, TOKENS), /method 'mlm' needs opts\.maskId/);
  t.throws(() => gradCam(model, image, ids, ONES, TOKENS, { layer: 2, maskId: MASK }), /layer 2 outside the 2 fusion/);
  t.throws(
    () => gradCam(model, image, ids, ONES, TOKENS, { method: 'x' as never, maskId: MASK }),
    /method 'x' is not one of mlm, itm/,
  );
  t.throws(() => gradCam(model, image, ids, ONES, TOKENS.slice(1), { maskId: MASK }), /T = tokens.length \(5\)/);
});
