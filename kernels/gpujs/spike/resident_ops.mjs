// Spike: per-op cost of device-resident elementwise ops on webgpu: immutable (fresh output
// buffer per call) vs mutable ping-pong between two kernels vs repeating one kernel.
// Run: node kernels/gpujs/spike/resident_ops.mjs
import { makeGPU, settle, timeit, randn, flat, teardown, loadGpuJs } from './common.mjs';
const gpu = await makeGPU('webgpu');
const { WebGPUContext } = loadGpuJs();
for (const N of [4, 1<<16, 1<<20]) {
const x = randn(N, 3);
const mk = (imm) => gpu.createKernel('function (a, b) { return a[this.thread.x] + b[this.thread.x]; }', { output: [N], pipeline: true, immutable: imm });
const up = gpu.createKernel('function (x) { return x[this.thread.x]; }', { output: [N], pipeline: true, immutable: true });
const h1 = await up(x);
const { device } = await WebGPUContext.acquire();
const kI = mk(true);
let h = await kI(h1, h1);
const tI = await timeit(async () => { for (let i=0;i<10;i++){ const n = await kI(h, h1); h.delete(); h = n; } await device.queue.onSubmittedWorkDone(); }, {reps:5});
const kA = mk(false), kB = mk(false);
let g = await kA(h1, h1);
const tP = await timeit(async () => { for (let i=0;i<5;i++){ const g2 = await kB(g, h1); g = await kA(g2, h1);} await device.queue.onSubmittedWorkDone(); }, {reps:5});
const tE = await timeit(async () => { for (let i=0;i<10;i++){ await kA(h1, h1);} await device.queue.onSubmittedWorkDone(); }, {reps:5});
console.log(`N=${N}: immutable new-buffer ${(tI/10).toFixed(3)} ms/op, mutable ping-pong ${(tP/10).toFixed(3)} ms/op, same-kernel repeat ${(tE/10).toFixed(3)} ms/op`);
}
await teardown(gpu);
