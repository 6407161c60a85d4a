/**
 * The demo page in a real browser: Debian's Chromium driven by puppeteer-core (with
 * --enable-unsafe-webgpu, which gives a SwiftShader WebGPU adapter on a machine without a GPU).
 * The page trains ALBEF-tiny a few steps on webgpu and on cpu (WASM, worker threads), and the losses
 * must fall and equal Node's for the same seed; then it loads a small checkpoint and must rank the
 * gallery for a caption and ground a scene exactly as Node does. A screenshot is kept in
 * $VLGRAD_ARTIFACTS (default test/browser/out/). Without Chromium the test skips with the reason,
 * except under CI=true, where that is a failure (.ci/run installs it).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { setDefaultDevice } from '../../engine/index.js';
import { AlbefSession } from '../../models/albef/session.js';
import { toRecords } from '../../models/common/records.js';
import { serialize } from '../../nn/safetensors.js';
import { buildDemo } from '../../web/build.js';
import { demoOptions, type TrainSpec } from '../../web/protocol.js';
import { groundScene, loadCheckpoint, topScenes } from '../../web/retrieve.js';
import { startDemoServer } from '../../web/serve.js';
import { cases, deepAdds } from '../helpers/deep.js';

const CHROMIUM = process.env.VLGRAD_CHROMIUM ?? '/usr/bin/chromium';
// Two steps of batch 4 show the loss falling and the first AdamW update matching Node's through every kernel of
// an ALBEF step; deep mode's third step repeats the same kernels with accumulated moments (which
// conformance_train.test.ts checks for 40 steps on webgpu), and its batch of 8 the same maths on more rows.
const SPEC: TrainSpec = {
  device: 'cpu',
  config: 'albef-tiny',
  steps: cases(2, 3),
  batchSize: cases(4, 8),
  trainSize: 256,
  seed: 0,
};
const CAPTION = 'a red circle left of a blue square';
/** Relative tolerance on a step's total loss: the same float32 math, summed in other orders on webgpu. */
const LOSS_RTOL = 1e-3;
const ARTIFACTS = process.env.VLGRAD_ARTIFACTS ?? join(import.meta.dirname, 'out');

// Minimal view of the page's `window.demo` (web/main.ts).
interface PageStep {
  step: number;
  losses: Record<string, number>;
  seconds: number;
}
interface Ready {
  device: string;
  description: string;
  threads: number;
  crossOriginIsolated: boolean;
}

if (!existsSync(CHROMIUM)) {
  const why = `no Chromium at ${CHROMIUM} (install Debian's chromium, as .ci/run does, or set VLGRAD_CHROMIUM)`;
  if (process.env.CI === 'true') t.fail(`browser test cannot run under CI=true: ${why}`);
  else {
    console.log(`# skipping the browser test: ${why}`);
    t.test('browser test', { skip: why }, async () => {});
  }
} else {
  deepAdds('a third training step (a second AdamW update) at batch 8 instead of 4, on each device in the browser');
  await run();
}

