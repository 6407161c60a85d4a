// Parity with torch.optim 1.13: gen_torch_optim.py trained a 2-layer tanh MLP for 20 steps with
// each optimizer (foreach=False) and recorded every parameter after every step. Here vlgrad
// computes its own gradients with its autograd and must follow the same trajectory, with both the
// fused host loop and the tensor-op path, in float64 (1e-12) and float32 (1e-5 relative).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { tensor, type DType, type Tensor } from '../../engine/index.js';
import { clipGradNorm } from '../../nn/clip_grad.js';
import { Adam, AdamW, SGD, type Optimizer } from '../../nn/optim.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'optim', 'trajectories.json');

interface Run {
  name: string;
  dtype: DType;
  optimizer: 'sgd' | 'adam' | 'adamw';
  defaults: Record<string, unknown>;
  groups: ({ params: string[] } & Record<string, unknown>)[];
  clip: { maxNorm: number; normType: number } | null;
  init: Record<string, number[]>;
  steps: { loss: number; norm?: number; params: Record<string, number[]> }[];
}
const fx = JSON.parse(readFileSync(FIXTURE, 'utf8')) as {
  shapes: Record<string, number[]>;
  x: number[];
  xShape: number[];
  y: number[];
  yShape: number[];
  runs: Run[];
};

/** loss = mean((tanh(x W1 + b1) W2 + b2 − y)²); `unused` never gets a gradient. */
function loss(p: Record<string, Tensor>, x: Tensor, y: Tensor): Tensor {
  const h = x.matmul(p.w1).add(p.b1).tanh();
  const d = h.matmul(p.w2).add(p.b2).sub(y);
  return d.mul(d).mean();
}

function build(run: Run, params: Record<string, Tensor>, fused: boolean): Optimizer<any> {
  const groups = run.groups.map(({ params: names, ...opts }) => ({ ...opts, params: names.map((n) => params[n]) }));
  const opts = { ...run.defaults, fused };
  if (run.optimizer === 'sgd') return new SGD(groups, opts);
  return run.optimizer === 'adam' ? new Adam(groups, opts) : new AdamW(groups, opts);
}

/** Largest |a − b| / (|b| + floor) over the arrays. */
function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>, floor: number): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (Math.abs(b[i]) + floor));
  return worst;
}

for (const run of fx.runs) {
  for (const fused of [true, false]) {
    t.test(`${run.name} (${run.dtype}, ${fused ? 'fused' : 'tensor ops'})`, (t) => {
      const dtype = run.dtype;
      // float64: 1e-12 (for values below 1, absolute); float32: 1e-5 relative with a 1e-2 floor, the size
      // of PyTorch's own float32-vs-float64 drift on this problem (up to 6e-6).
      const [tol, floor] = dtype === 'float64' ? [1e-12, 1] : [1e-5, 1e-2];
      const x = tensor(Float64Array.from(fx.x), { shape: fx.xShape, dtype });
      const y = tensor(Float64Array.from(fx.y), { shape: fx.yShape, dtype });
      const params: Record<string, Tensor> = {};
      for (const [n, v] of Object.entries(run.init))
        params[n] = tensor(Float64Array.from(v), { shape: fx.shapes[n], dtype, requiresGrad: true });
      const originals = { ...params };
      const opt = build(run, params, fused);
      let worst = 0;
      run.steps.forEach((want, k) => {
        opt.zeroGrad();
        const l = loss(params, x, y);
        worst = Math.max(worst, maxRelErr([l.item()], [want.loss], floor));
        l.backward();
        if (run.clip) {
          const norm = clipGradNorm(Object.values(params), run.clip.maxNorm, run.clip.normType);
          worst = Math.max(worst, maxRelErr([norm], [want.norm!], floor));
        }
        opt.step();
        for (const [n, p] of Object.entries(params)) {
          const err = maxRelErr(p.dataSync(), want.params[n], floor);
          if (err > tol) t.fail(`step ${k + 1}, ${n}: error ${err.toExponential(2)} > ${tol}`);
          worst = Math.max(worst, err);
        }
      });
      t.ok(worst <= tol, `worst error over ${run.steps.length} steps ${worst.toExponential(2)} <= ${tol}`);
      t.ok(
        Object.entries(params).every(([n, p]) => p === originals[n]),
        'parameters keep their Tensor objects',
      );
      t.same(
        Array.from(params.unused.dataSync()),
        run.init.unused,
        'a parameter without grad is not touched (no decay either)',
      );
      t.end();
    });
  }
}
