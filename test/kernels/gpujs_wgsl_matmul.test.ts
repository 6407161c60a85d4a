// The webgpu device's tiled WGSL matmul (kernels/gpujs/wgsl_matmul.ts) against cpu-ref, through the
// Backend API so that every operand layout the engine produces is covered: both transposes, row
// strides wider than the matrix, batches with their own and with shared (broadcast) operands,
// sizes on and across the 64-wide tiles and K across the 16-deep slices, one-element products, and
// a result scattered by cOffsets (written in place by the WGSL kernel, gathered after gpu.js's).
// Also: the kernel is the one that ran (deviceProfile's label), its
// results feed gpu.js kernels and read back, and it is on unless turned off (setWgslMatmul(false),
// VLGRAD_WGSL_MATMUL=0). gpu.js's own matmul kernel, which serves every product when it is off,
// gets the same layouts.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { Rng, type Backend } from '../../engine/index.js';
import type { MatmulParams } from '../../kernels/backend.js';
import type { GpuJsBackend } from '../../kernels/gpujs/backend.js';
import { fallbacks, resetFallbacks } from '../../kernels/index.js';
import { getBackend } from '../../kernels/select.js';
import { forEachBackend } from '../helpers/backends.js';

function plusOne(x: number): number {
  return x + 1;
}

const ONLY_WEBGPU = { exclude: ['cpu', 'cpu-ref', 'webasm', 'gpujs-cpu'] as const };
const ref = getBackend('cpu-ref');

interface Case {
  name: string;
  batch: number;
  m: number;
  k: number;
  n: number;
  transA?: boolean;
  transB?: boolean;
  /** Extra elements per stored row of A / B (a strided view of a wider matrix). */
  padA?: number;
  padB?: number;
  /** B is one matrix shared by the whole batch (offset 0 for every product). */
  sharedB?: boolean;
  /** Write product i into columns [i·n, (i+1)·n) of an [m, batch·n] result (cOffsets). */
  scatter?: boolean;
}

const CASES: Case[] = [
  { name: 'one element', batch: 1, m: 1, k: 1, n: 1 },
  { name: 'one tile exactly', batch: 1, m: 64, k: 16, n: 64 },
  { name: 'across tiles, K across slices', batch: 1, m: 65, k: 17, n: 129 },
  { name: 'transposed A', batch: 1, m: 70, k: 33, n: 40, transA: true },
  { name: 'transposed B (a Linear layer)', batch: 1, m: 100, k: 48, n: 72, transB: true },
  { name: 'both transposed', batch: 1, m: 31, k: 65, n: 66, transA: true, transB: true },
  { name: 'strided rows', batch: 1, m: 40, k: 30, n: 50, padA: 5, padB: 7 },
  { name: 'batched (attention heads)', batch: 12, m: 17, k: 16, n: 17, transB: true },
  { name: 'batch sharing B', batch: 5, m: 33, k: 20, n: 9, sharedB: true },
  { name: 'scattered result', batch: 3, m: 9, k: 11, n: 13, scatter: true },
  { name: 'thin: a vector times a matrix', batch: 1, m: 1, k: 300, n: 200 },
];

/** The operands as stored (with any padding), the params, and the product on cpu-ref. */
function build(c: Case, seed: number) {
  const rng = new Rng(seed);
  const [ar, ac] = c.transA ? [c.k, c.m] : [c.m, c.k];
  const [br, bc] = c.transB ? [c.n, c.k] : [c.k, c.n];
  const lda = ac + (c.padA ?? 0),
    ldb = bc + (c.padB ?? 0);
  const aSize = c.batch * ar * lda,
    bSize = (c.sharedB ? 1 : c.batch) * br * ldb;
  const a = Float32Array.from({ length: aSize }, () => rng.normal());
  const b = Float32Array.from({ length: bSize }, () => rng.normal());
  const p: MatmulParams = {
    batch: c.batch,
    m: c.m,
    k: c.k,
    n: c.n,
    transA: !!c.transA,
    transB: !!c.transB,
    aOffsets: Int32Array.from({ length: c.batch }, (_, i) => i * ar * lda),
    bOffsets: Int32Array.from({ length: c.batch }, (_, i) => (c.sharedB ? 0 : i * br * ldb)),
    ...(c.padA ? { aRowStride: lda } : {}),
    ...(c.padB ? { bRowStride: ldb } : {}),
    // attention's head merge: product i fills columns [i·n, (i+1)·n) of a [m, batch·n] result
    ...(c.scatter
      ? {
          cOffsets: Int32Array.from({ length: c.batch }, (_, i) => i * c.n),
          cRowStride: c.batch * c.n,
          cSize: c.batch * c.m * c.n,
        }
      : {}),
  };
  const want = ref.readSync(ref.matmul(ref.upload(a.slice(), 'float32'), ref.upload(b.slice(), 'float32'), p));
  return { a, b, p, want };
}

