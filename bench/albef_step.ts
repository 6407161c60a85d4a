/**
 * How long one ALBEF-tiny pre-training step takes (forward with the momentum model, backward, AdamW,
 * EMA and queue update included), per backend and batch size, on random data of the real shapes
 * (32×32 images, 16 tokens, the grammar vocabulary of 70 words). Used to size the default run.
 * Prints wall time and process CPU time (all threads, lavapipe's included), which a loaded machine
 * distorts less.
 *
 *   npx tsx bench/albef_step.ts [--batch 16,32] [--repeats 3] [--devices cpu,cpu-ref,webasm,gpujs-cpu,webgpu] [--profile]
 *
 * Every device gets the same model and data: the model is built on `cpu` from seed 0 and moved with
 * `model.to(device)`; each batch is drawn on `cpu` from one Rng(1) and moved (outside the timed
 * part). The gpu.js devices (webasm, gpujs-cpu, webgpu) are started with `await initBackend(name)`;
 * webgpu without a GPU needs lavapipe (scripts/install_lavapipe.sh). A device that cannot start, or
 * whose step throws, prints a row "not available: <reason>" and the run goes on.
 *
 * What is timed (wall clock, median of --repeats steps after one warm-up step, which also compiles
 * the gpu.js kernels):
 *   forward  model.forward(...) up to `await loss.itemAsync()`: the loss is read back, so on an async
 *            device (webgpu) this covers the device work of the forward, not only its enqueueing;
 *   backward opt.zeroGrad() + loss.backward() (on webgpu: enqueueing only);
 *   adamw    opt.step() (on webgpu: enqueueing only);
 *   wait     `await p.data()` of the last parameter AdamW updates: on webgpu the wait for the queued
 *            backward and AdamW to finish (ops run in program order); on the other devices ~0;
 *   total    the sum of the four, i.e. one whole step including every device wait.
 * On `cpu` and `cpu-ref` (synchronous reads) the step runs inside one `tidy` scope, as `albefStep`
 * trains, so its intermediates return to the buffer pool; the forward then ends with `item()`.
 * After the steps the gpu.js devices print `fallbacks()` (Backend calls that ran on the CPU instead
 * of a kernel, over the warm-up and timed steps; the target is {}) and the kernel launches a step makes;
 * with --profile, the time of each kernel in one more step (GpuJsBackend.deviceProfile).
 */
import { loadavg } from 'node:os';
import { boxSpeedLine } from './box_speed.js';
import {
  ones,
  randint,
  randn,
  Rng,
  setDefaultDevice,
  tensor,
  tidy,
  type Backend,
  type Tensor,
} from '../engine/index.js';
import { fallbacks, getBackend, isGpuJsDevice, resetFallbacks } from '../kernels/index.js';
import type { GpuJsBackend } from '../kernels/gpujs/backend.js';
import { AdamW, paramGroups } from '../nn/optim.js';
import { formatKernelTimes, launchesOn, reason, startDevice } from './device_helpers.js';
import { Albef } from '../models/albef/albef.js';
import { albefTiny } from '../models/albef/config.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const batches = arg('batch', '16,32').split(',').map(Number),
  repeats = Number(arg('repeats', '3'));
const devices = arg('devices', 'cpu,cpu-ref').split(',');
const V = 70,
  T = 16;
const cpuBe = getBackend('cpu');

interface Timing {
  fwd: number;
  bwd: number;
  opt: number;
  wait: number;
  cpu: number;
}

async function stepOnce(model: Albef, opt: AdamW, B: number, rng: Rng, be: Backend): Promise<Timing> {
  const S = model.config.vision.imageSize;
  // Drawn on the CPU (the same numbers for every device), then moved: not timed.
  const images = randn([B, 3, S, S], { rng, device: cpuBe }).to(be),
    ids = randint(5, V, [B, T], { rng, device: cpuBe }).to(be);
  const attentionMask = ones([B, T], { dtype: 'int32', device: be });
  const mlmLabels = tensor(
    Int32Array.from({ length: B * T }, () => (rng.uniform() < 0.15 ? rng.int(5, V) : -100)),
    { shape: [B, T], device: be },
  );
  const inputs = { images, ids, attentionMask, mlmIds: ids, mlmLabels };
  if (SYNC_DEVICES.has(be.device)) return tidy(() => syncStep(model, opt, inputs));
  const c0 = process.cpuUsage(),
    t0 = performance.now();
  const out = model.forward(inputs, { alpha: 0.4 });
  await out.total.itemAsync();
  const t1 = performance.now();
  opt.zeroGrad();
  out.total.backward();
  const t2 = performance.now();
  opt.step();
  const t3 = performance.now();
  await lastUpdated(opt).data();
  const t4 = performance.now(),
    c = process.cpuUsage(c0);
  return { fwd: t1 - t0, bwd: t2 - t1, opt: t3 - t2, wait: t4 - t3, cpu: (c.user + c.system) / 1000 };
}

