// What share of the `cpu` matmul time is the staging copies into and out of the wasm heap?
// Times kernels/wasm `matmul` on the TransformerLayer step's products (B8 T64 C256 MLP1024: the
// four Linears forward, their input and weight gradients, and the [B*H] attention head products),
// once with ordinary Float32Arrays (copied into the heap and the result copied out, as the `cpu`
// backend's tensors are) and once with arrays from `alloc` (already in the heap: no copies).
// Process CPU time, the minimum over repeats, so it means something on a shared machine.
//
//   VLGRAD_THREADS=1 npx tsx bench/matmul_staging.ts [--repeats 30]
import { alloc, free, matmul, type MatmulOptions } from '../kernels/wasm/index.js';

const at = process.argv.indexOf('--repeats');
const REPEATS = at >= 0 ? Number(process.argv[at + 1]) : 30;
const cpuNow = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

const M = 512; // tokens: B8 x T64
/** [name, options]: every product of one layer step, each once. */
const PRODUCTS: [string, MatmulOptions][] = [];
for (const [name, inF, outF] of [
  ['qkv', 256, 768],
  ['proj', 256, 256],
  ['fc1', 256, 1024],
  ['fc2', 1024, 256],
] as const) {
  PRODUCTS.push([`${name} y = x Wᵀ`, { m: M, k: inF, n: outF, transB: true }]);
  PRODUCTS.push([`${name} dx = g W`, { m: M, k: outF, n: inF }]);
  PRODUCTS.push([`${name} dW = gᵀ x`, { m: outF, k: M, n: inF, transA: true }]);
}
for (const [name, o] of [
  ['heads q kᵀ (x2: fwd, bwd g vᵀ)', { m: 64, k: 64, n: 64, batch: 32, transB: true }],
  ['heads P v (x3: fwd, bwd gq, gk, gv)', { m: 64, k: 64, n: 64, batch: 32 }],
] as const) {
  PRODUCTS.push([name, o]);
}

const sizes = (o: MatmulOptions) => {
  const batch = o.batch ?? 1;
  return { a: batch * o.m * o.k, b: batch * o.k * o.n, c: batch * o.m * o.n };
};

function time(a: Float32Array, b: Float32Array, c: Float32Array, o: MatmulOptions): number {
  for (let i = 0; i < 3; i++) matmul(a, b, c, o);
  let best = Infinity;
  for (let r = 0; r < REPEATS; r++) {
    const t0 = cpuNow();
    matmul(a, b, c, o);
    best = Math.min(best, cpuNow() - t0);
  }
  return best;
}

const rows: string[] = [];
let totalOut = 0,
  totalIn = 0;
for (const [name, o] of PRODUCTS) {
  const s = sizes(o);
  const outside = [s.a, s.b, s.c].map((n) => new Float32Array(n).map(() => Math.random() - 0.5));
  const inside = [s.a, s.b, s.c].map((n, i) => {
    const x = alloc(n); // in the heap (`map` would return an ordinary copy)
    x.set(outside[i]!);
    return x;
  });
  // Interleaved: outside, inside, outside, inside, so load drifts hit both.
  const tOut = Math.min(time(outside[0]!, outside[1]!, outside[2]!, o), time(outside[0]!, outside[1]!, outside[2]!, o));
  const tIn = Math.min(time(inside[0]!, inside[1]!, inside[2]!, o), time(inside[0]!, inside[1]!, inside[2]!, o));
  const reps = name.includes('x2') ? 2 : name.includes('x3') ? 3 : 1;
  totalOut += reps * tOut;
  totalIn += reps * tIn;
  const mb = ((s.a + s.b + s.c) * 4) / 2 ** 20;
  rows.push(
    `| ${name} | ${mb.toFixed(2)} | ${tOut.toFixed(3)} | ${tIn.toFixed(3)} | ${(100 * (1 - tIn / tOut)).toFixed(0)}% |`,
  );
  for (const x of inside) free(x);
}
console.log('| product | MiB copied | staged (ms) | in heap (ms) | staging share |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(r);
console.log(
  `| one layer step, all products | | ${totalOut.toFixed(2)} | ${totalIn.toFixed(2)} | ${(100 * (1 - totalIn / totalOut)).toFixed(0)}% |`,
);
