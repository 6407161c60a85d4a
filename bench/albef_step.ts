/**
 * How long one ALBEF-tiny pre-training step takes (forward with the momentum model, backward, AdamW,
 * EMA and queue update included), per backend and batch size, on random data of the real shapes
 * (32×32 images, 16 tokens, the grammar vocabulary of 70 words). Used to size the default run.
 * Prints wall time and process CPU time (all threads), which a loaded machine distorts less.
 *
 *   npx tsx bench/albef_step.ts [--batch 16,32] [--repeats 3] [--devices cpu,cpu-ref]
 */
import { getBackend, ones, randint, randn, Rng, setDefaultDevice, tensor } from '../engine/index.js';
import { AdamW, paramGroups } from '../nn/optim.js';
import { Albef } from '../models/albef/albef.js';
import { albefTiny } from '../models/albef/config.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const batches = arg('batch', '16,32').split(',').map(Number), repeats = Number(arg('repeats', '3'));
const devices = arg('devices', 'cpu,cpu-ref').split(',');
const V = 70, T = 16;

interface Timing { fwd: number; bwd: number; opt: number; cpu: number }

function stepOnce(model: Albef, opt: AdamW, B: number, rng: Rng): Timing {
  const S = model.config.vision.imageSize;
  const images = randn([B, 3, S, S], { rng }), ids = randint(5, V, [B, T], { rng }), attentionMask = ones([B, T], { dtype: 'int32' });
  const mlmLabels = tensor(Int32Array.from({ length: B * T }, () => (rng.uniform() < 0.15 ? rng.int(5, V) : -100)), { shape: [B, T] });
  const c0 = process.cpuUsage(), t0 = performance.now();
  const out = model.forward({ images, ids, attentionMask, mlmIds: ids, mlmLabels }, { alpha: 0.4 });
  out.total.item();
  const t1 = performance.now();
  opt.zeroGrad();
  out.total.backward();
  const t2 = performance.now();
  opt.step();
  const t3 = performance.now(), c = process.cpuUsage(c0);
  return { fwd: t1 - t0, bwd: t2 - t1, opt: t3 - t2, cpu: (c.user + c.system) / 1000 };
}

console.log(`albef-tiny step times (ms, median of ${repeats} after one warm-up); load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(', ')}`);
console.log('device    batch   forward  backward  adamw   total(wall)  cpu-time  samples/s(wall)');
for (const device of devices) {
  setDefaultDevice(getBackend(device));
  for (const B of batches) {
    const model = new Albef(albefTiny(V), { seed: 0 });
    const opt = new AdamW(paramGroups(model.namedParameters().filter(([, p]) => p.requiresGrad), { weightDecay: 0.02 }), { lr: 1e-4 });
    const rng = new Rng(1), runs: Timing[] = [];
    stepOnce(model, opt, B, rng);
    for (let r = 0; r < repeats; r++) runs.push(stepOnce(model, opt, B, rng));
    const med = (k: keyof Timing): number => runs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
    const total = med('fwd') + med('bwd') + med('opt');
    console.log(`${device.padEnd(8)} ${String(B).padStart(6)} ${med('fwd').toFixed(0).padStart(9)} ${med('bwd').toFixed(0).padStart(9)} ` +
      `${med('opt').toFixed(0).padStart(6)} ${total.toFixed(0).padStart(12)} ${med('cpu').toFixed(0).padStart(9)} ${((1000 * B) / total).toFixed(1).padStart(16)}`);
  }
}
process.exit(0);
