/**
 * How long one VLMo-tiny training step of each stage takes on this machine (forward, backward,
 * AdamW), at a few batch sizes, on random data of the real shapes. Used to size the default run.
 * Each step runs inside `tidy`, as training does.
 *
 *   npx tsx bench/vlmo_step.ts [--batch 16,32] [--repeats 3] [--device cpu]
 */
import { getBackend, ones, randint, randn, Rng, setDefaultDevice, tensor, tidy } from '../engine/index.js';
import { AdamW, paramGroups } from '../nn/optim.js';
import { vlmoTiny } from '../models/vlmo/config.js';
import { mimObjective, textMlmObjective, vlObjective } from '../models/vlmo/objectives.js';
import { freezeForStage, stageConfig, STAGES, vlmoNoDecay, type Stage } from '../models/vlmo/stages.js';
import { Vlmo } from '../models/vlmo/vlmo.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const batches = arg('batch', '16,32').split(',').map(Number),
  repeats = Number(arg('repeats', '3'));
setDefaultDevice(getBackend(arg('device', 'cpu')));

const V = 81,
  T = 16;
function stepOnce(
  stage: Stage,
  B: number,
  model: Vlmo,
  opt: AdamW,
  rng: Rng,
): { fwd: number; bwd: number; opt: number } {
  const c = model.config,
    P = (c.imageSize / c.patchSize) ** 2;
  const images = randn([B, 3, c.imageSize, c.imageSize], { rng });
  const ids = randint(5, V, [B, T], { rng }),
    mask = ones([B, T], { dtype: 'int32' });
  const labels = tensor(
    Int32Array.from({ length: B * T }, () => (rng.uniform() < 0.15 ? rng.int(5, V) : -100)),
    { shape: [B, T] },
  );
  const t0 = performance.now();
  const loss =
    stage === 1
      ? mimObjective(model, {
          images,
          mimMask: tensor(
            Int32Array.from({ length: B * P }, () => (rng.uniform() < 0.4 ? 1 : 0)),
            { shape: [B, P] },
          ),
          codes: randint(0, c.codebookSize, [B, P], { rng }),
        }).loss
      : stage === 2
        ? textMlmObjective(model, { mlmIds: ids, attentionMask: mask, mlmLabels: labels }).loss
        : vlObjective(model, { images, ids, attentionMask: mask, mlmIds: ids, mlmLabels: labels }).total;
  loss.item();
  const t1 = performance.now();
  opt.zeroGrad();
  loss.backward();
  const t2 = performance.now();
  opt.step();
  const t3 = performance.now();
  return { fwd: t1 - t0, bwd: t2 - t1, opt: t3 - t2 };
}

console.log(`vlmo-tiny step times (ms, median of ${repeats} after one warm-up), device ${arg('device', 'cpu')}`);
console.log('stage  batch   forward  backward     adamw     total');
for (const stage of STAGES) {
  for (const B of batches) {
    const model = new Vlmo(stageConfig(vlmoTiny(V), stage), { seed: 0, mim: stage === 1 });
    freezeForStage(model, stage);
    const opt = new AdamW(
      paramGroups(
        model.namedParameters().filter(([, p]) => p.requiresGrad),
        { weightDecay: 0.01, noDecay: vlmoNoDecay },
      ),
    );
    const rng = new Rng(1),
      runs: { fwd: number; bwd: number; opt: number }[] = [];
    // Each step inside one tidy scope, as the stage steps train (intermediates released at its end).
    tidy(() => stepOnce(stage, B, model, opt, rng));
    for (let r = 0; r < repeats; r++) runs.push(tidy(() => stepOnce(stage, B, model, opt, rng)));
    const med = (k: 'fwd' | 'bwd' | 'opt'): number =>
      runs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
    const [f, b, o] = [med('fwd'), med('bwd'), med('opt')];
    console.log(
      `${String(stage).padStart(5)}  ${String(B).padStart(5)}  ${f.toFixed(0).padStart(8)}  ${b.toFixed(0).padStart(8)}  ${o.toFixed(0).padStart(8)}  ${(f + b + o).toFixed(0).padStart(8)}`,
    );
  }
}
process.exit(0);
