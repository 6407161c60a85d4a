/**
 * How fast is the CPU backend? Forward throughput of elementwise ops (add with and without
 * broadcasting, exp, gelu), reductions (sum over the last dim, over everything), softmax, layerNorm
 * and square float32 matmuls on the default `cpu` backend, measured with benchmark.js; matmul also
 * on `cpu-ref` (the plain reference), since the two differ only there. Prints a markdown table for
 * bench/RESULTS.md.
 *
 * Run: npx tsx bench/ops.ts [--quick]   (about 2 minutes; --quick: smaller sizes and samples, a smoke run)
 *
 * GB/s counts the bytes an op must touch at least (each input read once, the output written once),
 * so for composites such as gelu (about 10 primitives, each a full pass) it understates the
 * memory traffic actually done: read it as "useful bytes per second". GFLOP/s counts 2·n³ per matmul.
 * Rates use process CPU time (see measure); ops/s (wall) is benchmark.js's own number.
 */
// Typed by @types/benchmark; the few members used are also described by the local interfaces below.
import BenchmarkJs from 'benchmark';
import { cpus, loadavg } from 'node:os';
import { getBackend, layerNorm, noGrad, ones, Rng, randn, zeros, type Tensor } from '../engine/index.js';

interface Bench {
  hz: number;
  stats: { rme: number; mean: number; sample: number[] };
  error?: Error;
  run(): Bench;
}
interface BenchmarkStatic {
  new (name: string, fn: () => void, opts: { maxTime: number; minSamples: number; initCount?: number }): Bench;
  support: { decompilation: boolean };
}
const Benchmark = BenchmarkJs as BenchmarkStatic;
// Call our closures by reference: benchmark.js would otherwise decompile `fn` and re-evaluate its source
// outside this module's scope, where the tensors it closes over do not exist.
Benchmark.support.decompilation = false;

const quick = process.argv.includes('--quick');
const cpu = getBackend('cpu');
const cpuRef = getBackend('cpu-ref');
const rng = new Rng(0);
const f32 = (...shape: number[]): Tensor => randn(shape, { rng, device: cpu });
const onRef = (x: Tensor): Tensor => x.to(cpuRef);

interface Row {
  group: string;
  op: string;
  shape: string;
  hz: number;
  rme: number;
  cpuHz: number;
  unit: string;
  rate: number;
}
const rows: Row[] = [];

