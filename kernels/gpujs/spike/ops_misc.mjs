// Spike: the remaining Backend ops as gpu.js kernels — gather (embedding rows),
// scatterAdd (embedding backward) lowered gather-style via a host-built CSR,
// where(cond, a, b), and copyStrided (materialise a permuted/strided view).
// gpu.js kernels can only write their own output element (no atomics, no
// scatter), so scatterAdd must be inverted into a per-output gather.
// Run: node kernels/gpujs/spike/ops_misc.mjs
import { MODES, makeGPU, settle, timeit, randn, maxAbsDiff, flat, teardown } from './common.mjs';

const V = 1000, D = 64, T = 4096; // vocab, dim, tokens
const table = randn(V * D, 1);
const ids = new Int32Array(T).map((_, i) => (i * 7919) % 97); // repeated ids (97 distinct)
const gOut = randn(T * D, 2);

// host reference
const refGather = new Float32Array(T * D);
for (let t = 0; t < T; t++) refGather.set(table.subarray(ids[t] * D, ids[t] * D + D), t * D);
const refScatter = new Float32Array(V * D);
for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) refScatter[ids[t] * D + d] += gOut[t * D + d];

// CSR of ids (host side): rowStart[v]..rowStart[v+1] lists the token positions with id v
function csr(ids, V) {
  const count = new Int32Array(V + 1);
  for (const v of ids) count[v + 1]++;
  for (let v = 0; v < V; v++) count[v + 1] += count[v];
  const pos = new Int32Array(ids.length), fill = count.slice(0, V);
  for (let t = 0; t < ids.length; t++) pos[fill[ids[t]]++] = t;
  return { rowStart: count, pos };
}

for (const mode of MODES) {
  let gpu;
  try {
    gpu = await makeGPU(mode);
    const o = { loopMaxIterations: 1 << 20 };
    // gather: out[t][d] = table[ids[t]][d]; 2-D output [D, T]
    const gather = gpu.createKernel('function (tab, ids, D) { return tab[ids[this.thread.y] * D + this.thread.x]; }', { ...o, output: [D, T] });
    const g = flat(await settle(gather(table, ids, D)));
    const gms = await timeit(async () => { await settle(gather(table, ids, D)); });
    // scatterAdd as CSR segment sum: out[v][d] = sum_{p in rowStart[v]..} gOut[pos[p]][d]
    // NB: `for (let p = rowStart[v]; ...; p++)` does NOT compile on webgpu: a local
    // initialised from an array read is f32 and WGSL has no f32 `++`. Loop from a literal 0.
    const scat = gpu.createKernel(`function (g, rowStart, pos, D) {
      const start = rowStart[this.thread.y];
      const cnt = rowStart[this.thread.y + 1] - start;
      let acc = 0;
      for (let p = 0; p < cnt; p++) { acc += g[pos[start + p] * D + this.thread.x]; }
      return acc;
    }`, { ...o, output: [D, V] });
    const t0 = performance.now();
    const { rowStart, pos } = csr(ids, V);
    const csrMs = performance.now() - t0;
    const s = flat(await settle(scat(gOut, rowStart, pos, D)));
    const sms = await timeit(async () => { await settle(scat(gOut, rowStart, pos, D)); });
    // where(cond, a, b) with cond as 0/1 floats
    const cond = new Float32Array(T * D).map((_, i) => (i % 3 === 0 ? 1 : 0));
    const where = gpu.createKernel('function (c, a, b) { const i = this.thread.x; return c[i] !== 0 ? a[i] : b[i]; }', { ...o, output: [T * D] });
    const w = flat(await settle(where(cond, gOut, refGather)));
    const wref = cond.map((c, i) => (c !== 0 ? gOut[i] : refGather[i]));
    // copyStrided: materialise the transpose of a [T, D] matrix (view strides [1, D]) into contiguous [D, T]
    const copy = gpu.createKernel('function (x, off, s0, s1) { return x[off + this.thread.y * s0 + this.thread.x * s1]; }', { ...o, output: [T, D] });
    const c = flat(await settle(copy(gOut, 0, 1, D)));
    const cref = new Float32Array(T * D);
    for (let i = 0; i < D; i++) for (let j = 0; j < T; j++) cref[i * T + j] = gOut[j * D + i];
    console.log(`[${mode}] gather [${T}x${D}] err ${maxAbsDiff(g, refGather)} ${gms.toFixed(2)} ms | scatterAdd via CSR err ${maxAbsDiff(s, refScatter).toExponential(1)} ${sms.toFixed(2)} ms (+${csrMs.toFixed(2)} ms host CSR) | where err ${maxAbsDiff(w, wref)} | copyStrided(transpose) err ${maxAbsDiff(c, cref)}`);
  } catch (e) {
    console.log(`[${mode}] FAILED: ${e.stack}`);
  } finally {
    await teardown(gpu);
  }
}
