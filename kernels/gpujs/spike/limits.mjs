// Spike: per-mode limits and error messages — max output size, 2-D/3-D dispatch
// limits, number of array arguments, argument growth without dynamicArguments,
// argument count mismatch, output resize without dynamicOutput.
// Run: node kernels/gpujs/spike/limits.mjs
import { MODES, makeGPU, settle, flat, teardown } from './common.mjs';

const first = (e) => e.message.split('\n')[0].slice(0, 160);

for (const mode of MODES) {
  let gpu;
  const log = (what, r) => console.log(`[${mode}] ${what}: ${r}`);
  try {
    gpu = await makeGPU(mode);
    const tryRun = async (what, fn) => {
      try { log(what, `ok ${await fn()}`); } catch (e) { log(what, `THROWS: ${first(e)}`); }
    };
    await tryRun('1-D output 2^25 + 64 floats (> 128 MiB)', async () => {
      const k = gpu.createKernel('function () { return 1; }', { output: [(1 << 25) + 64] });
      const r = await settle(k());
      const n = r.length; k.destroy(); return `(length ${n})`;
    });
    await tryRun('1-D output 2^24 floats (64 MiB), > 65535 workgroups of 64', async () => {
      const k = gpu.createKernel('function () { return this.thread.x; }', { output: [1 << 24] });
      const r = flat(await settle(k()));
      k.destroy(); return `(last = ${r[r.length - 1]})`;
    });
    await tryRun('2-D output [600000, 1]', async () => {
      const k = gpu.createKernel('function () { return 1; }', { output: [600000, 1] });
      const r = flat(await settle(k())); k.destroy(); return `(length ${r.length})`;
    });
    await tryRun('3-D output [1, 1, 70000]', async () => {
      const k = gpu.createKernel('function () { return 1; }', { output: [1, 1, 70000] });
      const r = flat(await settle(k())); k.destroy(); return `(length ${r.length})`;
    });
    for (const nArr of [7, 8, 12]) {
      await tryRun(`${nArr} array arguments`, async () => {
        const names = Array.from({ length: nArr }, (_, i) => `a${i}`);
        const k = gpu.createKernel(`function (${names.join(', ')}) { return ${names.map((n) => `${n}[this.thread.x]`).join(' + ')}; }`, { output: [4] });
        const r = flat(await settle(k(...names.map(() => [1, 1, 1, 1])))); k.destroy(); return `(${r[0]})`;
      });
    }
    await tryRun('argument grows between calls without dynamicArguments', async () => {
      const k = gpu.createKernel('function (a) { return a[this.thread.x]; }', { output: [4] });
      await settle(k([1, 2, 3, 4]));
      const r = flat(await settle(k([1, 2, 3, 4, 5, 6, 7, 8]))); k.destroy(); return `(${Array.from(r)})`;
    });
    await tryRun('too many arguments', async () => {
      const k = gpu.createKernel('function (a) { return a[this.thread.x]; }', { output: [4] });
      const r = flat(await settle(k([1, 2, 3, 4], [5]))); k.destroy(); return `(${Array.from(r)})`;
    });
    await tryRun('setOutput after build without dynamicOutput', async () => {
      const k = gpu.createKernel('function (a) { return a[this.thread.x]; }', { output: [4] });
      await settle(k([1, 2, 3, 4]));
      k.setOutput([2]); return '';
    });
    await tryRun('return an Array(4) per thread (vec4 output)', async () => {
      const k = gpu.createKernel('function (a) { const v = a[this.thread.x]; return [v, v * 2, v * 3, v * 4]; }', { output: [2] });
      const r = await settle(k([1, 2]));
      return `(${JSON.stringify(Array.from(r, (x) => Array.from(x)))})`;
    });
    await tryRun('kernel map (createKernelMap)', async () => {
      const k = gpu.createKernelMap({ twice: function twice(v) { return v * 2; } }, function (a) { return twice(a[this.thread.x]) + 1; }, { output: [2] });
      const r = await settle(k([1, 2]));
      return `(${Object.keys(r)})`;
    });
  } catch (e) {
    console.log(`[${mode}] FAILED: ${e.stack}`);
  } finally {
    await teardown(gpu);
  }
}
