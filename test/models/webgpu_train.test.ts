/**
 * Training from the trainers (what `vlgrad train albef|vlmo --device webgpu` runs) on the
 * asynchronous webgpu device: trainAlbef and VLMo stage 3 with micro configs for a few steps must
 * write one log record per step with finite losses and checkpoints that load back. On webgpu every
 * synchronous read throws, so finishing shows the steps and the checkpoint writes read
 * asynchronously. The same async reads run on cpu, where resuming must stay bit-identical.
 * Without a WebGPU adapter the webgpu part is skipped with the reason (a failure under CI=true).
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { setDefaultDevice } from '../../engine/index.js';
import { grammarVocab } from '../../data/index.js';
import { albefMicro, type AlbefConfig } from '../../models/albef/config.js';
import { trainAlbef, TRAIN_DEFAULTS, type AlbefTrainOptions } from '../../models/albef/train.js';
import { latestCheckpoint, listCheckpoints, loadCheckpoint, stateDictTo } from '../../models/common/checkpoint.js';
import { readJsonl } from '../../models/common/jsonl.js';
import { vlmoMicro, type VlmoConfig } from '../../models/vlmo/config.js';
import { trainVlmo, VLMO_TRAIN_DEFAULTS, type VlmoTrainOptions } from '../../models/vlmo/train.js';
import { startDevice } from '../helpers/backends.js';
import type { TestT } from '../nn/nn_helpers.js';

const V = grammarVocab().length,
  STEPS = 3;
// The micro configs with 32-pixel images (the bundled datasets come in 32 or 64 pixels) and, for
// ALBEF, 16 text positions.
const albefM = albefMicro(V),
  ALBEF: AlbefConfig = {
    ...albefM,
    vision: { ...albefM.vision, imageSize: 32, patchSize: 8 },
    text: { ...albefM.text, maxPositions: 16 }, // 16: the loader's caption length
  };
const VLMO: VlmoConfig = { ...vlmoMicro(V), imageSize: 32, patchSize: 8 };

const albefOptions = (out: string, device: string, o: Partial<AlbefTrainOptions> = {}): AlbefTrainOptions => ({
  ...TRAIN_DEFAULTS,
  config: ALBEF,
  dataset: 'shapes',
  trainSize: 32,
  steps: STEPS,
  batchSize: 3,
  warmupSteps: 1,
  checkpointEvery: 2,
  maxMinutes: 0,
  device,
  out,
  progress: false,
  ...o,
});
const vlmoOptions = (out: string, device: string, o: Partial<VlmoTrainOptions> = {}): VlmoTrainOptions => ({
  ...VLMO_TRAIN_DEFAULTS,
  config: VLMO,
  dataset: 'shapes',
  trainSize: 32,
  stages: '3',
  steps3: STEPS,
  batchSize: 4,
  warmup: 0,
  codebookImages: 8,
  checkpointEvery: 2,
  device,
  out,
  progress: false,
  ...o,
});

/** Checks a run directory's log and checkpoints; loads the newest checkpoint on cpu. */
async function checkRun(t: TestT, logPath: string, ckptDir: string, lossKeys: string[]): Promise<void> {
  const log = readJsonl(logPath);
  t.equal(log.length, STEPS, `${STEPS} log records`);
  t.ok(
    log.every((r) => lossKeys.every((k) => Number.isFinite(r[k]))),
    `finite ${lossKeys.join(', ')} at every step`,
  );
  t.same(await listCheckpoints(ckptDir), [2, 3], 'checkpoints after step 2 and the last step');
  setDefaultDevice('cpu');
  const ck = await loadCheckpoint((await latestCheckpoint(ckptDir))!);
  t.equal(ck.state.step, STEPS, 'the checkpoint loads, at the last step');
  t.ok(
    Object.values(ck.model).every((x) => x.dataSync().every(Number.isFinite)),
    `all ${Object.keys(ck.model).length} model tensors are finite`,
  );
}

t.test('trainAlbef and VLMo stage 3 on webgpu: finite logged losses, loadable checkpoints', async (t) => {
  const slot = await startDevice('webgpu');
  if (!slot.backend) {
    if (slot.required) t.fail(`${slot.reason} (required here: CI=true)`);
    else await t.test('webgpu', { skip: slot.reason }, async () => {});
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'webgpu-train-'));
  t.teardown(async () => {
    setDefaultDevice('cpu');
    await rm(dir, { recursive: true, force: true });
  });

  await t.test('ALBEF (albef-micro)', async (t) => {
    const o = albefOptions(join(dir, 'albef'), 'webgpu'),
      started = performance.now();
    const r = await trainAlbef(o);
    t.equal(r.model.temp.device, 'webgpu', 'the model trained on webgpu');
    t.comment(`${STEPS} ALBEF-micro steps on webgpu in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    // The CLI's way to evaluate: the state dict copied to cpu with async reads.
    const onCpu = await stateDictTo(r.model, 'cpu');
    t.ok(
      Object.values(onCpu).every((x) => x.device === 'cpu'),
      'the state dict moves to cpu',
    );
    await checkRun(t, join(o.out, 'log.jsonl'), join(o.out, 'checkpoints'), ['itc', 'itm', 'mlm', 'total', 'temp']);
  });

  await t.test('VLMo stage 3 (vlmo-micro)', async (t) => {
    const o = vlmoOptions(join(dir, 'vlmo'), 'webgpu'),
      started = performance.now();
    await trainVlmo(o);
    t.comment(`${STEPS} VLMo-micro stage-3 steps on webgpu in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await checkRun(t, join(o.out, 'stage3', 'log.jsonl'), join(o.out, 'stage3', 'checkpoints'), [
      'itc',
      'itm',
      'mlm',
      'total',
      'logit_scale',
    ]);
  });
});

t.test('on cpu the async step reads and checkpoint writes keep resume bit-identical (albef-micro)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cpu-train-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const a = albefOptions(join(dir, 'a'), 'cpu', { steps: 4 });
  await trainAlbef(a);
  const b = { ...a, out: join(dir, 'b'), resume: true };
  await cp(join(a.out, 'checkpoints', 'step-000002'), join(b.out, 'checkpoints', 'step-000002'), { recursive: true });
  await trainAlbef(b);
  const [x, y] = await Promise.all([
    loadCheckpoint(join(a.out, 'checkpoints', 'step-000004')),
    loadCheckpoint(join(b.out, 'checkpoints', 'step-000004')),
  ]);
  const differing = Object.keys(x.model).filter(
    (k) => !Buffer.from(x.model[k].dataSync().buffer).equals(Buffer.from(y.model[k].dataSync().buffer)),
  );
  t.same(differing, [], `all ${Object.keys(x.model).length} model tensors are bit-identical`);
  const strip = (p: string): unknown[] =>
    readJsonl(join(p, 'log.jsonl')).map(({ time_s: _t, samples_per_s: _s, cpu_s: _c, ...r }) => r);
  t.same(strip(b.out), strip(a.out).slice(2), 'the resumed steps log what the uninterrupted run logged (times aside)');
});
