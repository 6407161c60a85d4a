// Threading: results are bit-identical for any thread count, workers restart after
// shutdown/setThreads, and idle workers never keep the process alive.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ModuleBuilder, f32, forRange, get, i32, seq } from '../../kernels/wasm/emit.js';
import {
  alloc,
  free,
  heapStats,
  matmul,
  setThreads,
  shutdown,
  startThreads,
  threads,
} from '../../kernels/wasm/index.js';
import { WasmHeap } from '../../kernels/wasm/memory.js';
import { GemmPool, type GemmFn } from '../../kernels/wasm/pool.js';
import { lcgFloats as random } from '../helpers/lcg.js';

t.teardown(shutdown);

/** The product on `threadCount` threads, once the workers have checked in (so they take part). */
async function product(
  threadCount: number,
  m: number,
  k: number,
  n: number,
  batch: number,
  transB: boolean,
): Promise<Float32Array> {
  t.equal(await startThreads(threadCount), threadCount);
  const out = new Float32Array(batch * m * n);
  // B broadcast over the batch, so a thread's range can start in the middle of an item.
  matmul(random(batch * m * k, 1), random(k * n, 2), out, { m, k, n, batch, transB, bBatchStride: 0 });
  return out;
}

t.test('1, 2 and 3 threads give bit-identical outputs', async (t) => {
  const initial = threads();
  // Row chunks split between threads, over several K blocks (256) and N blocks (512 columns),
  // edge tiles included, B transposed or not.
  for (const [m, k, n, batch, transB] of [
    [129, 600, 97, 1, true],
    [63, 1031, 129, 3, true],
    [256, 256, 256, 1, true],
    [17, 2100, 201, 7, true],
    [300, 300, 1100, 1, false],
    [133, 517, 1037, 1, true],
  ] as const) {
    const one = await product(1, m, k, n, batch, transB);
    for (const count of [2, 3]) {
      const many = await product(count, m, k, n, batch, transB);
      t.ok(
        one.every((x, i) => Object.is(x, many[i])),
        `${m}x${k}x${n} batch ${batch}${transB ? ' transB' : ''}: ${count} threads`,
      );
    }
  }
  setThreads(initial);
});

t.test('workers see memory the heap grew after they started', async (t) => {
  const one = await product(1, 200, 200, 200, 4, false); // >= PARALLEL_MIN_WORK, so 2 threads do run
  await product(2, 200, 200, 200, 4, false); // workers are up
  const before = heapStats().byteLength;
  const big = alloc(16 * 1024 * 1024); // 64 MiB: the memory grows under the running workers
  t.ok(heapStats().byteLength > before, 'heap grew');
  const two = await product(2, 200, 200, 200, 4, false); // staged above the old end of memory
  t.ok(one.every((x, i) => Object.is(x, two[i])));
  free(big);
});

t.test('setThreads validates and threads() reports', async (t) => {
  t.throws(() => setThreads(0), RangeError);
  t.throws(() => setThreads(1.5), RangeError);
  setThreads(2);
  t.equal(threads(), 2);
});

t.test('shutdown, then the next call starts workers again', async (t) => {
  setThreads(2);
  const before = await product(2, 200, 200, 200, 1, false);
  shutdown();
  const after = await product(2, 200, 200, 200, 1, false);
  t.ok(before.every((x, i) => Object.is(x, after[i])));
});

t.test('a script that never calls shutdown still exits (workers are unref-ed)', async (t) => {
  const index = fileURLToPath(new URL('../../kernels/wasm/index.ts', import.meta.url));
  const script = `
    import { matmul, setThreads } from ${JSON.stringify(index)};
    setThreads(2);
    const n = 200, a = new Float32Array(n * n).fill(1), out = new Float32Array(n * n);
    matmul(a, a.slice(), out, { m: n, k: n, n });
    console.log(out[0]);
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    timeout: 60_000,
    encoding: 'utf8',
  });
  t.equal(r.signal, null, 'not killed by the timeout');
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout.trim(), '200');
});

/** A "GEMM" whose unit u writes the scratch address of the thread that ran it (so: which thread), after ~0.1 ms of work. */
function whoModule(): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder();
  mod.importMemory('env', 'memory', 1, 16384, true);
  const f = mod.func(['i32', 'i32', 'i32', 'i32'], [], 'gemm');
  const [desc, u0, u1, scratch] = [0, 1, 2, 3];
  const [u, j] = [f.local('i32'), f.local('i32')];
  const busy = forRange(j, i32.const(0), i32.const(100_000), i32.const(1), f32.store(get(scratch), f32.const(1)));
  f.body = seq(
    forRange(u, get(u0), get(u1), i32.const(1), busy, [
      ...i32.add(get(desc), i32.shl(get(u), i32.const(2))),
      ...get(scratch),
      0x36, // i32.store
      2,
      0,
    ]),
  );
  return mod.build();
}

t.test(
  'jobs before the workers check in run on the calling thread, without waiting; afterwards workers join',
  async (t) => {
    const heap = new WasmHeap(16 * 1024 * 1024);
    const module = new WebAssembly.Module(whoModule());
    const gemm = new WebAssembly.Instance(module, { env: { memory: heap.memory } }).exports['gemm'] as GemmFn;
    const units = 32;
    const desc = heap.alloc(4 * units);
    const who = heap.i32(desc, units);
    const pool = new GemmPool(heap, module, gemm, 2, 64);
    t.teardown(() => pool.shutdown());
    // A Node worker takes tens of ms to boot; this job starts microseconds after the spawn.
    t.notOk(pool.ready, 'not ready right after the spawn');
    pool.run(desc, units, 2, 1);
    t.ok(
      who.every((s) => s === pool.scratchAddress(0)),
      'every unit of the first job ran on the calling thread',
    );
    await pool.whenReady;
    t.ok(pool.ready, 'ready once whenReady resolves');
    let byWorker = 0;
    for (let job = 0; job < 50 && byWorker === 0; job++) {
      who.fill(0);
      pool.run(desc, units, 2, 1);
      t.ok(
        who.every((s) => s === pool.scratchAddress(0) || s === pool.scratchAddress(1)),
        `job ${job}: every unit ran once`,
      );
      byWorker = who.filter((s) => s === pool.scratchAddress(1)).length;
    }
    t.ok(byWorker > 0, `the worker took ${byWorker} of ${units} units`);
  },
);
