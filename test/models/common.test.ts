// models/common: retrieval metrics and ALBEF re-ranking, the command-line flag parser, the JSONL log's
// resume truncation, the SVG plot, the schedules, the progress line, and checkpoints that restore a
// model, its optimizer and its RNGs exactly.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { randn, Rng } from '../../engine/index.js';
import { Linear } from '../../nn/layers.js';
import { AdamW } from '../../nn/optim.js';
import {
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  moduleRngs,
  restoreRngs,
  rngStates,
  saveCheckpoint,
} from '../../models/common/checkpoint.js';
import { parseFlags, runCli, type Command } from '../../models/common/cli.js';
import { JsonlLog, readJsonl } from '../../models/common/jsonl.js';
import { alphaRamp } from '../../models/albef/momentum.js';
import { warmupCosine } from '../../nn/schedulers.js';
import { lossCurvesSvg } from '../../models/common/plot.js';
import { formatDuration, formatProgress } from '../../models/common/progress.js';
import {
  positiveRanks,
  recallAtK,
  rerankTopK,
  retrievalReport,
  scoreMatrix,
  topK,
  transpose,
} from '../../models/common/retrieval.js';

t.test('retrieval: ranks, R@K in both directions, ties never flatter', async (t) => {
  // 3 images x 3 texts; image 0 ranks its text first, image 1 second, image 2 third.
  const m = scoreMatrix(3, 3, [0.9, 0.1, 0.0, 0.8, 0.5, 0.1, 0.7, 0.6, 0.2]);
  const own = (i: number): number[] => [i];
  t.same(positiveRanks(m, own), [0, 1, 2]);
  t.same(recallAtK([0, 1, 2], [1, 2, 3]), { r1: 100 / 3, r2: 200 / 3, r3: 100 });
  t.same(
    positiveRanks(scoreMatrix(1, 3, [1, 1, 1]), () => [2]),
    [2],
    'a tie ranks the positive after lower-indexed equals',
  );
  t.same(
    positiveRanks(m, (i) => (i === 2 ? [0, 2] : [i])),
    [0, 1, 0],
    'several positives: the best-ranked counts',
  );
  t.same(topK(m, 1, 2), [0, 1]);
  t.same(transpose(m).data.slice(0, 3), Float64Array.from([0.9, 0.8, 0.7]));
  const r = retrievalReport(m, transpose(m), own, own, [0, 1]);
  t.same(r.i2t, { r1: 50, r5: 100, r10: 100 }, 'queries can be restricted (held-out subsets)');
});

t.test('re-ranking: top-k candidates re-scored, the rest at −100', async (t) => {
  const m = scoreMatrix(2, 4, [4, 3, 2, 1, 1, 2, 3, 4]);
  const calls: [number, number][][] = [];
  const out = rerankTopK(m, 2, (pairs) => {
    calls.push([...pairs]);
    return pairs.map(([q, j]) => 10 * q + j);
  });
  t.same(
    calls[0],
    [
      [0, 0],
      [0, 1],
      [1, 3],
      [1, 2],
    ],
    'one scorer call with every candidate pair',
  );
  t.same([...out.data], [0, 1, -100, -100, -100, -100, 12, 13]);
  t.throws(() => rerankTopK(m, 2, () => [1]), /returned 1 scores for 4 pairs/);
});

t.test('flags: typed by their defaults, kebab-case, --no-x, clear errors', async (t) => {
  const defs = { steps: 10, lr: 1e-3, resume: false, progress: true, out: 'runs/x' };
  t.same(parseFlags(['--steps', '300', '--lr=3e-4', '--resume', '--no-progress', '--out', '/tmp/y'], defs), {
    steps: 300,
    lr: 3e-4,
    resume: true,
    progress: false,
    out: '/tmp/y',
  });
  t.same(parseFlags(['--batch-size', '8'], { batchSize: 32 }), { batchSize: 8 });
  t.throws(() => parseFlags(['--steps', 'many'], defs), /--steps many: expected a number/);
  t.throws(() => parseFlags(['--stpes', '3'], defs), /unknown flag --stpes; known: --steps/);
  t.throws(() => parseFlags(['--out'], defs), /--out needs a value/);
  let got: unknown = null;
  const cmd: Command = {
    verb: 'train',
    model: 'toy',
    summary: 'a toy',
    flags: { n: 1 },
    help: {},
    async run(f) {
      got = f;
    },
  };
  const sink = {
    text: '',
    write(s: string) {
      this.text += s;
      return true;
    },
  };
  t.equal(await runCli(['train', 'toy', '--n', '5'], [cmd], sink as never, sink as never), 0);
  t.same(got, { n: 5 });
  t.equal(await runCli(['eval', 'toy'], [cmd], sink as never, sink as never), 1);
  t.match(sink.text, /unknown command 'eval toy'/);
});

