// Spike (g): freeing device memory in webgpu mode.
// Run: node --expose-gc kernels/gpujs/spike/memory.mjs
// On lavapipe "device memory" is host memory, so process RSS shows it.
import { makeGPU, teardown, loadGpuJs } from './common.mjs';

const gpu = await makeGPU('webgpu');
const { WebGPUContext } = loadGpuJs();
const { device } = await WebGPUContext.acquire();
const rss = () => Math.round(process.memoryUsage().rss / 2 ** 20);
const settleDevice = async () => { await device.queue.onSubmittedWorkDone(); await new Promise((r) => setTimeout(r, 100)); };
const gc = async () => { if (globalThis.gc) { globalThis.gc(); await new Promise((r) => setTimeout(r, 100)); globalThis.gc(); } };

const n = 1 << 22; // 16 MiB per output
const K = 40;      // 640 MiB per batch
const k = gpu.createKernel('function (x) { return x[this.thread.x] + 1; }', { output: [n], pipeline: true, immutable: true });
const xs = new Float32Array(n);
(await k(xs)).delete();
await settleDevice();
const log = [];
const mark = async (what) => { await settleDevice(); log.push(`${what}: ${rss()} MB`); };
await mark('start');
let kept = [];
for (let i = 0; i < K; i++) kept.push(await k(xs));
await mark(`+${K} handles kept`);
for (const h of kept) h.delete();
kept = [];
await mark('after delete() of all');
for (let i = 0; i < K; i++) kept.push(await k(xs));
await mark(`+${K} kept again (reuses freed memory if delete() worked)`);
for (const h of kept) h.delete();
kept = [];
for (let i = 0; i < K; i++) await k(xs); // dropped WITHOUT delete()
await gc();
await mark(`+${K} dropped without delete(), after gc`);
for (let i = 0; i < K; i++) kept.push(await k(xs));
await mark(`+${K} kept (grows by ~${K * 16} MB if the dropped ones leaked)`);
for (const h of kept) h.delete();
k.destroy();
await gc();
await mark('kernel.destroy() + gc');
console.log(log.join('\n'));
await teardown(gpu);
