// Spike (c): reduction over an axis.
// Run: node kernels/gpujs/spike/reduce.mjs
//
// Lowering: view x as [outer, len, inner] (contiguous), reduce the middle axis.
// One thread per output element, output 2-D [inner, outer] (thread.x = inner,
// thread.y = outer) so no index division is needed; a dynamic-bound loop over
// `len` (scalar Integer uniform). Full reductions go two-pass: chunk partials
// (one thread per chunk) then a single-thread (or CPU) final pass.
import { MODES, makeGPU, settle, timeit, randn, maxAbsDiff, flat, teardown, intArgs } from './common.mjs';

// index expressions inline (i32); see matmul.mjs
const sumSrc = `function (x, len, inner) {
  let acc = 0;
  for (let k = 0; k < len; k++) { acc += x[(this.thread.y * len + k) * inner + this.thread.x]; }
  return acc;
}`;
// inner == 1: 1-D output (workgroup 64x1x1). A 2-D output [1, outer] would run
// 8x8 workgroups with 7 of 8 lanes idle on webgpu.
const sumRowsSrc = `function (x, len) {
  let acc = 0;
  for (let k = 0; k < len; k++) { acc += x[this.thread.x * len + k]; }
  return acc;
}`;
const maxSrc = `function (x, len, inner) {
  let acc = -3.4e38;
  for (let k = 0; k < len; k++) { acc = Math.max(acc, x[(this.thread.y * len + k) * inner + this.thread.x]); }
  return acc;
}`;

function refReduce(x, outer, len, inner, op, init) {
  const out = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
    let acc = init;
    for (let k = 0; k < len; k++) acc = op(acc, x[(o * len + k) * inner + i]);
    out[o * inner + i] = acc;
  }
  return out;
}

const shapes = [
  { outer: 256, len: 1024, inner: 1, note: 'last axis (softmax/layernorm rows)' },
  { outer: 1, len: 1024, inner: 256, note: 'first axis (bias grad)' },
  { outer: 16, len: 64, inner: 256, note: 'middle axis' },
  { outer: 2048, len: 768, inner: 1, note: 'BERT-ish rows' },
];

for (const mode of MODES) {
  let gpu;
  try {
    gpu = await makeGPU(mode);
    const opts = { output: [1, 1], dynamicOutput: true, dynamicArguments: true, loopMaxIterations: 1 << 30 };
    const kSum = gpu.createKernel(sumSrc, { ...opts, argumentTypes: intArgs(sumSrc, ['x']) });
    const kMax = gpu.createKernel(maxSrc, { ...opts, argumentTypes: intArgs(maxSrc, ['x']) });
    const kRows = gpu.createKernel(sumRowsSrc, { ...opts, output: [1], argumentTypes: intArgs(sumRowsSrc, ['x']) });
    for (const { outer, len, inner, note } of shapes) {
      const x = randn(outer * len * inner, 11);
      kSum.setOutput([inner, outer]);
      kMax.setOutput([inner, outer]);
      const s = flat(await settle(kSum(x, len, inner)));
      const m = flat(await settle(kMax(x, len, inner)));
      const es = maxAbsDiff(s, refReduce(x, outer, len, inner, (a, b) => a + b, 0));
      const em = maxAbsDiff(m, refReduce(x, outer, len, inner, Math.max, -Infinity));
      const ms = await timeit(async () => { await settle(kSum(x, len, inner)); });
      let rows = '';
      if (inner === 1) {
        kRows.setOutput([outer]);
        const r = flat(await settle(kRows(x, len)));
        const msr = await timeit(async () => { await settle(kRows(x, len)); });
        rows = `; 1-D rows kernel err ${maxAbsDiff(r, s).toExponential(2)} ${msr.toFixed(2)} ms`;
      }
      console.log(`[${mode}] sum/max [${outer},${len},${inner}] (${note}): sumErr ${es.toExponential(2)} maxErr ${em} ${ms.toFixed(2)} ms${rows}`);
    }
    // full reduction, two-pass (pipeline for pass 1 so partials stay on device)
    const N = 1 << 22, CH = 4096;
    const x = randn(N, 5);
    const part = gpu.createKernel(sumRowsSrc, { output: [N / CH], argumentTypes: intArgs(sumRowsSrc, ['x']), pipeline: true, loopMaxIterations: 1 << 30 });
    const fin = gpu.createKernel(sumRowsSrc, { output: [1], argumentTypes: intArgs(sumRowsSrc, ['x']), loopMaxIterations: 1 << 30 });
    const run = async () => flat(await settle(fin(await settle(part(x, CH)), N / CH)))[0];
    const total = await run();
    let ref = 0; for (let i = 0; i < N; i++) ref += x[i];
    const ms = await timeit(run);
    console.log(`[${mode}] full sum n=${N} two-pass: ${total.toFixed(3)} vs f64 ref ${ref.toFixed(3)}, ${ms.toFixed(2)} ms`);
  } catch (e) {
    console.log(`[${mode}] FAILED: ${e.stack}`);
  } finally {
    await teardown(gpu);
  }
}
