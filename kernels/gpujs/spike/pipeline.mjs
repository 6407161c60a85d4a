// Spike (e) + (g): chaining kernels with pipeline: true (+ immutable: true) so
// data stays on the device; reading back; freeing device memory.
// Run: node --expose-gc kernels/gpujs/spike/pipeline.mjs
import { MODES, makeGPU, settle, timeit, randn, maxAbsDiff, flat, teardown, readBack, loadGpuJs } from './common.mjs';

const N = 1 << 20;
const x = randn(N, 3);
const rssMB = () => (process.memoryUsage().rss / 2 ** 20).toFixed(0);

function describe(v) {
  if (v && typeof v.then === 'function') return 'Promise';
  if (v && v.type === 'WebGPUBuffer') return `WebGPUBufferResult{type:'WebGPUBuffer', output:[${v.output}], buffer.size:${v.buffer.size}}`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${v.length})`;
  return Object.prototype.toString.call(v);
}

for (const mode of MODES) {
  let gpu;
  try {
    gpu = await makeGPU(mode);
    const opt = { output: [N], pipeline: true, immutable: true };
    const scale = gpu.createKernel('function (x, s) { return x[this.thread.x] * s; }', opt);
    const addk = gpu.createKernel('function (a, b) { return a[this.thread.x] + b[this.thread.x]; }', opt);
    const expk = gpu.createKernel('function (a) { return Math.exp(a[this.thread.x]); }', opt);

    // --- what a pipeline call returns
    const p = scale(x, 0.5);
    const h1 = await settle(p);
    console.log(`[${mode}] scale(x) returns ${describe(p)} resolving to ${describe(h1)}`);

    // --- chain: y = exp(0.5x + 0.5x); only the last read awaits the device
    const h2 = await addk(h1, h1);
    const h3 = await expk(h2);
    const y = flat(await readBack(h3));
    console.log(`[${mode}] chain scale->add->exp: err ${maxAbsDiff(y, x.map(Math.exp)).toExponential(2)}`);

    // --- passing an un-awaited Promise as an argument
    try {
      const r = await settle(addk(scale(x, 1), h1));
      console.log(`[${mode}] un-awaited promise as argument: accepted (${describe(r)})`);
    } catch (e) {
      console.log(`[${mode}] un-awaited promise as argument: REJECTED: ${e.message.split('\n')[0]}`);
    }

    // --- a non-pipeline kernel fed a handle returns host data
    const sumk = gpu.createKernel('function (a) { return a[this.thread.x] * 2; }', { output: [N] });
    const host = await settle(sumk(h1));
    console.log(`[${mode}] non-pipeline kernel fed a handle -> ${describe(host)}`);

    // --- immutable: false aliases: the kernel reuses ONE output buffer
    const mut = gpu.createKernel('function (x, s) { return x[this.thread.x] * s; }', { output: [4], pipeline: true });
    const m1 = await settle(mut([1, 2, 3, 4], 1));
    const m2 = await settle(mut([1, 2, 3, 4], 10));
    console.log(`[${mode}] immutable:false -> first handle now reads ${JSON.stringify(Array.from(flat(await readBack(m1))))} (same object as second: ${m1 === m2}, same buffer: ${m1.buffer !== undefined && m1.buffer === m2.buffer})`);
    const i1 = await settle(scale(new Float32Array(N).fill(1), 1));
    const i2 = await settle(scale(new Float32Array(N).fill(1), 10));
    console.log(`[${mode}] immutable:true  -> first handle reads ${flat(await readBack(i1))[0]}, second ${flat(await readBack(i2))[0]}`);

    // --- steady-state chain timing: 10 dependent ops, one readback
    const chain = async () => {
      let h = await settle(scale(x, 1));
      for (let i = 0; i < 10; i++) {
        const nh = await settle(addk(h, h1));
        if (h.delete) h.delete();
        h = nh;
      }
      const r = await readBack(h);
      if (h.delete) h.delete();
      return r;
    };
    const ms = await timeit(chain, { reps: 5 });
    console.log(`[${mode}] 11-op chain of ${N}-elem ops, one readback: ${ms.toFixed(1)} ms (${(ms / 11).toFixed(2)} ms/op)`);

    // --- freeing (g)
    if (mode === 'webgpu') {
      const hh = await scale(x, 2);
      const buf = hh.buffer;
      const c = hh.clone();
      hh.delete();
      console.log(`[webgpu] after delete() of 1 of 2 refs: buffer._refs=${buf._refs}; clone still reads: ${flat(await c.toArray())[0] === x[0] * 2}`);
      c.delete();
      console.log(`[webgpu] after last delete(): buffer._refs=${buf._refs}`);
      try { await hh.toArray(); } catch (e) { console.log(`[webgpu] toArray after delete rejects: ${e.message}`); }
      // memory accounting: see memory.mjs
      // createPipeline (compiled multi-kernel plan) executor on webgpu
      const plan = gpu.createPipeline(function (v) { return expk(addk(v, v)); });
      const pr = flat(await plan(x));
      console.log(`[webgpu] createPipeline: executorKind=${plan.executorKind} fallbackReason=${plan.fallbackReason} err ${maxAbsDiff(pr, x.map((v) => Math.exp(2 * v))).toExponential(2)}`);
    }
    for (const h of [h1, h2, h3, i1, i2]) if (h && h.delete) h.delete();
  } catch (e) {
    console.log(`[${mode}] FAILED: ${e.stack}`);
  } finally {
    await teardown(gpu);
  }
}
