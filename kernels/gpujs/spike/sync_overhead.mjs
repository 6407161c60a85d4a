// Spike (h): is the gpu.js `cpu` mode (and `webasm`) synchronous, how fast is it,
// and what does one kernel call cost per mode (dispatch overhead for tiny ops).
// Run: node kernels/gpujs/spike/sync_overhead.mjs
import { MODES, makeGPU, settle, timeit, randn, flat, teardown } from './common.mjs';

const kind = (v) => (v && typeof v.then === 'function' ? 'Promise' : v?.constructor?.name);

for (const mode of MODES) {
  let gpu;
  try {
    gpu = await makeGPU(mode);
    const src = 'function (a, b) { return a[this.thread.x] * b[this.thread.x] + 1; }';
    const tiny = gpu.createKernel(src, { output: [4] });
    const a4 = new Float32Array([1, 2, 3, 4]);
    const r = tiny(a4, a4);
    console.log(`[${mode}] plain call returns ${kind(r)}`);
    await settle(r);
    const asyncK = gpu.createKernel(src, { output: [4], asyncMode: true });
    console.log(`[${mode}] asyncMode:true call returns ${kind(asyncK(a4, a4))}`);
    // per-call latency for a 4-element op (upload + dispatch + readback), and resident (pipeline)
    const lat = await timeit(async () => { await settle(tiny(a4, a4)); }, { warmup: 20, reps: 200 });
    const tinyP = gpu.createKernel(src, { output: [4], pipeline: true });
    const lp = await timeit(async () => { await settle(tinyP(a4, a4)); }, { warmup: 20, reps: 200 });
    console.log(`[${mode}] tiny op latency: ${(lat * 1000).toFixed(0)} us with readback, ${(lp * 1000).toFixed(0)} us pipeline (enqueue only)`);
    // throughput on 1M elements vs plain JS
    const N = 1 << 20;
    const a = randn(N, 1), b = randn(N, 2);
    const big = gpu.createKernel(src, { output: [N] });
    const ms = await timeit(async () => { await settle(big(a, b)); }, { reps: 5 });
    console.log(`[${mode}] a*b+1 over 1M: ${ms.toFixed(2)} ms`);
  } catch (e) {
    console.log(`[${mode}] FAILED: ${e.stack}`);
  } finally {
    await teardown(gpu);
  }
}
{
  const N = 1 << 20;
  const a = randn(N, 1), b = randn(N, 2);
  const ms = await timeit(async () => { const o = new Float32Array(N); for (let i = 0; i < N; i++) o[i] = a[i] * b[i] + 1; return o; }, { reps: 5 });
  console.log(`[plain-js] a*b+1 over 1M: ${ms.toFixed(2)} ms`);
}
