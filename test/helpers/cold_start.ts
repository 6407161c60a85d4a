// Child process for test/kernels/wasm_cold.test.ts: the first matmuls of a fresh process.
// Usage: node --import tsx cold_start.ts THREADS lazy|start
//   lazy   the first call comes right after import: the workers are still booting, warming up
//          and faulting in the heap (with atomic adds of 0) while the call stages its operands
//   start  `await startThreads(THREADS)` first: the workers have checked in
// Prints one JSON line: per product, the largest error against the plain-TS fallback (a
// different summation order, so a tolerance) and whether a repeated call gave the same bits;
// and whether an array allocated in the heap before start-up kept its values.
import { alloc, matmul, matmulFallback, setThreads, startThreads, threads } from '../../kernels/wasm/index.js';
import { planMatmul, type MatmulOptions } from '../../kernels/wasm/options.js';
import { lcgFloats as random } from './lcg.js';

const [threadArg = '2', mode = 'lazy'] = process.argv.slice(2);
const count = Number(threadArg);

// 512^3 (the benchmark's product), then odd sizes with a transposed, batched-broadcast B.
const cases: { opts: MatmulOptions; aLen: number; bLen: number }[] = [
  { opts: { m: 512, k: 512, n: 512 }, aLen: 512 * 512, bLen: 512 * 512 },
  { opts: { m: 301, k: 517, n: 203, batch: 2, transB: true, bBatchStride: 0 }, aLen: 2 * 301 * 517, bLen: 203 * 517 },
];
const inputs = cases.map(({ aLen, bLen }, i) => [random(aLen, 1 + i), random(bLen, 7 + i)] as const);

// An array in the heap (so in the range the warm-up faults in with atomic adds of 0) must keep
// its values, whichever thread does the faulting and when.
const live = alloc(1 << 20);
for (let i = 0; i < live.length; i++) live[i] = i % 1001;
if (mode === 'start') await startThreads(count);
else setThreads(count);
const firsts = cases.map(({ opts }, i) => {
  const [a, b] = inputs[i]!;
  const out = new Float32Array((opts.batch ?? 1) * opts.m * opts.n);
  matmul(a, b, out, opts);
  return out;
});
const results = cases.map(({ opts }, i) => {
  const [a, b] = inputs[i]!;
  const first = firsts[i]!;
  const want = new Float32Array(first.length);
  matmulFallback(a, b, want, planMatmul(a, b, want, opts));
  let maxErr = 0;
  for (let j = 0; j < want.length; j++) maxErr = Math.max(maxErr, Math.abs(first[j]! - want[j]!));
  const again = new Float32Array(first.length);
  matmul(a, b, again, opts);
  return { m: opts.m, maxErr, repeatSame: again.every((x, j) => Object.is(x, first[j])) };
});
const heapIntact = live.every((x, i) => x === i % 1001);
console.log(JSON.stringify({ threads: threads(), mode, results, heapIntact }));
