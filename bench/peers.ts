// vlgrad next to its peers, in one run: matmul (128, 256, 512, 1024, float32), softmax and layerNorm
// (last dim, [64,256] and [512,1024]), and one TransformerLayer forward+backward (batch 8, seq 64,
// width 256, 4 heads, MLP 1024, pre-LN). Implementations: every vlgrad device, TensorFlow.js (cpu and
// wasm backends), js-pytorch, jax-js (the layer's jit-compiled train step only; bench/jax_layer.ts),
// and PyTorch through /usr/bin/python3 with 1 and 2 threads.
//
//   cd bench && npm install --ignore-scripts      # the peers; kept out of vlgrad's own package.json
//   npx tsx bench/peers.ts                        # from the repo root; prints a markdown table
//
// Each cell: one warm-up call, then the median of N timed calls, N = clamp(8 s / warm-up time, 3, 7).
// Every JS implementation reads its result back to host memory inside the timed call (dataSync /
// await data()) and frees what the call made, as its docs say to: tfjs in `tf.tidy`, vlgrad in
// `tidy` on its synchronous devices and by `dispose()` after the read on the gpu.js ones (a
// result left to the garbage collector keeps its wasm-heap block until a collection, so every
// call would write fresh pages: 2-3 ms a MiB in page faults on the VMs measured). js-pytorch has
// no such API; PyTorch frees by reference count, and its tensors are already in host memory.
// A peer that cannot load is skipped with its reason; a cell that would take more than ~20 s is
// skipped with an estimate.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { getBackend, layerNorm, matmul, noGrad, ones, randn, Rng, tidy, zeros, type Tensor } from '../engine/index.js';
import { initBackend } from '../kernels/index.js';
import { TransformerLayer } from '../nn/transformer.js';
import { jaxLayerStep, type JaxLayerStep } from './jax_layer.js';
import { torchPeersPy } from './torch_layer.js';

// Peers resolve from bench/node_modules, not from the library's own dependencies.
const requirePeer = createRequire(new URL('./package.json', import.meta.url));

const B = 8,
  T = 64,
  C = 256,
  H = 4,
  MLP = 1024,
  D = C / H;
const MATMUL_SIZES = [128, 256, 512, 1024];
const ROW_SHAPES: [number, number][] = [
  [64, 256],
  [512, 1024],
];
const CELL_BUDGET_MS = 8000,
  MAX_CELL_MS = 20000;

type Fn = () => unknown;
/** One timed cell; `load` is the 1-minute load average when it was recorded (timings on a loaded box inflate). */
interface Cell {
  ms: number;
  runs: number;
  load?: number;
}
type Result = Cell | string; // a string is the reason a cell was skipped
const results = new Map<string, Map<string, Result>>(); // workload -> implementation -> result
const impls: string[] = [];
const notes: string[] = [];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};

async function timeCell(fn: Fn): Promise<Cell> {
  const t0 = performance.now();
  await fn();
  const warm = performance.now() - t0;
  const n = Math.min(7, Math.max(3, Math.floor(CELL_BUDGET_MS / Math.max(warm, 1e-3))));
  if (warm * n > MAX_CELL_MS) return { ms: warm, runs: 0, load: loadavg()[0] }; // too slow to repeat: report the one call
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await fn();
    ts.push(performance.now() - s);
  }
  return { ms: median(ts), runs: n, load: loadavg()[0] };
}

function record(workload: string, impl: string, r: Result): void {
  if (typeof r !== 'string' && r.load === undefined) r = { ...r, load: loadavg()[0] }; // cells timed in Python
  if (!impls.includes(impl)) impls.push(impl);
  if (!results.has(workload)) results.set(workload, new Map());
  results.get(workload)!.set(impl, r);
  const text =
    typeof r === 'string' ? `skipped: ${r}` : `${fmt(r.ms)} (${r.runs ? `median of ${r.runs}` : 'single call'})`;
  process.stderr.write(`  ${workload} | ${impl}: ${text}\n`);
}

async function cell(workload: string, impl: string, make: () => Fn | string): Promise<void> {
  try {
    const fn = make();
    record(workload, impl, typeof fn === 'string' ? fn : await timeCell(fn));
  } catch (e) {
    record(
      workload,
      impl,
      `error: ${String((e as Error).message ?? e)
        .split('\n')[0]
        .slice(0, 100)}`,
    );
  }
}