async function run(): Promise<void> {
  const { default: puppeteer } = await import('puppeteer-core');
  // Node's reference run: the same options, seed and steps on cpu, and the checkpoint the page will load.
  setDefaultDevice('cpu');
  const session = new AlbefSession(demoOptions(SPEC, 'cpu'), 'cpu');
  const nodeLoss: number[] = [];
  for (let s = 0; s < SPEC.steps; s++) nodeLoss.push((await session.step()).losses.total!);
  const dir = await mkdtemp(join(tmpdir(), 'vlgrad-page-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const run = { model: join(dir, 'model.safetensors'), runJson: join(dir, 'run.json') };
  const bytes = serialize(toRecords(session.setup.model.stateDict()));
  const runJson = JSON.stringify(session.setup.info);
  await writeFile(run.model, bytes);
  await writeFile(run.runJson, runJson);
  const loaded = loadCheckpoint(bytes, runJson),
    nodeTop = topScenes(loaded, CAPTION, 5);
  const nodeGround = groundScene(loaded, nodeTop[0]!.scene, CAPTION);

  await buildDemo();
  const { url, server } = await startDemoServer({ port: 0, run });
  t.teardown(() => new Promise<void>((ok) => server.close(() => ok())));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--enable-unsafe-webgpu'],
  });
  t.teardown(() => browser.close());

  const openPage = async () => {
    const page = await browser.newPage();
    await page.setViewport({ width: 1150, height: 1000 });
    page.on('pageerror', (e) => t.comment(`page error: ${(e as Error).message}`));
    await page.goto(url);
    return page;
  };

  for (const device of ['cpu', 'webgpu'] as const) {
    await t.test(`the page trains ${SPEC.steps} steps on ${device}: the loss falls and equals Node's`, async (t) => {
      const page = await openPage();
      t.teardown(() => page.close());
      const ready = await page.evaluate(
        (spec) => (window as unknown as { demo: { start(s: unknown): Promise<Ready> } }).demo.start(spec),
        { ...SPEC, device },
      );
      t.equal(ready.device, device, `the page says it trains on ${device} (${ready.description})`);
      t.ok(ready.crossOriginIsolated, 'the server made the page cross-origin isolated (COOP/COEP)');
      if (device === 'cpu') t.ok(ready.threads >= 1, `WASM GEMM on ${ready.threads} thread(s)`);
      await page.evaluate(
        (n) => (window as unknown as { demo: { untilStep(n: number): Promise<void> } }).demo.untilStep(n),
        SPEC.steps,
      );
      const steps = await page.evaluate(
        () => (window as unknown as { demo: { state: { steps: PageStep[]; errors: string[] } } }).demo.state,
      );
      t.same(steps.errors, [], 'no errors');
      const loss = steps.steps.map((s) => s.losses.total!);
      t.equal(loss.length, SPEC.steps);
      t.ok(loss[loss.length - 1]! < loss[0]!, `loss falls: ${loss.map((l) => l.toFixed(4)).join(' -> ')}`);
      loss.forEach((l, i) => {
        const rel = Math.abs(l - nodeLoss[i]!) / Math.abs(nodeLoss[i]!);
        t.ok(
          rel < LOSS_RTOL,
          `step ${i + 1}: browser ${l.toFixed(6)} vs Node ${nodeLoss[i]!.toFixed(6)} (rel ${rel.toExponential(1)})`,
        );
      });
      const took = steps.steps.map((s, i) => s.seconds - (i > 0 ? steps.steps[i - 1]!.seconds : 0));
      t.comment(`${device}: steps took ${took.map((s) => s.toFixed(2)).join(', ')} s in the browser`);
    });
  }

  await t.test('the page loads a checkpoint, retrieves and grounds as Node does', async (t) => {
    const page = await openPage();
    t.teardown(() => page.close());
    type Demo = {
      demo: {
        loadUrl(u: string): Promise<string>;
        query(c: string, k: number): Promise<{ hits: { scene: number; score: number }[] }>;
        ground(s: number, c: string): Promise<{ itmProb: number }>;
      };
    };
    t.equal(await page.evaluate(() => (window as unknown as Demo).demo.loadUrl('/run')), 'albef-tiny');
    const res = await page.evaluate((c) => (window as unknown as Demo).demo.query(c, 5), CAPTION);
    t.same(
      res.hits.map((h) => h.scene),
      nodeTop.map((h) => h.scene),
      'the same top-5 scenes, in the same order',
    );
    res.hits.forEach((h, i) =>
      t.ok(
        Math.abs(h.score - nodeTop[i]!.score) < 1e-4,
        `score ${h.score.toFixed(5)} vs Node ${nodeTop[i]!.score.toFixed(5)}`,
      ),
    );
    const g = await page.evaluate((s, c) => (window as unknown as Demo).demo.ground(s, c), nodeTop[0]!.scene, CAPTION);
    t.ok(
      Math.abs(g.itmProb - nodeGround.itmProb) < 1e-4,
      `grounding ITM p(match) ${g.itmProb.toFixed(5)} vs Node ${nodeGround.itmProb.toFixed(5)}`,
    );
    t.ok(
      await page.$eval(
        '#grounding img',
        (img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0,
      ),
      'the grounding map is drawn',
    );
    await mkdir(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'demo.png');
    await page.screenshot({ path: shot as `${string}.png`, fullPage: true });
    t.comment(`screenshot: ${shot}`);
  });
}
