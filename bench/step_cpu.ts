// Process CPU time of one TransformerLayer train step (B8 T64 C256 H4 MLP1024, pre-LN, fused qkv,
// attention dropout 0.1 in training mode), the minimum over several steps, plus the step's op
// counts from profile(). For A/B comparisons on a loaded machine, where wall time is meaningless:
// run it with VLGRAD_THREADS=1 in alternating before/after processes.
//
//   VLGRAD_THREADS=1 npx tsx bench/step_cpu.ts [--steps 8]     # prints one JSON line
import { profile, randn, Rng } from '../engine/index.js';
import { TransformerLayer } from '../nn/transformer.js';

const stepsAt = process.argv.indexOf('--steps');
const STEPS = stepsAt >= 0 ? Number(process.argv[stepsAt + 1]) : 8;
const rng = new Rng(0);
const layer = new TransformerLayer({
  dim: 256,
  heads: 4,
  mlpDim: 1024,
  norm: 'pre',
  eps: 1e-6,
  fusedQkv: true,
  attnDropout: 0.1,
  rng,
});
const x = randn([8, 64, 256], { rng });
const step = (): void => {
  layer.zeroGrad();
  layer.forward(x).mean().backward();
  layer.parameters()[0]!.grad!.dataSync();
};
step(); // warm-up
const cpu: number[] = [];
for (let s = 0; s < STEPS; s++) {
  const c0 = process.cpuUsage();
  step();
  const c = process.cpuUsage(c0);
  cpu.push((c.user + c.system) / 1000);
}
const { stats } = profile(step);
const calls: Record<string, number> = {};
for (const s of stats) calls[`${s.op}:${s.phase}`] = (calls[`${s.op}:${s.phase}`] ?? 0) + s.calls;
const total = Object.values(calls).reduce((a, b) => a + b, 0);
console.log(
  JSON.stringify({ minCpuMs: Math.min(...cpu), cpuMs: cpu.map((c) => +c.toFixed(1)), opCalls: total, calls }),
);