t.test('JSONL log: resuming drops the records after the checkpoint', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'jsonl-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'log.jsonl');
  const log = new JsonlLog(path, { fresh: true });
  for (let s = 1; s <= 5; s++) log.write({ step: s, loss: 1 / s });
  new JsonlLog(path, { resumeAfter: 3 }).write({ step: 4, loss: 0 });
  t.same(
    readJsonl(path).map((r) => [r.step, r.loss]),
    [
      [1, 1],
      [2, 0.5],
      [3, 1 / 3],
      [4, 0],
    ],
  );
});

t.test('plot, schedules and progress line', async (t) => {
  const recs = Array.from({ length: 50 }, (_, i) => ({ step: i + 1, itc: 5 - i / 20, itm: 0.6 }));
  const svg = lossCurvesSvg(recs, ['itc', 'itm'], { title: 'run <1>' });
  t.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  t.equal((svg.match(/<polyline/g) ?? []).length, 4, 'raw + smoothed line per panel');
  t.match(svg, /run &lt;1&gt;/, 'text is escaped');
  // ALBEF's schedule (models/albef/train.ts): warm-up from 1e-5, then cosine to the floor at totalSteps.
  const schedule = warmupCosine({ warmupInit: 1e-5, warmupSteps: 10, minLr: 1e-5, totalSteps: 110 });
  const lr = (step: number): number => schedule(step, 1e-3);
  t.equal(lr(0), 1e-5);
  t.equal(lr(10), 1e-3);
  t.ok(Math.abs(lr(60) - (1e-5 + 0.5 * (1e-3 - 1e-5))) < 1e-15);
  t.equal(lr(110), 1e-5);
  const a = alphaRamp(0.4, 100);
  t.equal(a(0), 0);
  t.equal(a(50), 0.2);
  t.equal(a(500), 0.4);
  t.equal(formatDuration(3725), '1:02:05');
  t.equal(formatDuration(65), '1:05');
  t.match(
    formatProgress({ step: 5, total: 10, elapsed: 10, stepsDone: 5, samplesPerSecond: 16, losses: { itc: 1.5 } }),
    /^step 5\/10 \[#{10}\.{10}\] 50% \| 0:10 elapsed, ETA 0:10 \| itc 1\.500 \| 16\.0 samples\/s$/,
  );
});

t.test('checkpoints: model, optimizer and RNGs restore exactly; only the newest are kept', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const make = (): { net: Linear; opt: AdamW } => {
    const net = new Linear(3, 2, { rng: new Rng(1) });
    return { net, opt: new AdamW(net.parameters(), { lr: 0.1 }) };
  };
  const step = ({ net, opt }: ReturnType<typeof make>, rng: Rng): void => {
    opt.zeroGrad();
    net
      .forward(randn([4, 3], { rng }))
      .pow(2)
      .mean()
      .backward();
    opt.step();
  };
  const a = make(),
    rng = new Rng(5);
  (a.net as unknown as { rng: Rng }).rng = rng; // a module-held generator, as Dropout has
  for (let s = 1; s <= 4; s++) {
    step(a, rng);
    await saveCheckpoint(dir, a.net, a.opt, { step: s, rngs: rngStates(moduleRngs(a.net)), extra: { note: s } }, 2);
  }
  t.same(await listCheckpoints(dir), [3, 4], 'keep = 2');
  t.same(
    (await readdir(dir)).filter((n) => n.startsWith('.tmp')),
    [],
    'no temporary directory left',
  );
  const ck = await loadCheckpoint((await latestCheckpoint(dir))!);
  const b = make(),
    rngB = new Rng(99);
  (b.net as unknown as { rng: Rng }).rng = rngB;
  b.net.loadStateDict(ck.model);
  b.opt.loadStateDict(ck.optimizer);
  restoreRngs(moduleRngs(b.net), ck.state.rngs);
  t.same(ck.state.extra, { note: 4 });
  step(a, rng);
  step(b, rngB);
  t.same(b.net.weight.toArray(), a.net.weight.toArray(), 'the next step is identical');
  t.throws(() => restoreRngs(new Map(), ck.state.rngs), /does not have/);
});
