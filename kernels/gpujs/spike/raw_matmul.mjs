// Spike: the same matmul written directly against WebGPU (no gpu.js), naive vs
// 16x16 workgroup-shared-memory tiling, to see what gpu.js's lack of
// workgroup memory costs. Synchronous device-resident handles (GPUBuffer) and
// explicit buffer lifetime, i.e. what a hand-rolled Backend would do.
// Run: node kernels/gpujs/spike/raw_matmul.mjs     (SIZES=256,512)
import { installNavigatorGpu, randn, maxAbsDiff, timeit } from './common.mjs';

const gpu = await installNavigatorGpu();
const adapter = await gpu.requestAdapter();
const device = await adapter.requestDevice();
const U = { STORAGE: 0x80, COPY_SRC: 0x04, COPY_DST: 0x08, MAP_READ: 0x01, UNIFORM: 0x40 };

const naive = `
struct P { M : u32, N : u32, K : u32, pad : u32 }
@group(0) @binding(0) var<uniform> p : P;
@group(0) @binding(1) var<storage, read> a : array<f32>;
@group(0) @binding(2) var<storage, read> b : array<f32>;
@group(0) @binding(3) var<storage, read_write> c : array<f32>;
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) g : vec3<u32>) {
  if (g.x >= p.N || g.y >= p.M) { return; }
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) { acc += a[g.y * p.K + k] * b[k * p.N + g.x]; }
  c[g.y * p.N + g.x] = acc;
}`;
const tiled = `
struct P { M : u32, N : u32, K : u32, pad : u32 }
@group(0) @binding(0) var<uniform> p : P;
@group(0) @binding(1) var<storage, read> a : array<f32>;
@group(0) @binding(2) var<storage, read> b : array<f32>;
@group(0) @binding(3) var<storage, read_write> c : array<f32>;
const T = 16u;
var<workgroup> As : array<f32, 256>;
var<workgroup> Bs : array<f32, 256>;
@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) g : vec3<u32>, @builtin(local_invocation_id) l : vec3<u32>) {
  var acc = 0.0;
  for (var t = 0u; t < p.K; t += T) {
    let ak = t + l.x; let bk = t + l.y;
    As[l.y * T + l.x] = select(0.0, a[g.y * p.K + ak], g.y < p.M && ak < p.K);
    Bs[l.y * T + l.x] = select(0.0, b[bk * p.N + g.x], bk < p.K && g.x < p.N);
    workgroupBarrier();
    for (var k = 0u; k < T; k++) { acc += As[l.y * T + k] * Bs[k * T + l.x]; }
    workgroupBarrier();
  }
  if (g.x < p.N && g.y < p.M) { c[g.y * p.N + g.x] = acc; }
}`;

function buffer(data, usage) {
  const buf = device.createBuffer({ size: data.byteLength, usage, mappedAtCreation: true });
  new Float32Array(buf.getMappedRange()).set(data);
  buf.unmap();
  return buf;
}
async function read(buf, n) {
  const st = device.createBuffer({ size: n * 4, usage: U.MAP_READ | U.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buf, 0, st, 0, n * 4);
  device.queue.submit([enc.finish()]);
  await st.mapAsync(1);
  const out = new Float32Array(st.getMappedRange().slice(0));
  st.destroy();
  return out;
}

for (const n of (process.env.SIZES || '256,512').split(',').map(Number)) {
  const a = randn(n * n, 1), b = randn(n * n, 2);
  const ref = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) { const av = a[i * n + k]; for (let j = 0; j < n; j++) ref[i * n + j] += av * b[k * n + j]; }
  const A = buffer(a, U.STORAGE), B = buffer(b, U.STORAGE);
  const C = device.createBuffer({ size: n * n * 4, usage: U.STORAGE | U.COPY_SRC });
  const Pm = buffer(new Float32Array(new Uint32Array([n, n, n, 0]).buffer), U.UNIFORM);
  for (const [name, code, wg] of [['naive', naive, 8], ['tiled16', tiled, 16]]) {
    const t0 = performance.now();
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
    const compileMs = performance.now() - t0;
    const bg = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [Pm, A, B, C].map((buffer, binding) => ({ binding, resource: { buffer } })) });
    const run = async () => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline); pass.setBindGroup(0, bg);
      pass.dispatchWorkgroups(Math.ceil(n / wg), Math.ceil(n / wg));
      pass.end();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
    };
    await run();
    const err = maxAbsDiff(await read(C, n * n), ref);
    const ms = await timeit(run, { reps: 3 });
    console.log(`[raw webgpu ${name}] matmul ${n}: ${ms.toFixed(1)} ms = ${(2 * n ** 3 / ms / 1e6).toFixed(2)} GFLOP/s (pipeline compile ${compileMs.toFixed(0)} ms), err ${err.toExponential(2)}`);
  }
  for (const x of [A, B, C, Pm]) x.destroy();
}
device.destroy();
