// Stage 1's scene-fact targets (models/vlmo/facts.ts): the label set of each dataset, and the
// targets of real training scenes agree with what their facts say.
import t from 'tap';
import { makeDataset } from '../../data/index.js';
import { factNames, FactTargets } from '../../models/vlmo/facts.js';
import { factsObjective } from '../../models/vlmo/objectives.js';
import { vlmoMicro } from '../../models/vlmo/config.js';
import { Vlmo } from '../../models/vlmo/vlmo.js';
import { loadPreviousStage, stageConfig } from '../../models/vlmo/stages.js';
import { tensor } from '../../engine/index.js';

t.test('fact names: 3 counts + 6 colours + kinds + 2 sizes + colour and size pairs, no repeats', async (t) => {
  t.equal(factNames('mnist-scenes').length, 3 + 6 + 10 + 2 + 60 + 20);
  t.equal(factNames('shapes').length, 3 + 6 + 3 + 2 + 18 + 6);
  t.equal(new Set(factNames('mnist-scenes')).size, factNames('mnist-scenes').length);
});

t.test('targets of training scenes: one count, and exactly the colours, kinds, sizes and pairs present', async (t) => {
  const ds = makeDataset({ name: 'shapes', split: 'train', size: 20, seed: 0 }),
    f = new FactTargets('shapes');
  const metas = Array.from({ length: ds.length }, (_, i) => ds.meta(i)),
    y = f.targets(metas);
  metas.forEach((m, b) => {
    const on = f.names.filter((_, j) => y[b * f.size + j] === 1);
    const want = new Set([
      `count:${m.objects.length}`,
      ...m.objects.flatMap((o) => [
        `colour:${o.colour}`,
        `kind:${o.kind}`,
        `size:${o.size}`,
        `pair:${o.colour} ${o.kind}`,
        `sizePair:${o.size} ${o.kind}`,
      ]),
    ]);
    t.same(new Set(on), want, `scene ${b}`);
  });
});

t.test('the facts head trains in stage 1 only and is dropped when stage 2 loads', async (t) => {
  const c = vlmoMicro(),
    f = new FactTargets('shapes'),
    m = new Vlmo(stageConfig(c, 1), { seed: 1, facts: f.size });
  const images = tensor(
    new Float32Array(2 * 3 * 64).map((_, i) => Math.sin(i)),
    { shape: [2, 3, 8, 8] },
  );
  const out = factsObjective(m, images, tensor(new Float32Array(2 * f.size), { shape: [2, f.size] }));
  t.ok(Number.isFinite(out.loss.item()) && out.loss.item() > 0, 'BCE loss is finite and positive');
  const said = Float32Array.from(out.logits.dataSync(), (x) => (x > 0 ? 1 : 0));
  t.equal(
    await factsObjective(m, images, tensor(said, { shape: [2, f.size] })).exact(),
    1,
    'exact() = 1 when the targets are the predicted sets',
  );
  said[0] = 1 - said[0];
  t.equal(
    await factsObjective(m, images, tensor(said, { shape: [2, f.size] })).exact(),
    0.5,
    'and 0.5 when one scene has one fact wrong',
  );
  const next = new Vlmo(stageConfig(c, 2), { seed: 2 }),
    sd = Object.fromEntries(m.namedParameters());
  t.ok(
    loadPreviousStage(next, sd, 2).dropped.some((k) => k.startsWith('facts_head.')),
    'facts_head.* dropped, not an error',
  );
});
