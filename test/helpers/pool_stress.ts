// Child process for test/kernels/wasm_pool_stress.test.ts, so a hang is a timeout of this
// process rather than of the test runner.
// Usage: node --import tsx pool_stress.ts stress JOBS | stall STALL_SECONDS
//
// The pool runs a counting "GEMM": unit u of a job adds 1 to the float at desc + 4u, so after
// each job every unit must read exactly 1 (a lost unit reads 0, a doubled one 2). Its first
// word of scratch, when non-zero, makes the thread that owns it sleep (memory.atomic.wait32)
// before touching anything: a stalled worker holding a claimed chunk, on demand.
import { ModuleBuilder, ctl, f32, forRange, get, i32, seq } from '../../kernels/wasm/emit.js';
import { WasmHeap } from '../../kernels/wasm/memory.js';
import { GemmPool, type GemmFn } from '../../kernels/wasm/pool.js';

function countingModule(): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder();
  mod.importMemory('env', 'memory', 1, 16384, true);
  const f = mod.func(['i32', 'i32', 'i32', 'i32'], [], 'gemm');
  const [desc, u0, u1, scratch] = [0, 1, 2, 3];
  const u = f.local('i32'),
    j = f.local('i32');
  const addr = i32.add(get(desc), i32.shl(get(u), i32.const(2)));
  // memory.atomic.wait32(scratch, 1, timeout -1): 0xfe 0x01, align 2, offset 0; result dropped.
  const sleep = seq(get(scratch), i32.const(1), [0x42, 0x7f], [0xfe, 0x01, 2, 0], [0x1a]);
  // Flag 2: a slow thread (about 0.1 ms of busy work per unit), so the others get to claim chunks.
  const slow = forRange(j, i32.const(0), i32.const(100_000), i32.const(1), f32.store(get(scratch), f32.const(2), 4));
  f.body = seq(
    ctl.if(i32.eq(i32.load(get(scratch)), i32.const(1)), sleep),
    forRange(
      u,
      get(u0),
      get(u1),
      i32.const(1),
      ctl.if(i32.eq(i32.load(get(scratch)), i32.const(2)), slow),
      f32.store(addr, f32.add(f32.load(addr), f32.const(1))),
    ),
  );
  return mod.build();
}

let seed = 12345;
const rand = (n: number): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % n;
};

const [mode = 'stress', secondsArg = '600'] = process.argv.slice(2);
const heap = new WasmHeap(64 * 1024 * 1024);
const module = new WebAssembly.Module(countingModule());
const gemm = new WebAssembly.Instance(module, { env: { memory: heap.memory } }).exports['gemm'] as GemmFn;
const MAX_UNITS = 257;
const desc = heap.alloc(4 * MAX_UNITS);
const counts = heap.f32(desc, MAX_UNITS);
const reports: string[] = [];

const nap = new Int32Array(new SharedArrayBuffer(4));

/** A new pool whose workers have all checked in (until then jobs would run on this thread alone). */
function newPool(size: number, stallMs?: number): GemmPool {
  const pool = new GemmPool(heap, module, gemm, size, 64, { stallMs, report: (m) => reports.push(m) });
  for (let t = 0; t < size; t++) heap.i32(pool.scratchAddress(t), 1)[0] = 0;
  const until = performance.now() + 60_000;
  while (!pool.ready) {
    if (performance.now() > until) throw new Error(`pool of ${size}: workers not started within 60 s`);
    Atomics.wait(nap, 0, 0, 1);
  }
  return pool;
}

function check(units: number, what: string): void {
  for (let u = 0; u < units; u++) {
    if (counts[u] !== 1) throw new Error(`${what}: unit ${u} of ${units} computed ${counts[u]} times`);
  }
}

if (mode === 'stress') {
  // Many small and odd-sized jobs on an oversubscribed pool, random thread counts and chunk
  // sizes, random pauses (so workers are found spinning, asleep, or still finishing), and the
  // pool replaced now and then while its old workers are still being terminated.
  const total = Number(secondsArg); // in this mode: the number of jobs
  let pool = newPool(5);
  let jobs = 0,
    pools = 1;
  while (jobs < total) {
    const units = 1 + rand(MAX_UNITS);
    counts.fill(0);
    pool.run(desc, units, 1 + rand(6), 1 + rand(4));
    check(units, `job ${jobs}`);
    jobs++;
    if (rand(8) === 0) {
      const until = performance.now() + rand(3); // 0-2 ms: past the workers' spin, so they sleep
      while (performance.now() < until);
    }
    if (rand(500) === 0) {
      pool.shutdown();
      pool = newPool(2 + rand(5));
      pools++;
    }
  }
  pool.shutdown();
  console.log(JSON.stringify({ jobs, pools, reports }));
} else {
  // Worker 1 sleeps inside a chunk it claimed: the watchdog must finish the job on this thread.
  const units = 64;
  const stallMs = Number(secondsArg) * 1000;
  const warm = (pool: GemmPool): GemmPool => {
    counts.fill(0);
    pool.run(desc, units, 3, 1);
    check(units, 'warm-up job');
    return pool;
  };
  let pool = warm(newPool(3, stallMs));
  const before = reports.length; // a warm-up on a very loaded machine may itself trip the watchdog
  const t0 = performance.now();
  let jobs = 0;
  // Worker 1 stalls in the first chunk it claims; it may find none claimable in a job (the
  // others took them all), so repeat until the watchdog has acted.
  while (reports.length === before && jobs < 200) {
    if (pool.retired) pool = warm(newPool(3, stallMs));
    heap.i32(pool.scratchAddress(1), 1)[0] = 1; // worker 1 sleeps in its first chunk
    heap.i32(pool.scratchAddress(0), 1)[0] = 2; // the caller is slow, so the workers claim chunks
    counts.fill(0);
    pool.run(desc, units, 3, 1);
    check(units, `job ${jobs} with a stalled worker`);
    jobs++;
  }
  const next = warm(newPool(3, stallMs)); // a replacement pool works normally
  next.shutdown();
  console.log(
    JSON.stringify({ ms: performance.now() - t0, jobs, retired: pool.retired, reports: reports.slice(before) }),
  );
}
