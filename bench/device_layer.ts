/**
 * The TransformerLayer train step of bench/transformer_layer.ts (B8 T64 C256 H4 MLP1024, pre-LN,
 * fused qkv, float32) and a square matmul, timed on any device, the async ones included ('webgpu'
 * returns its results as Promises), next to PyTorch on CUDA when `python3` there has a GPU. Made to
 * measure vlgrad's `webgpu` device on a real GPU (Dawn through Vulkan); on a machine without one it
 * runs on lavapipe or SwiftShader and measures those.
 *
 *   npx tsx bench/device_layer.ts [--devices webgpu,cpu] [--runs 10] [--matmul 512,2048] [--python python3] [--profile]
 *
 * What is timed (wall clock, median of --runs after one warm-up run, which also compiles the gpu.js
 * kernels): `forward` is layer.forward(x).mean() up to `await loss.itemAsync()`; `step` is zeroGrad,
 * forward, backward and `await grad.data()` of the first parameter's gradient (ops run in program
 * order, so that read waits for the whole backward). On the synchronous devices (`cpu`, `cpu-ref`)
 * the step runs inside `tidy`, as training does; on the gpu.js devices the intermediates are left to
 * the step's end like bench/albef_step.ts does. The layer is built on `cpu` from seed 0 and moved with
 * `to(device)`, so every device starts from the same weights. The matmul cell times `matmul(a, b)`
 * then `await c.data()` (the read-back included; GFLOP/s counts 2n^3). Two cells measure the cost of
 * an op itself: a 1024-element add with its read-back (a round trip), and 100 chained adds followed
 * by one read-back, divided by 100 (what each dispatch costs when the arithmetic is negligible). On
 * the gpu.js devices it also prints the kernel launches one layer step makes, and with --profile the
 * time of each kernel in one more step (GpuJsBackend.deviceProfile: each launch waited for).
 *
 * The PyTorch column runs the same layer (bench/torch_layer.ts) with `torch.cuda.synchronize()` around
 * each step; where python3 has no torch or no CUDA it prints why and the run goes on.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { matmul, randn, Rng, setDefaultDevice, tidy, type Backend, type Tensor } from '../engine/index.js';
import { fallbacks, getBackend, isGpuJsDevice, resetFallbacks } from '../kernels/index.js';
import { TransformerLayer } from '../nn/transformer.js';
import type { GpuJsBackend } from '../kernels/gpujs/backend.js';
import { formatKernelTimes, launchesOn, reason, startDevice } from './device_helpers.js';
import { TORCH_LAYER_PY } from './torch_layer.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const devices = arg('devices', 'webgpu,cpu').split(','),
  RUNS = Number(arg('runs', '10')),
  sizes = arg('matmul', '512,2048').split(',').filter(Boolean).map(Number),
  python = arg('python', 'python3'),
  doProfile = process.argv.includes('--profile');
const B = 8,
  T = 64,
  C = 256,
  H = 4,
  MLP = 1024;
const cpuBe = getBackend('cpu');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Median forward and step times (ms) of the layer on `be`. */
async function timeLayer(be: Backend): Promise<{ fwd: number; step: number; launches: number }> {
  setDefaultDevice(cpuBe);
  const rng = new Rng(0);
  const layer = new TransformerLayer({ dim: C, heads: H, mlpDim: MLP, norm: 'pre', eps: 1e-6, fusedQkv: true, rng });
  const xCpu = randn([B, T, C], { rng });
  if (be !== cpuBe) layer.to(be);
  const x = be === cpuBe ? xCpu : xCpu.to(be);
  setDefaultDevice(be);
  const sync = be.device === 'cpu' || be.device === 'cpu-ref';
  const first = layer.parameters()[0];
  const fwd: number[] = [],
    step: number[] = [];
  let launches = 0;
  for (let r = 0; r <= RUNS; r++) {
    layer.zeroGrad();
    const l0 = launchesOn(be);
    const t0 = performance.now();
    let t1 = 0;
    if (sync) {
      tidy(() => {
        const loss = layer.forward(x).mean();
        loss.item();
        t1 = performance.now();
        loss.backward();
      });
      first.grad!.dataSync();
    } else {
      const loss = layer.forward(x).mean();
      await loss.itemAsync();
      t1 = performance.now();
      loss.backward();
      await first.grad!.data();
    }
    const t2 = performance.now();
    launches = launchesOn(be) - l0;
    if (r === 0) continue; // warm-up (compiles the gpu.js kernels)
    fwd.push(t1 - t0);
    step.push(t2 - t0);
  }
  if (doProfile && isGpuJsDevice(be.device)) {
    const { stats } = await (be as GpuJsBackend).deviceProfile(async () => {
      layer.zeroGrad();
      layer.forward(x).mean().backward();
      await first.grad!.data();
    });
    console.log(`\n${be.device}: one layer step, profiled\n${formatKernelTimes(stats)}\n`);
  }
  return { fwd: median(fwd), step: median(step), launches };
}

/** Median ms of `matmul(a, b)` plus its read-back, n x n float32. */
async function timeMatmul(be: Backend, n: number): Promise<number> {
  const rng = new Rng(2);
  const a = randn([n, n], { rng, device: cpuBe }).to(be),
    b = randn([n, n], { rng, device: cpuBe }).to(be);
  const ts: number[] = [];
  for (let r = 0; r <= RUNS; r++) {
    const t0 = performance.now();
    const c: Tensor = matmul(a, b);
    await c.data();
    const t1 = performance.now();
    c.dispose();
    if (r > 0) ts.push(t1 - t0);
  }
  return median(ts);
}

/** Per-op cost on `be`: one small add with its read-back (a round trip), and 100 chained adds then
 * one read-back (ms per op: the dispatch cost when the work itself is negligible). */