const fmt = (ms: number): string =>
  ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 10 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`;
const W = {
  matmul: (n: number) => `matmul ${n}x${n} @ ${n}x${n}`,
  softmax: (s: [number, number]) => `softmax [${s}]`,
  layerNorm: (s: [number, number]) => `layerNorm [${s}] (affine)`,
  layer: `TransformerLayer fwd+bwd [${B},${T},${C}]`,
};
/** A transformer layer fwd+bwd is about 9.4× the flops of a 512 matmul (2.5 GFLOP vs 0.27 GFLOP). */
function layerEstimate(impl: string): string | null {
  const m = results.get(W.matmul(512))?.get(impl);
  if (m === undefined || typeof m === 'string') return null;
  const est = 9.4 * m.ms * 4; // warm-up + 3 runs
  return est > MAX_CELL_MS
    ? `estimated ${(est / 1000).toFixed(0)} s for the cell (9.4 × its 512 matmul × 4 calls)`
    : null;
}

// ---------------------------------------------------------------- vlgrad
const GPUJS_SMALL_ONLY =
  'gpu.js device: only matmul 128/256 and the [64,256] rows are run (larger sizes take far longer than 20 s)';
async function benchVlgrad(device: string): Promise<void> {
  const impl = `vlgrad ${device}`;
  const gpujs = device === 'webasm' || device === 'gpujs-cpu' || device === 'webgpu';
  if (gpujs) {
    try {
      await Promise.race([
        initBackend(device as 'webasm'),
        new Promise((_, rej) => setTimeout(() => rej(new Error('initBackend timed out after 60 s')), 60_000).unref()),
      ]);
    } catch (e) {
      const why = `could not start: ${String((e as Error).message)
        .split('\n')[0]
        .slice(0, 120)}`;
      for (const w of allWorkloads()) record(w, impl, why);
      return;
    }
  }
  const be = getBackend(device);
  const rng = new Rng(0);
  const f32 = (...shape: number[]): Tensor => randn(shape, { rng }).to(be);
  // One call: make the result and free everything the call made. The gpu.js devices read it back
  // (their work finishes only then); cpu and cpu-ref compute eagerly, so, like the PyTorch and
  // js-pytorch cells, they do not copy it out: a 1-2 MiB read-back into a new array timed the
  // allocator and first-touch page faults of a young process more than the op (RESULTS, session 14).
  const run = (make: () => Tensor): (() => void | Promise<void>) =>
    gpujs
      ? async () => {
          const t = make();
          await t.data();
          t.dispose();
        }
      : () => {
          tidy(() => {
            make();
          });
        };
  for (const n of MATMUL_SIZES) {
    await cell(W.matmul(n), impl, () => {
      if (gpujs && n > 256) return GPUJS_SMALL_ONLY;
      const a = f32(n, n),
        b = f32(n, n);
      return run(() => noGrad(() => matmul(a, b)));
    });
  }
  for (const s of ROW_SHAPES) {
    const small = s[0] * s[1] <= 64 * 256;
    await cell(W.softmax(s), impl, () => {
      if (gpujs && !small) return GPUJS_SMALL_ONLY;
      const x = f32(...s);
      return run(() => noGrad(() => x.softmax(-1)));
    });
    await cell(W.layerNorm(s), impl, () => {
      if (gpujs && !small) return GPUJS_SMALL_ONLY;
      const x = f32(...s),
        w = ones([s[1]]).to(be),
        b = zeros([s[1]]).to(be);
      return run(() => noGrad(() => layerNorm(x, [s[1]], w, b, 1e-5)));
    });
  }
  await cell(W.layer, impl, () => {
    if (gpujs) return 'gpu.js device: the layer takes far longer than 20 s here';
    const est = layerEstimate(impl);
    if (est) return est;
    const layer = new TransformerLayer({ dim: C, heads: H, mlpDim: MLP, norm: 'pre', eps: 1e-6, fusedQkv: true, rng });
    layer.to(be);
    const x = f32(B, T, C);
    // As the models train: the step inside `tidy`, so its intermediates are freed at its end.
    return () => {
      tidy(() => {
        layer.zeroGrad();
        layer.forward(x).mean().backward();
        layer.parameters()[0].grad!.dataSync();
      });
    };
  });
}

function allWorkloads(): string[] {
  return [...MATMUL_SIZES.map(W.matmul), ...ROW_SHAPES.flatMap((s) => [W.softmax(s), W.layerNorm(s)]), W.layer];
}

// ---------------------------------------------------------------- TensorFlow.js
type Any = any; // tfjs and js-pytorch are typed loosely: they are not dependencies of the library
async function benchTfjs(backend: 'cpu' | 'wasm'): Promise<void> {
  const impl = `tfjs ${backend}`;
  let tf: Any;
  try {
    tf = requirePeer('@tensorflow/tfjs'); // the union package: tfjs-core plus its gradients (tfjs-core alone registers none)
    requirePeer(backend === 'cpu' ? '@tensorflow/tfjs-backend-cpu' : '@tensorflow/tfjs-backend-wasm');
    if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend('${backend}') returned false`);
    await tf.ready();
  } catch (e) {
    const why = `tfjs ${backend} did not load: ${String((e as Error).message)
      .split('\n')[0]
      .slice(0, 120)}`;
    for (const w of allWorkloads()) record(w, impl, why);
    return;
  }
  const version = (tf.version_core as string) ?? '?';
  notes.push(
    `tfjs ${backend}: @tensorflow/tfjs-core ${version}` +
      (backend === 'wasm'
        ? `, wasm features: simd=${String(tf.env().getBool?.('WASM_HAS_SIMD_SUPPORT'))}, threads=${String(tf.env().getBool?.('WASM_HAS_MULTITHREAD_SUPPORT'))}`
        : ''),
  );
  // tfjs's cpu and wasm backends run each kernel when it is called: no read-back (as vlgrad's cpu cells)
  const run = (f: () => Any) => () => {
    tf.tidy(() => {
      f();
    });
  };
  for (const n of MATMUL_SIZES) {
    await cell(W.matmul(n), impl, () => {
      const a = tf.keep(tf.randomNormal([n, n])),
        b = tf.keep(tf.randomNormal([n, n]));
      return run(() => tf.matMul(a, b));
    });
  }
  const ln = (x: Any, g: Any, b: Any, eps: number) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b); // tfjs-core alone has no chained ops
  };
  for (const s of ROW_SHAPES) {
    await cell(W.softmax(s), impl, () => {
      const x = tf.keep(tf.randomNormal(s));
      return run(() => tf.softmax(x, -1));
    });
    await cell(W.layerNorm(s), impl, () => {
      const x = tf.keep(tf.randomNormal(s)),
        g = tf.keep(tf.ones([s[1]])),
        b = tf.keep(tf.zeros([s[1]]));
      return run(() => ln(x, g, b, 1e-5));
    });
  }
  await cell(W.layer, impl, () => {
    const est = layerEstimate(impl);
    if (est) return est;
    const v = (shape: number[], scale = 0.02) => tf.variable(tf.mul(tf.randomNormal(shape), scale));
    const p = {
      g1: tf.variable(tf.ones([C])),
      b1: tf.variable(tf.zeros([C])),
      g2: tf.variable(tf.ones([C])),
      b2: tf.variable(tf.zeros([C])),
      wqkv: v([C, 3 * C]),
      bqkv: v([3 * C]),
      wo: v([C, C]),
      bo: v([C]),
      w1: v([C, MLP]),
      bb1: v([MLP]),
      w2: v([MLP, C]),
      bb2: v([C]),
    };
    const x = tf.keep(tf.randomNormal([B, T, C]));
    // GELU, tanh form: 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))
    const gelu = (z: Any) =>
      tf.mul(
        tf.mul(z, 0.5),
        tf.add(tf.tanh(tf.mul(tf.add(z, tf.mul(tf.pow(z, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1),
      );
    const loss = () => {
      const h = tf.reshape(ln(x, p.g1, p.b1, 1e-6), [B * T, C]);
      const qkv = tf.transpose(tf.reshape(tf.add(tf.matMul(h, p.wqkv), p.bqkv), [B, T, 3, H, D]), [2, 0, 3, 1, 4]); // [3,B,H,T,D]
      const [q, k, vv] = tf.unstack(qkv, 0);
      const att = tf.softmax(tf.matMul(tf.mul(q, D ** -0.5), k, false, true), -1); // [B,H,T,T]
      const a = tf.reshape(tf.transpose(tf.matMul(att, vv), [0, 2, 1, 3]), [B * T, C]);
      const x1 = tf.add(x, tf.reshape(tf.add(tf.matMul(a, p.wo), p.bo), [B, T, C]));
      const m = gelu(tf.add(tf.matMul(tf.reshape(ln(x1, p.g2, p.b2, 1e-6), [B * T, C]), p.w1), p.bb1));
      const y = tf.add(x1, tf.reshape(tf.add(tf.matMul(m, p.w2), p.bb2), [B, T, C]));
      return tf.mean(y);
    };
    return () => {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(loss);
        (Object.values(grads)[0] as Any).dataSync();
      });
    }; // grads are keyed by variable name
  });
}

// ---------------------------------------------------------------- js-pytorch
async function benchJsPytorch(): Promise<void> {
  const impl = 'js-pytorch';
  let torch: Any;
  try {
    torch = requirePeer('js-pytorch').torch;
    if (!torch?.randn) throw new Error('no torch export');
  } catch (e) {
    const why = `js-pytorch did not load: ${String((e as Error).message)
      .split('\n')[0]
      .slice(0, 120)}`;
    for (const w of allWorkloads()) record(w, impl, why);
    return;
  }
  notes.push(
    `js-pytorch ${String((JSON.parse(readFileSync(new URL('./node_modules/js-pytorch/package.json', import.meta.url), 'utf8')) as { version: string }).version)} (installed with --ignore-scripts; runs on its 'cpu' device: nested JS arrays)`,
  );
  const { nn } = torch;
  for (const n of MATMUL_SIZES) {
    await cell(W.matmul(n), impl, () => {
      const m512 = results.get(W.matmul(512))?.get(impl);
      if (n === 1024 && m512 && typeof m512 !== 'string' && m512.ms * 8 * 4 > MAX_CELL_MS)
        return `estimated ${((m512.ms * 8 * 4) / 1000).toFixed(0)} s for the cell (8 × its 512 matmul × 4 calls)`;
      const a = torch.randn([n, n]),
        b = torch.randn([n, n]);
      return () => torch.matmul(a, b).data;
    });
  }
  for (const s of ROW_SHAPES) {
    await cell(W.softmax(s), impl, () => {
      const x = torch.randn(s);
      const sm = new nn.Softmax();
      return () => sm.forward(x, -1).data;
    });
    await cell(W.layerNorm(s), impl, () => {
      const x = torch.randn(s);
      const l = new nn.LayerNorm(s[1]);
      return () => l.forward(x).data;
    });
  }
  await cell(W.layer, impl, () => {
    const est = layerEstimate(impl);
    if (est) return est;
    // Its own nn.Block differs (causal mask, MLP 2×width, ReLU): build the layer from its modules instead.
    const ln1 = new nn.LayerNorm(C),
      ln2 = new nn.LayerNorm(C);
    const wq = new nn.Linear(C, C),
      wk = new nn.Linear(C, C),
      wv = new nn.Linear(C, C),
      wo = new nn.Linear(C, C);
    const fc1 = new nn.Linear(C, MLP),
      fc2 = new nn.Linear(MLP, C),
      relu = new nn.ReLU(),
      sm = new nn.Softmax();
    const x = torch.randn([B, T, C], true);
    const heads = (z: Any) => z.reshape([B, T, H, D]).transpose(1, 2);
    return () => {
      const h = ln1.forward(x);
      const q = heads(wq.forward(h)),
        k = heads(wk.forward(h)),
        v = heads(wv.forward(h));
      const att = sm.forward(q.matmul(k.transpose(-2, -1)).mul(D ** -0.5), -1);
      const a = att.matmul(v).transpose(1, 2).reshape([B, T, C]);
      const x1 = x.add(wo.forward(a));
      const y = x1.add(fc2.forward(relu.forward(fc1.forward(ln2.forward(x1)))));
      y.mean().backward();
      return wq.W.grad;
    };
  });
}

// ---------------------------------------------------------------- PyTorch
const TORCH_SCRIPT = torchPeersPy({
  ...{ B, T, C, H, MLP },
  ...{ matmulSizes: MATMUL_SIZES, rowShapes: ROW_SHAPES, budgetS: CELL_BUDGET_MS / 1000, maxS: MAX_CELL_MS / 1000 },
});

function benchTorch(): void {
  const env = { ...process.env, OPENBLAS_CORETYPE: process.env.OPENBLAS_CORETYPE ?? 'Haswell' };
  const res = spawnSync('/usr/bin/python3', ['-c', TORCH_SCRIPT], { encoding: 'utf8', timeout: 600_000, env });
  let why: string | null = null;
  if (res.error) why = `could not run /usr/bin/python3 (${res.error.message})`;
  else if (res.status !== 0) why = `PyTorch failed (${(res.stderr.trim().split('\n').pop() ?? '').slice(0, 120)})`;
  if (why) {
    for (const t of [1, 2]) for (const w of allWorkloads()) record(w, `PyTorch ${t} thread${t > 1 ? 's' : ''}`, why);
    return;
  }
  const out = JSON.parse(res.stdout.trim().split('\n').pop()!) as {
    version: string;
    results: Record<string, Record<string, Cell>>;
  };
  notes.push(
    `PyTorch ${out.version} via /usr/bin/python3, OPENBLAS_CORETYPE=${env.OPENBLAS_CORETYPE}, torch.set_num_threads(1) and (2)`,
  );
  for (const [t, r] of Object.entries(out.results)) {
    const impl = `PyTorch ${t} thread${t === '1' ? '' : 's'}`;
    for (const n of MATMUL_SIZES) record(W.matmul(n), impl, r[`matmul ${n}`]);
    for (const s of ROW_SHAPES) {
      record(W.softmax(s), impl, r[`softmax ${s}`]);
      record(W.layerNorm(s), impl, r[`layerNorm ${s}`]);
    }
    record(W.layer, impl, r.layer);
  }
}

// ---------------------------------------------------------------- jax-js
/** jax-js (`@jax-js/jax`, a dev dependency of the repo): the layer's jit-compiled train step only. */
async function benchJax(): Promise<void> {
  let step: JaxLayerStep;
  try {
    step = await jaxLayerStep(B, T, C, H, MLP);
  } catch (e) {
    record(
      W.layer,
      'jax-js',
      `did not load: ${String((e as Error).message)
        .split('\n')[0]!
        .slice(0, 120)}`,
    );
    return;
  }
  const impl = `jax-js ${step.version} ${step.device} (jit valueAndGrad)`;
  await cell(W.layer, impl, () => () => step.run());
  step.dispose();
}

// ---------------------------------------------------------------- main
const only = process.argv.indexOf('--only') >= 0 ? process.argv[process.argv.indexOf('--only') + 1].split(',') : null;
const want = (k: string): boolean => !only || only.includes(k);
const started = new Date();
for (const dev of ['cpu', 'cpu-ref', 'webasm', 'gpujs-cpu', 'webgpu']) if (want(dev)) await benchVlgrad(dev);
const guarded = async (name: string, f: () => Promise<void>): Promise<void> => {
  try {
    await f();
  } catch (e) {
    notes.push(
      `${name}: stopped by an error: ${String((e as Error).message)
        .split('\n')[0]
        .slice(0, 120)}`,
    );
  }
};
if (want('tfjs-cpu')) await guarded('tfjs cpu', () => benchTfjs('cpu'));
if (want('tfjs-wasm')) await guarded('tfjs wasm', () => benchTfjs('wasm'));
if (want('js-pytorch')) await guarded('js-pytorch', benchJsPytorch);
if (want('jax')) await guarded('jax-js', benchJax);
if (want('torch')) benchTorch();

const ref = (w: string, impl: string): number | null => {
  const r = results.get(w)?.get(impl);
  return r && typeof r !== 'string' ? r.ms : null;
};
const ratio = (ms: number, base: number | null): string => (base === null ? '–' : `${(ms / base).toFixed(2)}×`);
console.log(
  `Run ${started.toISOString()}, ${cpus().length}x ${cpus()[0]?.model ?? '?'}, Node ${process.version}, ` +
    `load average at the end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}. float32; ops forward only (no grad); ` +
    `median of N calls after 1 warm-up (N in the runs column; 'single' = the warm-up call alone, too slow to repeat). ` +
    `Ratios are this cell's time / the reference's (above 1× = slower).\n`,
);
for (const n of notes) console.log(`- ${n}`);
console.log(
  '\n| workload | implementation | median | runs | load avg (1 min) | vs PyTorch 2 threads | vs vlgrad cpu |',
);
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const w of allWorkloads()) {
  for (const impl of impls) {
    const r = results.get(w)?.get(impl);
    if (r === undefined) continue;
    if (typeof r === 'string') {
      console.log(`| ${w} | ${impl} | skipped: ${r} | | | | |`);
      continue;
    }
    console.log(
      `| ${w} | ${impl} | ${fmt(r.ms)} | ${r.runs || 'single'} | ${r.load?.toFixed(2) ?? '?'} | ${ratio(r.ms, ref(w, 'PyTorch 2 threads'))} | ${ratio(r.ms, ref(w, 'vlgrad cpu'))} |`,
    );
  }
}
process.exit(0);
