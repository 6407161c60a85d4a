// Spike: which Math.* functions transpile (webgpu -> WGSL, webasm -> wasm),
// their accuracy vs f64 JS, and edge cases (pow of negative base, tanh of large x, ...).
// Run: node kernels/gpujs/spike/mathfns.mjs
import { MODES, makeGPU, settle, flat, teardown } from './common.mjs';

const xs = new Float32Array([-3.5, -1, -0.3, 0, 0.3, 1, 2.5, 20, 100]);
const unary = ['abs', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh', 'cbrt', 'ceil', 'clz32', 'cos', 'cosh', 'exp', 'expm1',
  'floor', 'fround', 'log', 'log10', 'log1p', 'log2', 'round', 'sign', 'sin', 'sinh', 'sqrt', 'tan', 'tanh', 'trunc'];
const binary = ['atan2', 'pow', 'max', 'min', 'hypot', 'imul'];

// erf is not in JS Math: a helper function (Abramowitz & Stegun 7.1.26, |err| < 1.5e-7)
function erf(x) {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}
function erfRef(x) { // high-accuracy series/continued fraction via f64 (for checking only)
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const y = 1 - t * Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? y : -y;
}

const relErr = (got, want) => {
  if (Number.isNaN(want)) return Number.isNaN(got) ? 0 : Infinity;
  if (!Number.isFinite(want)) return got === want ? 0 : Infinity;
  return Math.abs(got - want) / Math.max(Math.abs(want), 1); // relative, absolute below 1
};

for (const mode of MODES) {
  let gpu;
  const ok = [], bad = [], failed = [];
  try {
    gpu = await makeGPU(mode);
    const check = async (name, src, ref, fns) => {
      try {
        const k = gpu.createKernel(src, { output: [xs.length], functions: fns || [] });
        const r = flat(await settle(k(xs)));
        let worst = 0, worstAt = null;
        for (let i = 0; i < xs.length; i++) {
          const want = Math.fround(ref(xs[i]));
          const e = relErr(r[i], want);
          if (e > worst) { worst = e; worstAt = `${name}(${xs[i]}) = ${r[i]} want ${want}`; }
        }
        (worst <= 1e-5 ? ok : bad).push(worst <= 1e-5 ? name : `${worstAt} (rel ${worst.toExponential(1)})`);
      } catch (e) {
        failed.push(`${name}: ${e.message.split('\n')[0].slice(0, 100)}`);
      }
    };
    for (const f of unary) await check(f, `function (x) { return Math.${f}(x[this.thread.x]); }`, Math[f]);
    for (const f of binary) await check(f, `function (x) { return Math.${f}(x[this.thread.x], 3); }`, (v) => Math[f](v, 3));
    await check('x**3', 'function (x) { const v = x[this.thread.x]; return v ** 3; }', (v) => v ** 3);
    await check('pow(x,0.5)', 'function (x) { return Math.pow(x[this.thread.x], 0.5); }', (v) => Math.pow(v, 0.5));
    await check('erf(helper)', 'function (x) { return erf(x[this.thread.x]); }', erfRef, [erf]);
    await check('consts', 'function (x) { return Math.PI + Math.E + Math.SQRT2 + Math.LN2 + x[this.thread.x] * 0; }', () => Math.PI + Math.E + Math.SQRT2 + Math.LN2);
    await check('random', 'function (x) { return Math.random() < 1 ? 1 : 0; }', () => 1);
    console.log(`[${mode}] OK (err <= 1e-5, relative above 1 / absolute below, on [-3.5..100]): ${ok.join(' ')}`);
    console.log(`[${mode}] INACCURATE / edge-case differences:\n    ${bad.join('\n    ') || '(none)'}`);
    console.log(`[${mode}] DO NOT COMPILE:\n    ${failed.join('\n    ') || '(none)'}`);
  } catch (e) {
    console.log(`[${mode}] FAILED: ${e.stack}`);
  } finally {
    await teardown(gpu);
  }
}
