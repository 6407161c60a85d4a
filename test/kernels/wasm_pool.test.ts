// Threading: results are bit-identical for any thread count, workers restart after
// shutdown/setThreads, and idle workers never keep the process alive.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { alloc, free, heapStats, matmul, setThreads, shutdown, threads } from '../../kernels/wasm/index.js';

t.teardown(shutdown);

function random(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = s / 2 ** 31 - 1;
  }
  return x;
}

function product(threadCount: number, m: number, k: number, n: number, batch: number, transB: boolean): Float32Array {
  setThreads(threadCount);
  const out = new Float32Array(batch * m * n);
  // B broadcast over the batch, so a thread's range can start in the middle of an item.
  matmul(random(batch * m * k, 1), random(k * n, 2), out, { m, k, n, batch, transB, bBatchStride: 0 });
  return out;
}

t.test('1, 2 and 3 threads give bit-identical outputs', async (t) => {
  const initial = threads();
  for (const [m, k, n, batch] of [
    [129, 600, 97, 1],
    [63, 1031, 129, 3],
    [256, 256, 256, 1],
    [17, 2100, 201, 7],
  ] as const) {
    const one = product(1, m, k, n, batch, true);
    for (const count of [2, 3]) {
      const many = product(count, m, k, n, batch, true);
      t.ok(
        one.every((x, i) => Object.is(x, many[i])),
        `${m}x${k}x${n} batch ${batch}: ${count} threads`,
      );
    }
  }
  setThreads(initial);
});

t.test('workers see memory the heap grew after they started', async (t) => {
  const one = product(1, 200, 200, 200, 4, false); // >= PARALLEL_MIN_WORK, so 2 threads do run
  product(2, 200, 200, 200, 4, false); // workers are up
  const before = heapStats().byteLength;
  const big = alloc(16 * 1024 * 1024); // 64 MiB: the memory grows under the running workers
  t.ok(heapStats().byteLength > before, 'heap grew');
  const two = product(2, 200, 200, 200, 4, false); // staged above the old end of memory
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
  const before = product(2, 200, 200, 200, 1, false);
  shutdown();
  const after = product(2, 200, 200, 200, 1, false);
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
