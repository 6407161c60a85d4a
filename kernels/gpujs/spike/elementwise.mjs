// Spike (a): elementwise kernel from a named, self-contained scalar function.
// Run: node kernels/gpujs/spike/elementwise.mjs      (SPIKE_MODES=webgpu,webasm,cpu)
//
// Pattern: register the scalar fn with `functions: [fn]` (or gpu.addFunction),
// and build the kernel source as a STRING that calls it by name:
//   `function (x) { return ${fn.name}(x[this.thread.x]); }`
// gpu.js createKernel accepts a string source. The scalar fn must be a plain
// `function name(...) {...}` (it is re-parsed from fn.toString() by acorn).
import { MODES, makeGPU, settle, timeit, randn, maxAbsDiff, flat, teardown, now } from './common.mjs';

function exp(x) { return Math.exp(x); }
function gelu(x) { return 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }
function relu(x) { return Math.max(x, 0); }

function unaryKernel(gpu, f, n) {
  // one generic "map" kernel per scalar fn; output size fixed at build
  const src = `function (x) { return ${f.name}(x[this.thread.x]); }`;
  return gpu.createKernel(src, { output: [n], functions: [f], dynamicOutput: true, dynamicArguments: true });
}

const N = Number(process.env.N || 1 << 20);
const x = randn(N, 7);

for (const mode of MODES) {
  let gpu;
  try {
    gpu = await makeGPU(mode);
    for (const f of [exp, gelu, relu]) {
      const t0 = now();
      const k = unaryKernel(gpu, f, N);
      const r0 = flat(await settle(k(x)));
      const first = now() - t0; // build (translate + compile) + first run + readback
      const ref = x.map(f);
      const err = maxAbsDiff(r0, ref);
      const ms = await timeit(async () => { await settle(k(x)); }, { reps: 5 });
      console.log(`[${mode}] ${f.name.padEnd(5)} n=${N} first call ${first.toFixed(1)} ms, steady ${ms.toFixed(2)} ms ` +
        `(${(N / ms / 1e3).toFixed(1)} Melem/s incl upload+readback), maxAbsErr ${err.toExponential(2)}, result ${r0.constructor.name}`);
    }
    // dynamic output: same kernel, smaller n (needs dynamicOutput + dynamicArguments)
    const k = unaryKernel(gpu, exp, N);
    await settle(k(x));
    k.setOutput([1000]);
    const small = flat(await settle(k(x.subarray(0, 1000))));
    console.log(`[${mode}] resize to 1000 after build: ok, length ${small.length}, err ${maxAbsDiff(small, x.subarray(0, 1000).map(exp)).toExponential(2)}`);
    // addFunction variant (GPU-wide registry) + anonymous-function pitfall
    gpu.addFunction(function sq(v) { return v * v; });
    const ksq = gpu.createKernel('function (x) { return sq(x[this.thread.x]); }', { output: [4] });
    console.log(`[${mode}] addFunction(sq):`, Array.from(flat(await settle(ksq([1, 2, 3, 4])))));
    try {
      const anon = (v) => v + 1;
      const ka = gpu.createKernel(`function (x) { return ${anon.name || 'anon'}(x[this.thread.x]); }`, { output: [4], functions: [anon] });
      console.log(`[${mode}] arrow fn:`, Array.from(flat(await settle(ka([1, 2, 3, 4])))));
    } catch (e) {
      console.log(`[${mode}] arrow fn as helper FAILS: ${e.message.split('\n')[0]}`);
    }
  } catch (e) {
    console.log(`[${mode}] FAILED: ${e.stack}`);
  } finally {
    await teardown(gpu);
  }
}
