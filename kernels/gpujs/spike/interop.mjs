// Spike: interop between gpu.js webgpu kernels and raw WebGPU buffers.
// - upload a host array straight into a device buffer (no identity kernel dispatch)
//   and wrap it as a gpu.js WebGPUBufferResult, which gpu.js kernels accept;
// - take a gpu.js pipeline handle's GPUBuffer (handle.buffer) into a raw pass.
// Run: node kernels/gpujs/spike/interop.mjs
import { makeGPU, flat, teardown, loadGpuJs, maxAbsDiff, randn, timeit } from './common.mjs';

const gpu = await makeGPU('webgpu');
const { WebGPUContext, WebGPUBufferResult } = loadGpuJs();
const context = await WebGPUContext.acquire(); // the shared {adapter, device, isLost} gpu.js uses
const { device } = context;

const n = 1 << 20;
const x = randn(n, 9);
const double = gpu.createKernel('function (a) { return a[this.thread.x] * 2; }', { output: [n], pipeline: true, immutable: true });

// 1) host -> device buffer -> handle
const upload = (data, output = [data.length]) => {
  const buffer = device.createBuffer({ size: data.byteLength, usage: 0x80 | 0x04 | 0x08, mappedAtCreation: true }); // STORAGE|COPY_SRC|COPY_DST
  new Float32Array(buffer.getMappedRange()).set(data);
  buffer.unmap();
  // `kernel` is only used for readback (toArray -> kernel.readBufferResult); any built webgpu kernel will do
  return new WebGPUBufferResult({ buffer, output, context, kernel: double.kernel });
};
await double(x); // build once so double.kernel is a built WebGPUKernel
const hx = upload(x);
const hy = await double(hx);
console.log('raw-uploaded handle -> gpu.js kernel -> toArray: err', maxAbsDiff(flat(await hy.toArray()), x.map((v) => v * 2)));
console.log('hx.toArray() roundtrip err', maxAbsDiff(flat(await hx.toArray()), x));
const viaKernel = gpu.createKernel('function (a) { return a[this.thread.x]; }', { output: [n], pipeline: true, immutable: true });
const tUp = await timeit(async () => { const h = upload(x); h.delete(); await device.queue.onSubmittedWorkDone(); });
const tK = await timeit(async () => { const h = await viaKernel(x); h.delete(); await device.queue.onSubmittedWorkDone(); });
console.log(`upload 4 MiB: mappedAtCreation ${tUp.toFixed(2)} ms vs identity pipeline kernel ${tK.toFixed(2)} ms`);

// 2) raw compute pass over a gpu.js handle's buffer (here: in-place +1)
const module = device.createShaderModule({ code: `
@group(0) @binding(0) var<storage, read_write> v : array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g : vec3<u32>) {
  let i = g.x + g.y * 65535u * 64u;
  if (i < arrayLength(&v)) { v[i] = v[i] + 1.0; }
}` });
const pipe = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
const enc = device.createCommandEncoder();
const pass = enc.beginComputePass();
pass.setPipeline(pipe);
pass.setBindGroup(0, device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: hy.buffer } }] }));
pass.dispatchWorkgroups(Math.ceil(n / 64));
pass.end();
device.queue.submit([enc.finish()]);
console.log('raw pass on gpu.js handle buffer: err', maxAbsDiff(flat(await hy.toArray()), x.map((v) => v * 2 + 1)));
hx.delete(); hy.delete();
await teardown(gpu);
