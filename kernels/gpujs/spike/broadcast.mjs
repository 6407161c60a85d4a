// Spike (b): broadcasting binary op over flat 1-D buffers with index arithmetic.
// Run: node kernels/gpujs/spike/broadcast.mjs
//
// Two lowerings are compared:
//  A) flat output [n]; the output index is decomposed with % and Math.floor(/)
//     against per-dim sizes, and a/b offsets are accumulated with per-dim
//     strides (0 on broadcast dims). Shapes/strides are scalar i32 uniforms
//     (explicit argumentTypes: 'Integer'; strictIntegers does NOT do this on
//     webgpu), so ONE compiled kernel serves every shape of that rank
//     (dynamicOutput + dynamicArguments).
//     PITFALL: gpu.js's WGSL translation always evaluates `/` and `%` in f32
//     (web-gpu/function-node.js "`/` and `%` are always fractional"), so flat
//     index decomposition is exact only while the index < 2^24 = 16,777,216.
//     ALSO: a `let`/`const` local initialised from an integer expression decays
//     to f32 in gpu.js's WGSL (web-gpu/function-node.js astVariableDeclaration),
//     so index math through locals is f32 too.
//  B) output rank <= 3 via this.thread.{x,y,z}: no division, index expression
//     written INLINE (thread ids and Integer args stay i32): exact for any size
//     within the dispatch limits (x, y <= 65535 * 8, z <= 65535 on webgpu).
//     Higher ranks must be collapsed to <= 3 dims first (merge adjacent dims
//     that broadcast the same way).
import { MODES, makeGPU, settle, timeit, randn, maxAbsDiff, flat, teardown } from './common.mjs';

function add(a, b) { return a + b; }

/** Source for a rank-R flat broadcasting kernel calling scalar fn `f`. */
function flatBroadcastSource(f, R) {
  const dims = [...Array(R).keys()];
  const params = ['a', 'b', ...dims.map((d) => `s${d}`), ...dims.map((d) => `sa${d}`), ...dims.map((d) => `sb${d}`)];
  const body = [
    'let r = this.thread.x;',
    'let ia = 0;',
    'let ib = 0;',
  ];
  for (let d = R - 1; d >= 0; d--) {
    body.push(`let c${d} = r % s${d};`); // f32 in WGSL!
    body.push(`r = Math.floor(r / s${d});`);
    body.push(`ia = ia + c${d} * sa${d};`);
    body.push(`ib = ib + c${d} * sb${d};`);
  }
  body.push(`return ${f.name}(a[ia], b[ib]);`);
  return `function (${params.join(', ')}) {\n  ${body.join('\n  ')}\n}`;
}
/** argumentTypes object: arrays 'Array', everything else 'Integer' (i32 uniforms). */
function intTypes(src) {
  const names = src.slice(src.indexOf('(') + 1, src.indexOf(')')).split(',').map((t) => t.trim());
  return Object.fromEntries(names.map((n) => [n, n === 'a' || n === 'b' ? 'Array' : 'Integer']));
}

function contiguousStrides(shape) {
  const s = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}
/** strides of `inShape` broadcast to `outShape` (0 on broadcast dims), both rank R (left-padded with 1). */
function bcastStrides(inShape, outShape) {
  const R = outShape.length;
  const padded = [...Array(R - inShape.length).fill(1), ...inShape];
  const cs = contiguousStrides(padded);
  return padded.map((n, i) => (n === 1 && outShape[i] !== 1 ? 0 : cs[i]));
}
function refBroadcast(f, a, aShape, b, bShape, outShape) {
  const n = outShape.reduce((x, y) => x * y, 1);
  const sa = bcastStrides(aShape, outShape), sb = bcastStrides(bShape, outShape);
  const out = new Float32Array(n);
  for (let r0 = 0; r0 < n; r0++) {
    let r = r0, ia = 0, ib = 0;
    for (let d = outShape.length - 1; d >= 0; d--) {
      const c = r % outShape[d]; r = (r - c) / outShape[d];
      ia += c * sa[d]; ib += c * sb[d];
    }
    out[r0] = f(a[ia], b[ib]);
  }
  return out;
}

