/**
 * gpu.js kernel sources for the fused ops of the gpu.js backend (fused.ts): the Adam(W) and EMA
 * steps, and the row statistics and per-element passes of softmax, layer norm and its backward.
 * The primitives' sources are in codegen.ts.
 */
import { splitIndex } from './codegen.js';
import type { KernelSource } from './runtime.js';

type Types = KernelSource['types'];

/**
 * One output of the Adam(W) update (nn/optim_adam.ts's host loop, op for op): the new first moment
 * ('m'), second moment ('v') or parameter ('p', which recomputes m and v rather than read them back).
 * Args: p, g, m, v, b1, b2, c1, c2, wd, decay, negStep, bc2, eps, negate, l2, scale.
 */
export function adamSource(which: 'm' | 'v' | 'p'): KernelSource {
  const types: Types = { p: 'Array', g: 'Array', m: 'Array', v: 'Array' };
  for (const f of ['b1', 'b2', 'c1', 'c2', 'wd', 'decay', 'negStep', 'bc2', 'eps']) types[f] = 'Float';
  for (const f of ['negate', 'l2', 'scale']) types[f] = 'Integer';
  const m = 'm[i] * b1 + gi * c1',
    v = 'v[i] * b2 + gi * c2 * gi';
  const result =
    which === 'm'
      ? `return ${m};`
      : which === 'v'
        ? `return ${v};`
        : `let theta = p[i];
if (scale > 0) { theta = p[i] * decay; }
let mi = ${m};
let vi = ${v};
return theta + (mi * negStep) / (Math.sqrt(vi) / bc2 + eps);`;
  const src = `function (p, g, m, v, b1, b2, c1, c2, wd, decay, negStep, bc2, eps, negate, l2, scale) {
let i = this.thread.x;
let gi = g[i];
if (negate > 0) { gi = -gi; }
if (l2 > 0) { gi = gi + p[i] * wd; }
${result}
}`;
  return { src, types };
}

/** The fused row-wise ops that start from per-row statistics. */
export type RowKind = 'softmax' | 'layerNorm' | 'layerNormBackward';

/**
 * Per-row statistics for the fused row-wise ops over rows of n floats; thread t computes value
 * t % k of row t / k:
 *   'softmax'           k = 2: max, Σ e^(x - max).                                Args: x, n, eps
 *   'layerNorm'         k = 2: mean, 1/√(var + eps) (biased variance).             Args: x, n, eps
 *   'layerNormBackward' k = 4: mean, 1/√(var + eps), mean(g·w), mean(g·w·x̂).      Args: x, g, w, n, eps
 * Each thread loops over its row (a row is short next to the thread count).
 */
export function rowStatsSource(kind: RowKind): KernelSource {
  const back = kind === 'layerNormBackward';
  const types: Types = back
    ? { x: 'Array', g: 'Array', w: 'Array', n: 'Integer', eps: 'Float' }
    : { x: 'Array', n: 'Integer', eps: 'Float' };
  const head = `${splitIndex('this.thread.x', 2, 'h', () => (back ? '4' : '2'))}
let base = h0 * n;`;
  const moments = `let s = 0;
for (let k1 = 0; k1 < n; k1++) { s = s + x[base + k1]; }
let mean = s / n;
let q = 0;
for (let k2 = 0; k2 < n; k2++) { let c = x[base + k2] - mean; q = q + c * c; }
let rstd = 1 / Math.sqrt(q / n + eps);`;
  let body: string;
  if (kind === 'softmax') {
    body = `let m = x[base];
for (let k1 = 1; k1 < n; k1++) { let v = x[base + k1]; if (v > m) { m = v; } }
let r = m;
if (h1 > 0) {
let e = 0;
for (let k2 = 0; k2 < n; k2++) { e = e + Math.exp(x[base + k2] - m); }
r = e;
}
return r;`;
  } else if (kind === 'layerNorm') {
    body = `${moments}
let r = mean;
if (h1 > 0) { r = rstd; }
return r;`;
  } else {
    body = `${moments}
let r = mean;
if (h1 > 0.5) { r = rstd; }
if (h1 > 1.5) {
let a = 0;
for (let k3 = 0; k3 < n; k3++) {
let gw = g[base + k3] * w[k3];
if (h1 > 2.5) { a = a + gw * ((x[base + k3] - mean) * rstd); } else { a = a + gw; }
}
r = a / n;
}
return r;`;
  }
  const params = back ? 'x, g, w, n, eps' : 'x, n, eps';
  return { src: `function (${params}) {\n${head}\n${body}\n}`, types };
}

/** softmax (log = 0) or log-softmax (log = 1) of each element from its row's max and Σ e^(x - max)
 * (rowStatsSource 'softmax'). Args: x, st, n, log. */
export function softmaxApplySource(): KernelSource {
  const src = `function (x, st, n, log) {
${splitIndex('this.thread.x', 2, 'h', () => 'n')}
let v = x[this.thread.x] - st[h0 * 2];
let r = Math.exp(v) / st[h0 * 2 + 1];
if (log > 0) { r = v - Math.log(st[h0 * 2 + 1]); }
return r;
}`;
  return { src, types: { x: 'Array', st: 'Array', n: 'Integer', log: 'Integer' } };
}

/** Layer norm of each element from its row's mean and 1/√(var + eps): (x - mean)·rstd·w + b.
 * Args: x, st, w, b, n. */
export function layerNormApplySource(): KernelSource {
  const src = `function (x, st, w, b, n) {
${splitIndex('this.thread.x', 2, 'h', () => 'n')}
return (x[this.thread.x] - st[h0 * 2]) * st[h0 * 2 + 1] * w[h1] + b[h1];
}`;
  return { src, types: { x: 'Array', st: 'Array', w: 'Array', b: 'Array', n: 'Integer' } };
}

/**
 * Layer norm's backward from the row statistics (rowStatsSource 'layerNormBackward'), as
 * [rows + 2, n]: dx = (g·w - mean(g·w) - x̂·mean(g·w·x̂))·rstd in the first rows, then
 * dweight = Σ_rows g·x̂ and dbias = Σ_rows g (one thread a column, looping over the rows).
 * Args: x, g, w, st, n, rows.
 */
export function layerNormBackwardApplySource(): KernelSource {
  const src = `function (x, g, w, st, n, rows) {
${splitIndex('this.thread.x', 2, 'h', () => 'n')}
let r = 0;
if (h0 < rows) {
let xh = (x[this.thread.x] - st[h0 * 4]) * st[h0 * 4 + 1];
r = (g[this.thread.x] * w[h1] - st[h0 * 4 + 2] - xh * st[h0 * 4 + 3]) * st[h0 * 4 + 1];
} else {
let a = 0;
for (let q = 0; q < rows; q++) {
let gi = g[q * n + h1];
if (h0 > rows) { a = a + gi; } else { a = a + gi * ((x[q * n + h1] - st[q * 4]) * st[q * 4 + 1]); }
}
r = a;
}
return r;
}`;
  return {
    src,
    types: { x: 'Array', g: 'Array', w: 'Array', st: 'Array', n: 'Integer', rows: 'Integer' },
  };
}

/** A momentum (EMA) step, mom·keep + on·take (nn/ema.ts). Args: mom, on, keep, take. */
export function emaSource(): KernelSource {
  return {
    src: 'function (mom, on, keep, take) {\nlet i = this.thread.x;\nreturn mom[i] * keep + on[i] * take;\n}',
    types: { mom: 'Array', on: 'Array', keep: 'Float', take: 'Float' },
  };
}
