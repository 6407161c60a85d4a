// Spike: is webgpu-on-lavapipe feasible for CI=true test runs?
// Measures, in a fresh process: loading webgpu + gpu.js, adapter/device
// creation, first kernel compile+run, further kernel compiles, teardown.
// Run: node kernels/gpujs/spike/ci_timing.mjs            (prints JSON-ish lines)
//      NO_TEARDOWN=1 node kernels/gpujs/spike/ci_timing.mjs  (does the process still exit?)
const T0 = performance.now();
const lap = (() => { let t = T0; return () => { const n = performance.now(); const d = n - t; t = n; return d.toFixed(1); }; })();
const out = [];

const { create } = await import('webgpu');
out.push(`import webgpu ${lap()} ms`);
const { createRequire } = await import('node:module');
const { GPU, WebGPUContext } = createRequire(import.meta.url)('gpu.js');
out.push(`require gpu.js ${lap()} ms`);
Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true, writable: true });
const ok = await GPU.isWebGPUAvailable();
out.push(`GPU.isWebGPUAvailable() = ${ok} (requestAdapter) ${lap()} ms`);
if (!ok) { console.log(out.join('\n')); console.log('NO ADAPTER'); process.exit(1); }
await WebGPUContext.acquire();
out.push(`WebGPUContext.acquire() (adapter + device) ${lap()} ms`);
const gpu = new GPU({ mode: 'webgpu' });
const k1 = gpu.createKernel('function (a) { return a[this.thread.x] + 1; }', { output: [1024] });
await k1(new Float32Array(1024));
out.push(`first kernel: translate + WGSL compile + pipeline + run + readback ${lap()} ms`);
await k1(new Float32Array(1024));
out.push(`same kernel, 2nd call ${lap()} ms`);
const srcs = [
  'function (a) { return Math.exp(a[this.thread.x]); }',
  'function (a) { return Math.tanh(a[this.thread.x]) * 0.5; }',
  'function (a, b) { return a[this.thread.x] * b[this.thread.x]; }',
  'function (a, b) { let s = 0; for (let k = 0; k < 64; k++) { s += a[this.thread.y * 64 + k] * b[k * 64 + this.thread.x]; } return s; }',
  'function (a) { return Math.max(a[this.thread.x], 0); }',
];
for (const s of srcs) {
  const k = gpu.createKernel(s, { output: s.includes('thread.y') ? [64, 64] : [4096] });
  const nargs = s.slice(s.indexOf('(') + 1, s.indexOf(')')).split(',').length; // gpu.js rejects extra args ("arguments are miss-aligned")
  await k(...Array.from({ length: nargs }, () => new Float32Array(4096)));
}
out.push(`5 more distinct kernels (compile + first run) ${lap()} ms (${(performance.now() - T0).toFixed(0)} ms total so far)`);
if (!process.env.NO_TEARDOWN) {
  await gpu.destroy();
  await WebGPUContext.destroy();
  out.push(`gpu.destroy() + WebGPUContext.destroy() ${lap()} ms`);
}
out.push(`total in-process ${(performance.now() - T0).toFixed(0)} ms`);
console.log(out.join('\n'));