const R = 4;
for (const mode of MODES) {
  let gpu;
  try {
    gpu = await makeGPU(mode);
    // A) flat + index arithmetic
    const srcA = flatBroadcastSource(add, R);
    const kA = gpu.createKernel(srcA, {
      output: [1], functions: [add], argumentTypes: intTypes(srcA), dynamicOutput: true, dynamicArguments: true,
    });
    const cases = [
      { aShape: [8, 1, 64, 32], bShape: [1, 16, 64, 1] },
      { aShape: [64, 1024], bShape: [1024] },
      { aShape: [3, 1, 5], bShape: [4, 1] },
    ];
    for (const { aShape, bShape } of cases) {
      const outShape = [...Array(R)].map((_, i) => {
        const pa = [...Array(R - aShape.length).fill(1), ...aShape][i];
        const pb = [...Array(R - bShape.length).fill(1), ...bShape][i];
        return Math.max(pa, pb);
      });
      const n = outShape.reduce((x, y) => x * y, 1);
      const a = randn(aShape.reduce((x, y) => x * y, 1), 1), b = randn(bShape.reduce((x, y) => x * y, 1), 2);
      const args = [a, b, ...outShape, ...bcastStrides(aShape, outShape), ...bcastStrides(bShape, outShape)];
      kA.setOutput([n]);
      const out = flat(await settle(kA(...args)));
      const err = maxAbsDiff(out, refBroadcast(add, a, aShape, b, bShape, outShape));
      const ms = await timeit(async () => { await settle(kA(...args)); });
      console.log(`[${mode}] A flat  ${JSON.stringify(aShape)}+${JSON.stringify(bShape)} -> n=${n}: err ${err}, ${ms.toFixed(2)} ms`);
    }
    // A) past 2^24 elements: [2^21 + 8, 8] + [8]
    if (process.env.SKIP_BIG !== '1') {
      const outShape = [1, 1, (1 << 21) + 8, 8];
      const n = outShape[2] * 8;
      const a = new Float32Array(n).map((_, i) => i % 1024);
      const b = new Float32Array([0, 1, 2, 3, 4, 5, 6, 7]).map((v) => v * 1000);
      kA.setOutput([n]);
      const out = flat(await settle(kA(a, b, ...outShape, 0, 0, 8, 1, 0, 0, 0, 1)));
      let bad = 0, firstBad = -1;
      for (let i = 0; i < n; i++) if (out[i] !== a[i] + b[i % 8]) { bad++; if (firstBad < 0) firstBad = i; }
      console.log(`[${mode}] A flat  n=${n} (> 2^24): ${bad} wrong elements, first wrong index ${firstBad} (2^24 = ${1 << 24})`);
    }
    // B) rank-3 output via thread ids, index expressions inline (i32):
    //    out[z][y][x] = a[z*saz + y*say + x*sax] + b[z*sbz + y*sby + x*sbx]
    const srcB = `function (a, b, saz, say, sax, sbz, sby, sbx) {
      return add(a[this.thread.z * saz + this.thread.y * say + this.thread.x * sax],
                 b[this.thread.z * sbz + this.thread.y * sby + this.thread.x * sbx]);
    }`;
    const kB = gpu.createKernel(srcB, { output: [32, 64, 128], functions: [add], argumentTypes: intTypes(srcB), dynamicOutput: true, dynamicArguments: true });
    {
      const a = randn(128 * 64 * 32, 3), b = randn(64, 4); // a [128,64,32] + b [64,1]
      const r = await settle(kB(a, b, 64 * 32, 32, 1, 0, 1, 0));
      const out = flat(r);
      const err = maxAbsDiff(out, refBroadcast(add, a, [128, 64, 32], b, [64, 1], [128, 64, 32]));
      const ms = await timeit(async () => { await settle(kB(a, b, 64 * 32, 32, 1, 0, 1, 0)); });
      console.log(`[${mode}] B 3d    [128,64,32]+[64,1]: err ${err}, ${ms.toFixed(2)} ms, result is ${Array.isArray(r) ? 'nested Array<Array<Float32Array>>' : 'flat'}` +
        ` (rows share one buffer: ${r[0][0].buffer === r[127][63].buffer})`);
    }
    if (process.env.SKIP_BIG !== '1') {
      // B) past 2^24: out [513, 4096, 8] = 16,809,984 elements, b [8] broadcast
      const Z = 513, Y = 4096, X = 8, n = Z * Y * X;
      const a = new Float32Array(n).map((_, i) => i % 1024);
      const b = new Float32Array([0, 1, 2, 3, 4, 5, 6, 7]).map((v) => v * 1000);
      kB.setOutput([X, Y, Z]);
      const out = flat(await settle(kB(a, b, Y * X, X, 1, 0, 0, 1)));
      let bad = 0;
      for (let i = 0; i < n; i++) if (out[i] !== a[i] + b[i % 8]) bad++;
      console.log(`[${mode}] B 3d    n=${n} (> 2^24): ${bad} wrong elements`);
    }
  } catch (e) {
    console.log(`[${mode}] FAILED: ${e.stack}`);
  } finally {
    await teardown(gpu);
  }
}
