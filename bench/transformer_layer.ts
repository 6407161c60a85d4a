// How long does one TransformerLayer take, forward + backward? Batch 8, sequence 64, width 256,
// 4 heads, MLP 1024, pre-LN, float32 (a ViT/VLMo-shaped layer at toy width), on the default
// backend, next to PyTorch on this machine with 1 and 2 threads when /usr/bin/python3 has torch, and
// jax-js's jit-compiled train step of the same layer (bench/jax_layer.ts; forward alone not timed).
//
//   npx tsx bench/transformer_layer.ts [--runs 5]      # the table in docs/nn.md
//
// Each cell is the median of timed runs after one warm-up run. Wall time on a shared 2-core box
// includes other processes' load, so each process's CPU time is printed too (summed over threads).
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { boxSpeedLine } from './box_speed.js';
import { defaultBackend, randn, Rng, tidy } from '../engine/index.js';
import { TransformerLayer } from '../nn/transformer.js';
import { threads } from '../kernels/wasm/index.js';
import { jaxLayerStep } from './jax_layer.js';
import { TORCH_LAYER_PY } from './torch_layer.js';

const B = 8,
  T = 64,
  C = 256,
  H = 4,
  MLP = 1024;
const runsAt = process.argv.indexOf('--runs');
const RUNS = runsAt >= 0 ? Number(process.argv[runsAt + 1]) : 5;

/** Medians in ms; `load` is the 1-minute load average when the cell finished. */
interface Timing {
  fwd: number;
  fwdBwd: number;
  cpu: number;
  load?: number;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function timeOurs(): Timing {
  const rng = new Rng(0);
  const layer = new TransformerLayer({ dim: C, heads: H, mlpDim: MLP, norm: 'pre', eps: 1e-6, fusedQkv: true, rng });
  const x = randn([B, T, C], { rng });
  const fwd: number[] = [],
    both: number[] = [],
    cpu: number[] = [];
  for (let r = 0; r <= RUNS; r++) {
    layer.zeroGrad();
    const c0 = process.cpuUsage(),
      t0 = performance.now();
    let t1 = 0;
    // Inside `tidy`, as vlgrad's training steps run: the step's intermediates are released when it
    // ends (PyTorch frees them by reference count), so their buffers serve the next step.
    tidy(() => {
      const y = layer.forward(x);
      t1 = performance.now();
      y.mean().backward();
    });
    layer.parameters()[0].grad!.dataSync(); // make sure the work is done on any backend
    const t2 = performance.now(),
      c = process.cpuUsage(c0);
    if (r === 0) continue; // warm-up
    fwd.push(t1 - t0);
    both.push(t2 - t0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { fwd: median(fwd), fwdBwd: median(both), cpu: median(cpu), load: loadavg()[0] };
}

const TORCH_SCRIPT = `
import json, sys, time, torch
import torch.nn as nn, torch.nn.functional as F
B, T, C, H, MLP, RUNS = ${B}, ${T}, ${C}, ${H}, ${MLP}, ${RUNS}
${TORCH_LAYER_PY}
out = {}
for threads in (1, 2):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layer, x = Layer(), torch.randn(B, T, C)
    fwd, both, cpu = [], [], []
    for r in range(RUNS + 1):
        layer.zero_grad(set_to_none=True)
        c0 = time.process_time(); t0 = time.perf_counter(); y = layer(x); t1 = time.perf_counter()
        y.mean().backward(); t2 = time.perf_counter(); c = time.process_time() - c0
        if r: fwd.append(t1 - t0); both.append(t2 - t0); cpu.append(c)
    med = lambda xs: sorted(xs)[len(xs) // 2] * 1e3
    out[threads] = {"fwd": med(fwd), "fwdBwd": med(both), "cpu": med(cpu)}
print(json.dumps({"version": torch.__version__, "timings": out}))
`;

function timeTorch(): { version: string; timings: Record<string, Timing> } | string {
  const res = spawnSync('/usr/bin/python3', ['-c', TORCH_SCRIPT], { encoding: 'utf8', timeout: 300_000 });
  if (res.error) return `skipped: could not run /usr/bin/python3 (${res.error.message})`;
  if (res.status !== 0)
    return `skipped: PyTorch unavailable (${(res.stderr.trim().split('\n').pop() ?? '').slice(0, 120)})`;
  return JSON.parse(res.stdout.trim().split('\n').pop()!);
}

const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
console.log(
  `TransformerLayer forward+backward: batch ${B}, seq ${T}, width ${C}, ${H} heads, MLP ${MLP}, pre-LN, float32; ` +
    `median of ${RUNS} runs after 1 warm-up; load average ${loadavg()[0].toFixed(2)} on this machine`,
);
console.log(`${await boxSpeedLine()}\n`);
const ours = timeOurs();
console.log(
  '| implementation | threads | forward (wall) | forward + backward (wall) | forward + backward (CPU time) | load avg (1 min) |',
);
console.log('|---|---|---|---|---|---|');
const load = (tm: Timing) => tm.load?.toFixed(2) ?? '?';
console.log(
  `| vlgrad (${defaultBackend().device} backend) | ${threads()} | ${fmt(ours.fwd)} | ${fmt(ours.fwdBwd)} | ${fmt(ours.cpu)} | ${load(ours)} |`,
);
/** jax-js's train step (value and gradients in one jit-compiled call), or why it did not run. */
async function timeJax(): Promise<{ name: string; timing: Timing } | string> {
  try {
    const step = await jaxLayerStep(B, T, C, H, MLP);
    const both: number[] = [],
      cpu: number[] = [];
    for (let r = 0; r <= RUNS; r++) {
      const c0 = process.cpuUsage(),
        t0 = performance.now();
      step.run();
      const t1 = performance.now(),
        c = process.cpuUsage(c0);
      if (r === 0) continue; // warm-up (the jit compile)
      both.push(t1 - t0);
      cpu.push((c.user + c.system) / 1000);
    }
    step.dispose();
    const timing = { fwd: NaN, fwdBwd: median(both), cpu: median(cpu), load: loadavg()[0] };
    return { name: `jax-js ${step.version} (${step.device}, jit valueAndGrad)`, timing };
  } catch (e) {
    return `skipped: ${String((e as Error).message)
      .split('\n')[0]!
      .slice(0, 120)}`;
  }
}
const jax = await timeJax();
if (typeof jax === 'string') console.log(`| jax-js | - | ${jax} | | | |`);
else console.log(`| ${jax.name} | 1 | – | ${fmt(jax.timing.fwdBwd)} | ${fmt(jax.timing.cpu)} | ${load(jax.timing)} |`);
const torch = timeTorch();
if (typeof torch === 'string') {
  console.log(`| PyTorch | - | ${torch} | | | |`);
} else {
  const blas = `, OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? 'unset'}`;
  const at = loadavg()[0]; // the Python run's cells finish together
  for (const [n, tm] of Object.entries(torch.timings)) {
    console.log(
      `| PyTorch ${torch.version}${blas} | ${n} | ${fmt(tm.fwd)} | ${fmt(tm.fwdBwd)} | ${fmt(tm.cpu)} | ${at.toFixed(2)} |`,
    );
  }
}
