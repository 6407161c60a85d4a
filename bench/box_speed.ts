// How fast is this box right now? GFLOP/s of a WebAssembly SIMD multiply-add loop (12 independent
// f32x4 chains in registers, no memory traffic) on each of N threads running at once.
//
//   npx tsx bench/box_speed.ts [--threads 2] [--ms 300]
//
// Why: on a shared VM the load average sees only this guest's processes. In session 13 a vCPU ran
// a one-thread matmul at 35 GFLOP/s against 50 on the other for twenty minutes at load ~1, then
// both were at 50, then both at 35; benchmarks taken minutes apart differed by 30-40% with the
// load average unchanged. The benches print this reading next to the load average so that a
// figure can be read against the box's speed at the time. It is a rough gauge (~90% of the FP
// issue peak on an idle Zen core), not a benchmark of vlgrad.
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { f32, f32x4, forRange, get, i32, local, ModuleBuilder, seq } from '../kernels/wasm/emit.js';

const CHAINS = 12;
/** Floating-point operations per loop iteration: a mul and an add per chain, 4 lanes each. */
const FLOPS_PER_ITERATION = CHAINS * 2 * 4;
/** Iterations per call of `peak` (~40 us on a ~3 GHz core). */
const ITERATIONS = 20_000;

/**
 * A module exporting `peak(n) -> f32`: n iterations of acc = acc * x + y on 12 chains (each step
 * waits for its own chain only, so 12 chains keep two multipliers and two adders busy). x < 1 and
 * y small keep every value normal and bounded; the result keeps the loop from being dead code.
 */
export function peakModule(): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder();
  const fn = mod.func(['i32'], ['f32'], 'peak');
  const acc = Array.from({ length: CHAINS }, () => fn.local('v128'));
  const [x, y, i] = [fn.local('v128'), fn.local('v128'), fn.local('i32')];
  const sum = acc.slice(1).reduce<ReturnType<typeof get>>((s, a) => f32x4.add(s, get(a)), get(acc[0]!));
  fn.body = seq(
    local.set(x, f32x4.splat(f32.const(0.999))),
    local.set(y, f32x4.splat(f32.const(0.001))),
    ...acc.map((a, c) => local.set(a, f32x4.splat(f32.const(c / CHAINS)))),
    forRange(
      i,
      i32.const(0),
      get(0),
      i32.const(1),
      ...acc.map((a) => local.set(a, f32x4.add(f32x4.mul(get(a), get(x)), get(y)))),
    ),
    f32x4.extract_lane(sum, 0),
  );
  return mod.build();
}

// Each thread: instantiate, warm up (tier-up to TurboFan), check in, wait for the start word,
// run the loop for `ms`, store its GFLOP/s. Plain JS, evaluated by the workers as it is.
const THREAD_BODY = `
function measure({ bytes, control, t, ms, iterations, flops }, checkIn) {
  const peak = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.peak;
  const words = new Int32Array(control, 0, 2), out = new Float64Array(control, 8);
  for (const end = performance.now() + 30; performance.now() < end; ) peak(iterations);
  Atomics.add(words, 1, 1);
  checkIn();
  Atomics.wait(words, 0, 0);
  let n = 0;
  const start = performance.now(), end = start + ms;
  while (performance.now() < end) { peak(iterations); n += iterations; }
  out[t] = (n * flops) / ((performance.now() - start) * 1e6);
}`;

/** GFLOP/s of the loop on each of `threads` threads at once (thread 0 is the calling thread). */
export async function boxSpeed(threads = 2, ms = 300): Promise<number[]> {
  const bytes = peakModule();
  const control = new SharedArrayBuffer(8 + 8 * threads);
  const words = new Int32Array(control, 0, 2);
  const job = { bytes, control, ms, iterations: ITERATIONS, flops: FLOPS_PER_ITERATION };
  const done: Promise<void>[] = [];
  for (let t = 1; t < threads; t++) {
    const w = new Worker(
      `${THREAD_BODY}\nconst { workerData } = require('node:worker_threads'); measure(workerData, () => {});`,
      { eval: true, execArgv: [], workerData: { ...job, t } },
    );
    done.push(
      new Promise((resolve, reject) => {
        w.on('error', reject);
        w.on('exit', () => resolve());
      }),
    );
  }
  // Every worker warmed up and waiting: then all threads start together.
  while (Atomics.load(words, 1) < threads - 1) await new Promise((r) => setTimeout(r, 5));
  const start = (): void => {
    Atomics.store(words, 0, 1);
    Atomics.notify(words, 0);
  };
  const measure = new Function('job', 'checkIn', `${THREAD_BODY}\nmeasure(job, checkIn);`) as (
    job: object,
    checkIn: () => void,
  ) => void;
  measure({ ...job, t: 0 }, start);
  await Promise.all(done);
  return Array.from(new Float64Array(control, 8, threads));
}

/** One line for a bench header: each thread's GFLOP/s and the load average. */
export async function boxSpeedLine(threads = 2): Promise<string> {
  const g = await boxSpeed(threads);
  const load = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  return `box speed ${g.map((x) => x.toFixed(1)).join(' / ')} GFLOP/s per thread (bench/box_speed.ts), load average ${load}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, fallback: string): string => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
  };
  const threads = Number(arg('threads', '2'));
  const g = await boxSpeed(threads, Number(arg('ms', '300')));
  console.log(`${g.map((x) => x.toFixed(1)).join(' / ')} GFLOP/s per thread; load average ${loadavg().join(' ')}`);
}