/** CPU seconds (user + system, all threads, so GC helpers count) this process spent since `c0`. */
function cpuSeconds(c0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

/**
 * Times `fn` with benchmark.js (wall clock: ops/s and its relative margin of error), then again for
 * about 0.5 s of wall time by process CPU time, which a machine shared with other jobs distorts far
 * less than wall time. `work` is bytes (GB/s) or flops (GFLOP/s) per call; the rate uses CPU time.
 */
function measure(
  group: string,
  op: string,
  shape: string,
  fn: () => unknown,
  work: number,
  unit: 'GB/s' | 'GFLOP/s',
): void {
  const call = (): void => {
    noGrad(fn);
  };
  const b = new Benchmark(`${op} ${shape}`, call, {
    maxTime: quick ? 0.2 : 1.5,
    minSamples: quick ? 2 : 5,
    initCount: 1,
  }).run();
  if (b.error) throw b.error;
  const iters = Math.max(3, Math.ceil(b.hz * (quick ? 0.1 : 0.5)));
  const c0 = process.cpuUsage();
  for (let i = 0; i < iters; i++) call();
  const cpuHz = iters / cpuSeconds(c0);
  const row = { group, op, shape, hz: b.hz, rme: b.stats.rme, cpuHz, unit, rate: (work * cpuHz) / 1e9 };
  rows.push(row);
  console.error(
    `${op.padEnd(20)} ${shape.padEnd(20)} ${fmtHz(row.hz).padStart(8)} ops/s ±${row.rme.toFixed(1).padStart(5)}%  ` +
      `${fmtHz(cpuHz).padStart(8)} ops/CPU-s  ${row.rate.toFixed(2)} ${unit}`,
  );
}

const B = 4; // bytes per float32
const sizes = quick ? [1 << 14] : [1 << 14, 1 << 20]; // 16K and 1M elements

for (const n of sizes) {
  const cols = 1024,
    r = n / cols;
  const a = f32(r, cols),
    b = f32(r, cols),
    row = f32(cols);
  // The machine's yardstick: the same sum as a hand-written loop over the typed arrays.
  const ad = a.dataSync() as Float32Array,
    bd = b.dataSync() as Float32Array;
  measure('elementwise', 'plain JS loop a+b', `${n}`, () => plainAdd(ad, bd), 3 * n * B, 'GB/s');
  measure('elementwise', 'add', `[${r},${cols}]`, () => a.add(b), 3 * n * B, 'GB/s');
  measure(
    'elementwise',
    'add (broadcast row)',
    `[${r},${cols}]+[${cols}]`,
    () => a.add(row),
    (2 * n + cols) * B,
    'GB/s',
  );
  measure('elementwise', 'exp', `[${r},${cols}]`, () => a.exp(), 2 * n * B, 'GB/s');
  measure('elementwise', 'gelu (erf)', `[${r},${cols}]`, () => a.gelu(), 2 * n * B, 'GB/s');
  measure('elementwise', 'gelu (tanh)', `[${r},${cols}]`, () => a.gelu('tanh'), 2 * n * B, 'GB/s');
  measure('reduce', 'sum (last dim)', `[${r},${cols}]`, () => a.sum(-1), (n + r) * B, 'GB/s');
  measure('reduce', 'sum (all)', `[${r},${cols}]`, () => a.sum(), n * B, 'GB/s');
}

for (const [r, c] of quick
  ? [[64, 256]]
  : [
      [64, 256],
      [512, 1024],
    ]) {
  const x = f32(r, c),
    w = ones([c], { device: cpu }),
    bias = zeros([c], { device: cpu });
  measure('nn', 'softmax (last dim)', `[${r},${c}]`, () => x.softmax(-1), 2 * r * c * B, 'GB/s');
  measure('nn', 'layerNorm (affine)', `[${r},${c}]`, () => layerNorm(x, [c], w, bias), (2 * r * c + 2 * c) * B, 'GB/s');
}

for (const n of quick ? [64, 128] : [64, 128, 256, 512]) {
  const a = f32(n, n),
    b = f32(n, n);
  measure('matmul', 'matmul', `${n}x${n} @ ${n}x${n}`, () => a.matmul(b), 2 * n ** 3, 'GFLOP/s');
}
for (const n of quick ? [64] : [64, 128, 256, 512]) {
  const a = onRef(f32(n, n)),
    b = onRef(f32(n, n));
  measure('matmul', 'matmul on cpu-ref', `${n}x${n} @ ${n}x${n}`, () => a.matmul(b), 2 * n ** 3, 'GFLOP/s');
}

function plainAdd(x: Float32Array, y: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] + y[i];
  return out;
}

function fmtHz(hz: number): string {
  return hz >= 100 ? Math.round(hz).toLocaleString('en-US') : hz.toPrecision(3);
}

const cpu0 = cpus();
console.log(
  `Machine: ${cpu0.length}x ${cpu0[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}` +
    `, backend '${cpu.device}' unless named, float32, forward only under noGrad${quick ? ', --quick' : ''}\n`,
);
console.log(
  `Load average at the end: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(', ')}\n`,
);
console.log('| group | op | shape | ops/s (wall) | ± | ops/CPU-s | throughput (CPU time) |');
console.log('|---|---|---|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.group} | ${r.op} | ${r.shape} | ${fmtHz(r.hz)} | ${r.rme.toFixed(1)}% | ${fmtHz(r.cpuHz)} | ${r.rate.toFixed(2)} ${r.unit} |`,
  );
}
