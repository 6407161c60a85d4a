// Child process for test/kernels/wasm_fma.test.ts: the GEMM as this process builds it (with
// relaxed SIMD's fused multiply-add where `wasmFma()`, i.e. under --experimental-wasm-relaxed-simd
// on Node 20, unless VLGRAD_WASM_FMA=0). Prints one JSON line: whether FMA is in use, per product
// the largest error against the plain-TS fallback, whether 1 and 2 threads gave the same bits,
// a digest of the output bits, and the fusion probe (1 + 2^-12)^2 - (1 + 2^-11): 2^-24 when fused, 0 when not.
import { matmulFallback, matmulWasm, startThreads, wasmFma } from '../../kernels/wasm/index.js';
import { planMatmul, type MatmulOptions } from '../../kernels/wasm/options.js';
import { lcgFloats as random } from './lcg.js';

const cases: MatmulOptions[] = [
  { m: 256, k: 300, n: 260 }, // two K blocks, edge tiles in n
  { m: 203, k: 517, n: 97, batch: 3, transB: true, bBatchStride: 0 },
  { m: 61, k: 40, n: 33, transA: true, accumulate: true },
];
let digest = 0;
const results = [];
for (const [i, o] of cases.entries()) {
  const batch = o.batch ?? 1;
  const a = random(batch * o.m * o.k, 1 + i),
    b = random((o.bBatchStride === 0 ? 1 : batch) * o.k * o.n, 9 + i);
  const start = random(batch * o.m * o.n, 20 + i); // what `accumulate` adds onto
  const run = async (threads: number): Promise<Float32Array> => {
    await startThreads(threads);
    const out = start.slice();
    matmulWasm(a, b, out, o);
    return out;
  };
  const one = await run(1);
  const two = await run(2);
  const want = start.slice();
  matmulFallback(a, b, want, planMatmul(a, b, want, o));
  let maxErr = 0;
  for (let j = 0; j < want.length; j++) maxErr = Math.max(maxErr, Math.abs(one[j]! - want[j]!));
  const bits = new Int32Array(one.buffer);
  for (let j = 0; j < bits.length; j++) digest = (Math.imul(digest, 31) + bits[j]!) | 0;
  results.push({ m: o.m, maxErr, threadsSame: one.every((x, j) => Object.is(x, two[j])) });
}
const x = 1 + 2 ** -12;
const probe = new Float32Array(64).fill(-(1 + 2 ** -11));
matmulWasm(new Float32Array(64).fill(x), new Float32Array(64).fill(x), probe, { m: 8, k: 1, n: 8, accumulate: true });
console.log(JSON.stringify({ fma: wasmFma(), results, digest, fusedProbe: probe[0] }));