async function timeDispatch(be: Backend): Promise<{ roundTrip: number; perOp: number }> {
  const a = randn([1024], { rng: new Rng(3), device: cpuBe }).to(be);
  const trip: number[] = [],
    chain: number[] = [];
  for (let r = 0; r <= RUNS; r++) {
    let t0 = performance.now();
    const c = a.add(a);
    await c.data();
    trip.push(performance.now() - t0);
    c.dispose();
    t0 = performance.now();
    let x = a;
    for (let i = 0; i < 100; i++) {
      const y = x.add(a);
      if (x !== a) x.dispose();
      x = y;
    }
    await x.data();
    chain.push((performance.now() - t0) / 100);
    x.dispose();
  }
  return { roundTrip: median(trip.slice(1)), perOp: median(chain.slice(1)) };
}

const TORCH_CUDA = `
import json, time, torch
import torch.nn as nn, torch.nn.functional as F
B, T, C, H, MLP, RUNS, SIZES = ${B}, ${T}, ${C}, ${H}, ${MLP}, ${RUNS}, ${JSON.stringify(sizes)}
${TORCH_LAYER_PY}
if not torch.cuda.is_available():
    print(json.dumps({"skip": "torch %s has no CUDA device" % torch.__version__})); raise SystemExit
torch.backends.cuda.matmul.allow_tf32 = False  # float32 products, as vlgrad computes them
dev = torch.device("cuda"); torch.manual_seed(0)
layer, x = Layer().to(dev), torch.randn(B, T, C, device=dev)
med = lambda xs: sorted(xs)[len(xs) // 2] * 1e3
fwd, step = [], []
for r in range(RUNS + 1):
    layer.zero_grad(set_to_none=True); torch.cuda.synchronize()
    t0 = time.perf_counter(); loss = layer(x).mean(); loss.item(); t1 = time.perf_counter()
    loss.backward(); torch.cuda.synchronize(); t2 = time.perf_counter()
    if r: fwd.append(t1 - t0); step.append(t2 - t0)
mm = {}
for n in SIZES:
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev); ts = []
    for r in range(RUNS + 1):
        t0 = time.perf_counter(); c = (a @ b).cpu(); t1 = time.perf_counter()
        if r: ts.append(t1 - t0)
    mm[n] = med(ts)
print(json.dumps({"version": torch.__version__, "gpu": torch.cuda.get_device_name(0), "fwd": med(fwd), "step": med(step), "mm": mm}))
`;

console.log(
  `device_layer: TransformerLayer B${B} T${T} C${C} H${H} MLP${MLP} float32 train step, median of ${RUNS} after 1 warm-up; ` +
    `${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}); load average ${loadavg()[0].toFixed(2)}`,
);
const head = `| implementation | forward | fwd+bwd step | ${sizes.map((n) => `matmul ${n} (+read-back)`).join(' | ')} | add [1024] + read-back | per add, 100 chained |`;
const rows: string[] = [];
for (const device of devices) {
  let be: Backend;
  try {
    be = await startDevice(device);
  } catch (e) {
    rows.push(`| vlgrad ${device} | not available: ${reason(e)} |`);
    continue;
  }
  const what = `vlgrad ${device}${isGpuJsDevice(device) ? ` (${(be as { description?: string }).description ?? 'gpu.js'})` : ''}`;
  try {
    if (isGpuJsDevice(device)) resetFallbacks();
    const layer = await timeLayer(be);
    const mm: string[] = [];
    for (const n of sizes) {
      const ms = await timeMatmul(be, n);
      mm.push(`${ms.toFixed(2)} ms = ${((2 * n ** 3) / ms / 1e6).toFixed(1)} GFLOP/s`);
    }
    const d = await timeDispatch(be);
    rows.push(
      `| ${what} | ${layer.fwd.toFixed(2)} ms | ${layer.step.toFixed(2)} ms | ${mm.join(' | ')} | ` +
        `${d.roundTrip.toFixed(3)} ms | ${d.perOp.toFixed(3)} ms |`,
    );
    if (isGpuJsDevice(device)) {
      console.log(`${device} fallbacks (Backend calls run on the CPU): ${JSON.stringify(fallbacks())}`);
      console.log(
        `${device}: ${layer.launches} kernel launches a layer step (${(layer.step / layer.launches).toFixed(3)} ms a launch)`,
      );
    }
  } catch (e) {
    rows.push(`| ${what} | failed: ${reason(e)} |`);
  }
  console.log(`${device} done; load average ${loadavg()[0].toFixed(2)}`);
}
const res = spawnSync(python, ['-c', TORCH_CUDA], { encoding: 'utf8', timeout: 300_000 });
if (res.error || res.status !== 0)
  rows.push(
    `| PyTorch CUDA | skipped: ${res.error?.message ?? (res.stderr.trim().split('\n').pop() ?? '').slice(0, 160)} |`,
  );
else {
  const t = JSON.parse(res.stdout.trim().split('\n').pop()!);
  if (t.skip) rows.push(`| PyTorch CUDA | skipped: ${t.skip} |`);
  else {
    const mm = sizes.map((n) => `${t.mm[n].toFixed(2)} ms = ${((2 * n ** 3) / t.mm[n] / 1e6).toFixed(1)} GFLOP/s`);
    rows.push(
      `| PyTorch ${t.version} CUDA (${t.gpu}, tf32 off) | ${t.fwd.toFixed(2)} ms | ${t.step.toFixed(2)} ms | ${mm.join(' | ')} |`,
    );
  }
}
console.log(`\n${head}\n|---|---|---|${sizes.map(() => '---|').join('')}---|---|\n${rows.join('\n')}`);
process.exit(0);
