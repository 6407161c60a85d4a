// How fast is kernels/wasm matmul? GFLOP/s (2*m*n*k / time) for square float32 products with
// 1 and 2 threads, against plain-JS i-k-j and the blocked TS fallback, as a markdown table.
//
//   npx tsx bench/matmul_wasm.ts              # the table in docs/fast_cpu.md
//   npx tsx bench/matmul_wasm.ts --crossover  # also: where WASM and threads start paying off
//
// Each cell is the median (and best) of timed runs after a warm-up that lets V8 tier the
// kernel up to TurboFan. The machine's load average is printed: on a shared 2-core box other
// processes take cycles, and the best run is the closer estimate of what the code can do.
// On a busy machine, raise this process's priority (docs/fast_cpu.md shows how).
import { loadavg } from 'node:os';
import { matmul, matmulFallback, matmulWasm, setThreads, shutdown } from '../kernels/wasm/index.js';
import { planMatmul } from '../kernels/wasm/options.js';

interface Timing {
  median: number;
  best: number;
}

/** Runs `fn` for at least `ms` milliseconds and `minRuns` times; returns median and best ms. */
function time(fn: () => void, ms: number, minRuns = 5): Timing {
  const warmUntil = performance.now() + ms / 3;
  do fn();
  while (performance.now() < warmUntil);
  const runs: number[] = [];
  const end = performance.now() + ms;
  while (runs.length < minRuns || performance.now() < end) {
    const t0 = performance.now();
    fn();
    runs.push(performance.now() - t0);
  }
  runs.sort((x, y) => x - y);
  return { median: runs[runs.length >> 1]!, best: runs[0]! };
}

const gflops = (s: number, ms: number): string => ((2 * s ** 3) / ms / 1e6).toFixed(1);
const cell = (s: number, t: Timing): string => `${gflops(s, t.median)} (${gflops(s, t.best)})`;

function random(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.random() - 0.5);
}

/** The textbook loop: no blocking, no SIMD. */
function plainIkj(a: Float32Array, b: Float32Array, c: Float32Array, s: number): void {
  c.fill(0);
  for (let i = 0; i < s; i++) {
    for (let p = 0; p < s; p++) {
      const aip = a[i * s + p]!;
      for (let j = 0; j < s; j++) c[i * s + j]! += aip * b[p * s + j]!;
    }
  }
}

function square(s: number, threadCount: number, ms: number): Timing {
  setThreads(threadCount);
  const a = random(s * s),
    b = random(s * s),
    c = new Float32Array(s * s);
  return time(() => matmul(a, b, c, { m: s, k: s, n: s }), ms);
}

console.log(
  `load average before: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}\n`,
);
console.log('float32 C = A @ B, GFLOP/s: median (best)\n');
console.log('| size | 1 thread | 2 threads |');
console.log('| ---: | ---: | ---: |');
for (const s of [128, 256, 512, 1024]) {
  const ms = s >= 1024 ? 6000 : 2500;
  console.log(`| ${s} | ${cell(s, square(s, 1, ms))} | ${cell(s, square(s, 2, ms))} |`);
}
{
  const s = 512,
    a = random(s * s),
    b = random(s * s),
    c = new Float32Array(s * s);
  const plan = planMatmul(a, b, c, { m: s, k: s, n: s });
  console.log(
    `| 512, plain JS i-k-j | ${cell(
      s,
      time(() => plainIkj(a, b, c, s), 3000, 3),
    )} | |`,
  );
  console.log(
    `| 512, TS fallback (blocked) | ${cell(
      s,
      time(() => matmulFallback(a, b, c, plan), 3000, 3),
    )} | |`,
  );
}

if (process.argv.includes('--crossover')) {
  // Where entering WASM starts paying (WASM_MIN_WORK), one thread; microseconds per call.
  console.log('\nsmall sizes, microseconds per call (median): TS fallback vs WASM, 1 thread\n');
  console.log('| size | fallback | wasm |');
  console.log('| ---: | ---: | ---: |');
  setThreads(1);
  for (const s of [4, 8, 12, 16, 24, 32]) {
    const a = random(s * s),
      b = random(s * s),
      c = new Float32Array(s * s);
    const plan = planMatmul(a, b, c, { m: s, k: s, n: s });
    const fb = time(() => matmulFallback(a, b, c, plan), 300);
    const wasm = time(() => matmulWasm(a, b, c, { m: s, k: s, n: s }), 300);
    console.log(`| ${s} | ${(fb.median * 1000).toFixed(1)} | ${(wasm.median * 1000).toFixed(1)} |`);
  }
}
console.log(
  `\nload average after: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
shutdown();