/** Devices with synchronous reads: their step runs inside one tidy scope, as `albefStep` trains. */
const SYNC_DEVICES = new Set(['cpu', 'cpu-ref']);

/** The same step on a synchronous device, inside the caller's tidy scope (intermediates disposed at its end). */
function syncStep(model: Albef, opt: AdamW, inputs: Parameters<Albef['forward']>[0]): Timing {
  const c0 = process.cpuUsage(),
    t0 = performance.now();
  const out = model.forward(inputs, { alpha: 0.4 });
  out.total.item();
  const t1 = performance.now();
  opt.zeroGrad();
  out.total.backward();
  const t2 = performance.now();
  opt.step();
  const t3 = performance.now(),
    c = process.cpuUsage(c0);
  return { fwd: t1 - t0, bwd: t2 - t1, opt: t3 - t2, wait: 0, cpu: (c.user + c.system) / 1000 };
}

/** The last parameter step() updated (it skips those without a gradient). */
function lastUpdated(opt: AdamW): Tensor {
  const ps = opt.paramGroups.flatMap((g) => g.params).filter((p) => p.grad !== null);
  if (!ps.length) throw new Error('no parameter has a gradient');
  return ps[ps.length - 1];
}

console.log(
  `albef-tiny step times (ms, median of ${repeats} after one warm-up); load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(', ')}`,
);
console.log(await boxSpeedLine());
console.log('device    batch   forward  backward  adamw   wait  total(wall)  cpu-time  samples/s(wall)');
for (const device of devices) {
  let be: Backend;
  try {
    be = await startDevice(device);
  } catch (e) {
    console.log(`${device.padEnd(9)} not available: ${reason(e)}`);
    continue;
  }
  for (const B of batches) {
    try {
      setDefaultDevice(cpuBe);
      const model = new Albef(albefTiny(V), { seed: 0 }); // identical init on every device
      if (be !== cpuBe) model.to(be);
      setDefaultDevice(be);
      const groups = paramGroups(
        model.namedParameters().filter(([, p]) => p.requiresGrad),
        { weightDecay: 0.02 },
      );
      const opt = new AdamW(groups, { lr: 1e-4 }); // after the move
      const rng = new Rng(1),
        runs: Timing[] = [];
      if (isGpuJsDevice(device)) resetFallbacks();
      await stepOnce(model, opt, B, rng, be);
      const l0 = launchesOn(be);
      for (let r = 0; r < repeats; r++) runs.push(await stepOnce(model, opt, B, rng, be));
      const launches = (launchesOn(be) - l0) / repeats;
      if (process.argv.includes('--profile') && isGpuJsDevice(device)) {
        const { stats } = await (be as GpuJsBackend).deviceProfile(() => stepOnce(model, opt, B, rng, be));
        console.log(`\n${device} batch ${B}: one step, profiled\n${formatKernelTimes(stats)}\n`);
      }
      const med = (k: keyof Timing): number => runs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
      const total = med('fwd') + med('bwd') + med('opt') + med('wait');
      console.log(
        `${device.padEnd(9)} ${String(B).padStart(5)} ${med('fwd').toFixed(0).padStart(9)} ${med('bwd').toFixed(0).padStart(9)} ` +
          `${med('opt').toFixed(0).padStart(6)} ${med('wait').toFixed(0).padStart(6)} ${total.toFixed(0).padStart(12)} ${med('cpu').toFixed(0).padStart(9)} ` +
          `${((1000 * B) / total).toFixed(1).padStart(16)}` +
          (isGpuJsDevice(device)
            ? `  fallbacks ${JSON.stringify(fallbacks())}, ${launches} kernel launches a step`
            : ''),
      );
    } catch (e) {
      console.log(
        `${device.padEnd(9)} ${String(B).padStart(5)} not available: the step failed: ${reason(e)}` +
          (isGpuJsDevice(device) ? `  (fallbacks so far ${JSON.stringify(fallbacks())})` : ''),
      );
    }
  }
}
process.exit(0);