t.test('the WGSL matmul = cpu-ref on every operand layout', async (tt) => {
  await forEachBackend(
    tt,
    async (td, be: Backend) => {
      const gpu = be as GpuJsBackend;
      td.teardown(() => {
        gpu.setWgslMatmul(true); // the default, for the test files after this one
      });
      resetFallbacks();
      for (const wgsl of [true, false]) {
        td.equal(gpu.setWgslMatmul(wgsl), wgsl, `the WGSL kernel ${wgsl ? 'compiled on this adapter' : 'is off'}`);
        const kernel = wgsl ? 'matmul (wgsl)' : 'matmul ';
        for (const [i, c] of CASES.entries()) {
          const { a, b, p, want } = build(c, 100 + i);
          const { result, stats } = await gpu.deviceProfile(() =>
            be.read(be.matmul(be.upload(a.slice(), 'float32'), be.upload(b.slice(), 'float32'), p)),
          );
          td.ok(
            stats.some((s) => s.kernel.startsWith(kernel)),
            `${c.name}: ran '${kernel.trim()}' (${stats.map((s) => s.kernel).join(', ')})`,
          );
          if (c.scatter)
            td.equal(
              stats.some((s) => s.kernel.startsWith('gather')),
              !wgsl,
              `${c.name}: ${wgsl ? 'written in place by the WGSL kernel' : "gpu.js's kernel, then a gather"}`,
            );
          let worst = 0;
          for (let j = 0; j < want.length; j++)
            worst = Math.max(worst, Math.abs(result[j] - want[j]) / (1 + Math.abs(want[j])));
          td.equal(result.length, want.length, `${c.name}: size`);
          // float32 sums of k products in another order than cpu-ref's loop
          td.ok(worst <= 2e-6 * Math.sqrt(c.k) + 1e-7, `${c.name} (${kernel.trim()}): worst relative error ${worst}`);
        }
      }
      gpu.setWgslMatmul(true);
      // several products queued before any is read: each dispatch must see its own shape and offsets
      const queued = CASES.slice(1, 9).map((c, i) => {
        const { a, b, p, want } = build(c, 200 + i);
        return { c, want, out: be.matmul(be.upload(a.slice(), 'float32'), be.upload(b.slice(), 'float32'), p) };
      });
      for (const { c, want, out } of queued) {
        const got = await be.read(out);
        const worst = Math.max(...Array.from(want, (w, j) => Math.abs(got[j] - w) / (1 + Math.abs(w))));
        td.ok(worst <= 2e-6 * Math.sqrt(c.k) + 1e-7, `${c.name}, queued with others: worst relative error ${worst}`);
      }
      // a WGSL result feeds a gpu.js kernel (exp) and reads back through gpu.js
      const x = be.upload(Float32Array.of(1, 2, 3, 4), 'float32');
      const p: MatmulParams = {
        batch: 1,
        m: 2,
        k: 2,
        n: 2,
        transA: false,
        transB: false,
        aOffsets: Int32Array.of(0),
        bOffsets: Int32Array.of(0),
      };
      const prod = be.matmul(x, x, p); // [[7, 10], [15, 22]]
      const e = be.unary(plusOne, prod, { shape: [4], strides: [1], offset: 0 }, 'float32');
      td.same(Array.from(await be.read(e)), [8, 11, 16, 23], 'the product flows into a gpu.js kernel');
      td.same(fallbacks(), {}, 'no product fell back to the CPU');
    },
    ONLY_WEBGPU,
  );
});

t.test('the WGSL matmul is on unless VLGRAD_WGSL_MATMUL=0', async (tt) => {
  await forEachBackend(
    tt,
    async (td) => {
      const code = `
        import { initBackend } from './kernels/index.js';
        import { randn, matmul, getBackend } from './engine/index.js';
        const be = await initBackend('webgpu');
        const cpu = getBackend('cpu');
        const a = randn([70, 70], { device: cpu });
        const { stats } = await be.deviceProfile(() => matmul(a.to(be), a.to(be)).data());
        console.log(JSON.stringify(stats.map((s) => s.kernel)));
        process.exit(0);
      `;
      const run = (flag?: string): string[] => {
        const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
          encoding: 'utf8',
          env: { ...process.env, ...(flag === undefined ? {} : { VLGRAD_WGSL_MATMUL: flag }) },
          timeout: 120_000,
        });
        const line = r.stdout.trim().split('\n').pop() ?? '';
        return line.startsWith('[') ? (JSON.parse(line) as string[]) : [`failed: ${r.stderr.slice(-300)}`];
      };
      td.same(run(), ['matmul (wgsl) 4900'], 'default: the WGSL kernel');
      td.same(run('0'), ['matmul 4900'], "VLGRAD_WGSL_MATMUL=0: gpu.js's kernel");
    },
    ONLY_WEBGPU,
  );
});
