// Spike (f): integer inputs (Int32Array etc.) and float64 behaviour per mode.
// Run: node kernels/gpujs/spike/dtypes.mjs
import { MODES, makeGPU, settle, flat, teardown } from './common.mjs';

const ident = 'function (x) { return x[this.thread.x]; }';
const cases = {
  Int32Array_small: new Int32Array([-3, 0, 7, 123456]),
  Int32Array_2p24p1: new Int32Array([16777217, 16777219, -16777217, 2147483647]),
  Uint8Array: new Uint8Array([0, 1, 255, 128]),
  Float64Array: new Float64Array([1 + 1e-10, Math.PI, 1e-40, 1e300]),
  plain_Array: [1 + 1e-10, 0.1, 16777217, -2],
};

for (const mode of MODES) {
  let gpu;
  try {
    gpu = await makeGPU(mode);
    for (const [name, v] of Object.entries(cases)) {
      try {
        const k = gpu.createKernel(ident, { output: [v.length] });
        const r = await settle(k(v));
        console.log(`[${mode}] identity(${name}) -> ${r.constructor.name} ${JSON.stringify(Array.from(flat(r)))}`);
      } catch (e) {
        console.log(`[${mode}] identity(${name}) FAILED: ${e.message.split('\n')[0]}`);
      }
    }
    // integer arithmetic in a kernel: gather with an Int32Array of indices
    const gather = gpu.createKernel('function (src, idx) { return src[idx[this.thread.x]]; }', { output: [4] });
    const src = new Float32Array(100).map((_, i) => i * 10);
    console.log(`[${mode}] gather(src, Int32Array idx) -> ${JSON.stringify(Array.from(flat(await settle(gather(src, new Int32Array([99, 0, 42, 7]))))))}`);
    // f64 precision: in-kernel accumulation precision
    const acc = gpu.createKernel(`function (n) {
      let s = 0;
      for (let i = 0; i < n; i++) { s += 0.1; }
      return s - n * 0.1;
    }`, { output: [1], argumentTypes: { n: 'Integer' }, loopMaxIterations: 1 << 20 });
    console.log(`[${mode}] sum of 100000 x 0.1 minus 10000: ${flat(await settle(acc(100000)))[0]} (f64 JS: ${(() => { let s = 0; for (let i = 0; i < 100000; i++) s += 0.1; return s - 10000; })()})`);
    // integer scalar arguments typed Integer (i32): `/` and `%` still go through f32
    const idiv = gpu.createKernel('function (a, b) { return this.thread.x === 0 ? Math.floor(a / b) - 5592405 : a % b; }', { output: [2], argumentTypes: { a: 'Integer', b: 'Integer' } });
    console.log(`[${mode}] Integer args: floor(16777217 / 3) - 5592405, 16777217 % 3 -> ${JSON.stringify(Array.from(flat(await settle(idiv(16777217, 3)))))} (exact: [0,2])`);
    // bool / comparison results
    const cmp = gpu.createKernel('function (a, b) { return a[this.thread.x] > b[this.thread.x] ? 1 : 0; }', { output: [3] });
    console.log(`[${mode}] where-style compare -> ${JSON.stringify(Array.from(flat(await settle(cmp([1, 2, 3], [2, 2, 2])))))}`);
    // bitwise ops (native in WGSL per gpu.js)
    const bit = gpu.createKernel('function (a) { return (a[this.thread.x] >> 1) & 3; }', { output: [3] });
    console.log(`[${mode}] bitwise (a>>1)&3 on Int32Array [5,6,7] -> ${JSON.stringify(Array.from(flat(await settle(bit(new Int32Array([5, 6, 7]))))))}`);
    // NaN / Infinity propagation
    const nan = gpu.createKernel('function (a) { return a[this.thread.x] * 1; }', { output: [3] });
    console.log(`[${mode}] NaN/Inf pass-through -> ${JSON.stringify(Array.from(flat(await settle(nan(new Float32Array([NaN, Infinity, -Infinity]))))).map(String))}`);
  } catch (e) {
    console.log(`[${mode}] FAILED: ${e.stack}`);
  } finally {
    await teardown(gpu);
  }
}
