// Process CPU time of one TransformerLayer train step (B8 T64 C256 H4 MLP1024, pre-LN, fused qkv,
// attention dropout 0.1 in training mode), the minimum over several steps, plus the step's op
// counts from profile(). For A/B comparisons on a loaded machine, where wall time is meaningless:
// run it with VLGRAD_THREADS=1 in alternating before/after processes.
//
//   VLGRAD_THREADS=1 npx tsx bench/step_cpu.ts [--steps 8] [--profile]     # prints one JSON line
//
// --profile adds `opCpuMs`: profile()'s per-op times of the fastest of 3 profiled steps, measured
// in process CPU time instead of wall time (this script swaps the clock profile() reads, which
// is why it is an option: the swap makes every later timing in the process CPU time too).
import { profile } from '../engine/index.js';
import { layerStep, stepsArg } from './layer_step.js';

const STEPS = stepsArg(8);
const { step } = layerStep();
const cpuNow = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
step(); // warm-up
const cpu: number[] = [];
for (let s = 0; s < STEPS; s++) {
  const c0 = cpuNow();
  step();
  cpu.push(cpuNow() - c0);
}
const { stats } = profile(step);
const calls: Record<string, number> = {};
for (const s of stats) calls[`${s.op}:${s.phase}`] = (calls[`${s.op}:${s.phase}`] ?? 0) + s.calls;
const total = Object.values(calls).reduce((a, b) => a + b, 0);
let opCpuMs: Record<string, number> | undefined;
if (process.argv.includes('--profile')) {
  performance.now = cpuNow;
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const c0 = cpuNow();
    const r = profile(step);
    const c = cpuNow() - c0;
    if (c >= best) continue;
    best = c;
    opCpuMs = { step: +c.toFixed(1) };
    for (const s of r.stats) opCpuMs[`${s.op}:${s.phase}`] = +s.ms.toFixed(1);
  }
}
console.log(
  JSON.stringify({
    minCpuMs: +Math.min(...cpu).toFixed(1),
    cpuMs: cpu.map((c) => +c.toFixed(1)),
    opCalls: total,
    ...(opCpuMs ? { opCpuMs } : {}),
    calls,
  }),
);
