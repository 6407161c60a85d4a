// Spike (d): matmul 256 / 512, GFLOP/s, per mode.
// Run: node kernels/gpujs/spike/matmul.mjs        (SIZES=256,512)
//
// gpu.js exposes no workgroup shared memory, so this is the naive kernel:
// one thread per C element, 2-D output [N, M] (thread.x = column j, thread.y =
// row i), a K-loop with strides passed as Integer uniforms (so transA/transB/
// batch offsets are just different strides of ONE compiled kernel).
// Timed variants:
//   e2e     : host arrays in, host array out (upload + compute + readback)
//   resident: (webgpu) A, B already device handles, output pipeline handle,
//             wait with device.queue.onSubmittedWorkDone() (compute only)
//   webasm threaded: asyncMode: true -> worker pool (needs >= 4096 outputs)
import { MODES, makeGPU, settle, timeit, randn, maxAbsDiff, flat, teardown, loadGpuJs, intArgs } from './common.mjs';

// index expressions are written inline: thread ids, the literal-initialised
// loop counter and Integer-typed args stay i32 (a `const i = this.thread.y`
// local would decay to f32 and be exact only below 2^24).
const mmSrc = `function (a, b, K, aOff, aRs, aCs, bOff, bRs, bCs) {
  let acc = 0;
  for (let k = 0; k < K; k++) {
    acc += a[aOff + this.thread.y * aRs + k * aCs] * b[bOff + k * bRs + this.thread.x * bCs];
  }
  return acc;
}`;
const mmTypes = intArgs(mmSrc, ['a', 'b']);

function refMatmul(a, b, M, K, N) {
  const c = new Float32Array(M * N);
  for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) {
    const av = a[i * K + k];
    for (let j = 0; j < N; j++) c[i * N + j] += av * b[k * N + j];
  }
  return c;
}

const SIZES = (process.env.SIZES || '256,512').split(',').map(Number);
const results = [];
for (const mode of MODES) {
  let gpu;
  try {
    gpu = await makeGPU(mode);
    for (const n of SIZES) {
      const M = n, K = n, N = n, flops = 2 * M * N * K;
      const a = randn(M * K, 1), b = randn(K * N, 2);
      const ref = refMatmul(a, b, M, K, N);
      const args = [a, b, K, 0, K, 1, 0, N, 1]; // row-major, no transpose
      const kmm = gpu.createKernel(mmSrc, { output: [N, M], argumentTypes: mmTypes, loopMaxIterations: 1 << 20 });
      const t0 = performance.now();
      const c = flat(await settle(kmm(...args)));
      const first = performance.now() - t0;
      const err = maxAbsDiff(c, ref);
      const ms = await timeit(async () => { await settle(kmm(...args)); }, { reps: n >= 512 ? 3 : 5 });
      const line = `[${mode}] matmul ${n}: e2e ${ms.toFixed(1)} ms = ${(flops / ms / 1e6).toFixed(2)} GFLOP/s (first call ${first.toFixed(0)} ms), maxAbsErr ${err.toExponential(2)}`;
      console.log(line); results.push(line);

      // transposed B via strides: pass B^T stored [N, K] with bRs = 1, bCs = K
      const bT = new Float32Array(N * K);
      for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) bT[j * K + k] = b[k * N + j];
      const cT = flat(await settle(kmm(a, bT, K, 0, K, 1, 0, 1, K)));
      console.log(`[${mode}] matmul ${n} transB via strides: maxAbsErr ${maxAbsDiff(cT, ref).toExponential(2)}`);

      if (mode === 'webgpu') {
        const { WebGPUContext } = loadGpuJs();
        const { device } = await WebGPUContext.acquire();
        const up = gpu.createKernel('function (x) { return x[this.thread.x]; }', { output: [M * K], pipeline: true, immutable: true });
        const ha = await up(a), hb = await up(b);
        const kres = gpu.createKernel(mmSrc, { output: [N, M], argumentTypes: mmTypes, loopMaxIterations: 1 << 20, pipeline: true });
        const run = async () => { await kres(ha, hb, K, 0, K, 1, 0, N, 1); await device.queue.onSubmittedWorkDone(); };
        const msr = await timeit(run, { reps: 3 });
        const chk = flat(await (await kres(ha, hb, K, 0, K, 1, 0, N, 1)).toArray());
        const l2 = `[${mode}] matmul ${n}: resident ${msr.toFixed(1)} ms = ${(flops / msr / 1e6).toFixed(2)} GFLOP/s, err ${maxAbsDiff(chk, ref).toExponential(2)}`;
        console.log(l2); results.push(l2);
        ha.delete(); hb.delete();
      }
      if (mode === 'webasm') {
        const kth = gpu.createKernel(mmSrc, { output: [N, M], argumentTypes: mmTypes, loopMaxIterations: 1 << 20, asyncMode: true });
        const r = flat(await kth(...args));
        const mst = await timeit(async () => { await kth(...args); }, { reps: 3 });
        const l2 = `[${mode}] matmul ${n}: threaded (asyncMode) ${mst.toFixed(1)} ms = ${(flops / mst / 1e6).toFixed(2)} GFLOP/s, err ${maxAbsDiff(r, ref).toExponential(2)}`;
        console.log(l2); results.push(l2);
      }
    }
  } catch (e) {
    console.log(`[${mode}] FAILED: ${e.stack}`);
  } finally {
    await teardown(gpu);
  }
}
// plain JS ikj loop for comparison
for (const n of SIZES) {
  const a = randn(n * n, 1), b = randn(n * n, 2);
  const ms = await timeit(async () => refMatmul(a, b, n, n, n), { reps: 3 });
  console.log(`[plain-js ikj] matmul ${n}: ${ms.toFixed(1)} ms = ${(2 * n ** 3 / ms / 1e6).toFixed(2)} GFLOP/s`);
}
