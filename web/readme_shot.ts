/**
 * Regenerates the README's picture of the demo (docs/browser_demo.png) and measures the speed
 * it quotes: seconds per ALBEF-tiny step (batch 16) in Node, in Chromium on cpu (WASM) and on
 * webgpu (SwiftShader, the software adapter of a GPU-less machine), with the load average.
 *
 *   npx tsx web/readme_shot.ts [steps=30]
 */
import { loadavg } from 'node:os';
import puppeteer from 'puppeteer-core';
import { setDefaultDevice } from '../engine/index.js';
import { AlbefSession } from '../models/albef/session.js';
import { buildDemo } from './build.js';
import { demoOptions, type TrainSpec } from './protocol.js';
import { startDemoServer } from './serve.js';

const steps = Number(process.argv[2] ?? 30);
const spec: TrainSpec = { device: 'cpu', config: 'albef-tiny', steps, batchSize: 16, trainSize: 2048, seed: 0 };
const TIMED = 5; // steps timed per device, after the first (which compiles kernels and warms caches)
type Demo = {
  demo: Record<string, (...a: unknown[]) => Promise<unknown>> & { state: { steps: { seconds: number }[] } };
};

setDefaultDevice('cpu');
const node = new AlbefSession(demoOptions({ ...spec, steps: TIMED + 1 }, 'cpu'), 'cpu');
await node.step();
const t0 = performance.now();
for (let s = 0; s < TIMED; s++) await node.step();
const nodeSec = (performance.now() - t0) / 1000 / TIMED;

await buildDemo();
const { url, server } = await startDemoServer({ port: 0 });
const browser = await puppeteer.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--enable-unsafe-webgpu'],
});
const perStep = async (device: string, n: number): Promise<number> => {
  const page = await browser.newPage();
  await page.goto(url);
  await page.evaluate((s) => (window as unknown as Demo).demo.start!(s), { ...spec, device, steps: n + 1 });
  await page.evaluate((k) => (window as unknown as Demo).demo.untilStep!(k), n + 1);
  const secs = await page.evaluate(() => (window as unknown as Demo).demo.state.steps.map((s) => s.seconds));
  await page.close();
  return (secs[n]! - secs[0]!) / n;
};
const cpuSec = await perStep('cpu', TIMED),
  gpuSec = await perStep('webgpu', 2);

const page = await browser.newPage();
await page.setViewport({ width: 1150, height: 1000 });
await page.goto(url);
await page.evaluate((s) => (window as unknown as Demo).demo.start!(s), spec);
await page.evaluate((k) => (window as unknown as Demo).demo.untilStep!(k), steps);
await page.click('#usetab');
await page.waitForFunction(
  () => (window as unknown as { demo: { state: { loaded: string | null } } }).demo.state.loaded !== null,
);
const caption = 'a red circle left of a blue square';
const res = (await page.evaluate((c) => (window as unknown as Demo).demo.query!(c, 8), caption)) as {
  hits: { scene: number }[];
};
await page.evaluate((s, c) => (window as unknown as Demo).demo.ground!(s, c), res.hits[0]!.scene, caption);
await page.screenshot({ path: 'docs/browser_demo.png', fullPage: true });
await browser.close();
server.close();
console.log(
  `s/step, ALBEF-tiny batch 16: Node ${nodeSec.toFixed(2)}, Chromium cpu ${cpuSec.toFixed(2)}, Chromium webgpu (SwiftShader) ${gpuSec.toFixed(2)}; ` +
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}; wrote docs/browser_demo.png`,
);
