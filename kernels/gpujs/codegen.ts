/**
 * gpu.js kernel sources, generated as strings: one per (op, rank, variant), with index arithmetic
 * written inline. Every kernel has a 1-D output (thread x = flat output index) and splits that
 * index into coordinates itself.
 *
 * Why the splitting looks odd: in gpu.js's WGSL, `/` and `%` compute in f32 and a local
 * initialised from an integer becomes f32 (docs/gpu_spike.md §5), and WGSL division may be off by
 * 2.5 ulp. So a quotient q = floor(t / n) is corrected by the remainder's sign, which makes the
 * split exact for every index below 2^24: the size limit of these backends.
 */
import type { ScalarFn1, ScalarFn2, ScalarFn3 } from '../backend.js';
import type { KernelSource } from './runtime.js';

type AnyFn = ScalarFn1 | ScalarFn2 | ScalarFn3;
type Types = KernelSource['types'];

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Statements that split `from` (row-major over r dims; `n(d)` names dim d's size) into the
 * coordinates `${p}0 .. ${p}{r-1}`. Dim 0's size is never needed. */
export function splitIndex(from: string, r: number, p: string, n: (d: number) => string): string {
  if (r === 0) return '';
  const s = [`let ${p}t${r - 1} = ${from};`];
  for (let d = r - 1; d >= 1; d--) {
    const q = `${p}q${d}`,
      c = `${p}${d}`,
      t = `${p}t${d}`,
      N = n(d);
    s.push(
      `let ${q} = Math.floor(${t} / ${N}); let ${c} = ${t} - ${q} * ${N};`,
      `if (${c} < 0) { ${q} = ${q} - 1; ${c} = ${c} + ${N}; }`,
      `if (${c} >= ${N}) { ${q} = ${q} + 1; ${c} = ${c} - ${N}; }`,
      `let ${p}t${d - 1} = ${q};`,
    );
  }
  s.push(`let ${p}0 = ${p}t0;`);
  return s.join('\n');
}

/** Σ_d coord_d * stride_d as an expression ('0' for rank 0). */
function dot(r: number, c: (d: number) => string, s: (d: number) => string): string {
  return r === 0
    ? '0'
    : range(r)
        .map((d) => `${c(d)} * ${s(d)}`)
        .join(' + ');
}

// ---- scalar functions ------------------------------------------------------------------------

/**
 * Device versions of scalar functions whose JS definition does not carry over to WGSL f32. The
 * engine's erf sums a Maclaurin series to |x| = 3, which cancels catastrophically in f32 (1e-4
 * error near 3) and, on WebGPU, fails to compile (an f32 loop counter counting down). This one:
 * a short series below 0.5, else Numerical Recipes' erfc (relative error < 1.2e-7).
 */
const F32_OVERRIDES: Record<string, string> = {
  // WGSL's pow is undefined for a negative base (real GPUs and lavapipe give NaN); JS gives
  // (-2)^3 = -8, and GELU-tanh's x.pow(3) needs that.
  pow: `function pow(a, b) {
    if (b === 0) { return 1; }
    if (a >= 0 || Math.floor(b) !== b) { return Math.pow(a, b); }
    const m = Math.pow(-a, b);
    return Math.floor(b * 0.5) * 2 === b ? m : -m;
  }`,
  erf: `function erf(x) {
    const ax = Math.abs(x);
    if (ax < 0.5) {
      const x2 = x * x;
      return 1.1283791670955126 * x * (1 - x2 * (0.3333333333333333 - x2 * (0.1 - x2 * (0.023809523809523808 - x2 * 0.004629629629629629))));
    }
    const t = 1 / (1 + 0.5 * ax);
    const y = t * Math.exp(-ax * ax - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
      t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0 ? 1 - y : y - 1;
  }`,
};

type Helper = (...xs: number[]) => number;
const fnNames = new WeakMap<AnyFn, { name: string; fns: Helper[] }>();
let fnCount = 0;
const HEAD = /^function\s*[\w$]*\s*\(/;

/** The source gpu.js should compile for `f`: its f32 override, else its own. */
function sourceOf(f: AnyFn): string {
  const src = F32_OVERRIDES[f.name] ?? f.toString();
  if (!HEAD.test(src))
    throw new Error(`gpu.js: scalar function '${f.name}' must be a plain \`function\` (got: ${src.slice(0, 40)})`);
  return src;
}

const compile = (src: string): Helper => new Function(`return (${src});`)() as Helper;

/** The helpers a scalar function declares with `withDeps` (kernels/backend.ts), transitively. */
function depsOf(f: AnyFn, seen = new Set<AnyFn>()): AnyFn[] {
  for (const d of (f as { deps?: readonly AnyFn[] }).deps ?? []) {
    if (!seen.has(d)) {
      seen.add(d);
      depsOf(d, seen);
    }
  }
  return [...seen];
}

/**
 * `f` under a fresh name, plus its helpers under their own names, as gpu.js needs: it re-parses
 * `toString()`, wants named `function`s, and would mix up two functions of one name (every
 * `new Function` is 'anonymous', e.g. each clamp's bounds). Arrow functions and methods throw.
 */
export function scalarFn(f: AnyFn): { name: string; fns: Helper[] } {
  let e = fnNames.get(f);
  if (!e) {
    const name = `vf${fnCount++}_${f.name.replace(/[^\w]/g, '') || 'anon'}`;
    const main = compile(sourceOf(f).replace(HEAD, `function ${name}(`));
    e = { name, fns: [main, ...depsOf(f).map((d) => compile(sourceOf(d)))] };
    fnNames.set(f, e);
  }
  return e;
}

/** Rounds toward zero as an Int32Array store does (NaN -> 0), for int32 results held as floats. */
function vlTrunc(v: number): number {
  if (v !== v) return 0;
  return v < 0 ? Math.ceil(v) : Math.floor(v);
}

// ---- sources ---------------------------------------------------------------------------------

/** out[i] = f(x0[view0(i)], ..., x{k-1}[view{k-1}(i)]) over a rank-r output.
 * Args: x0..x{k-1}, then per input (o, s0..s{r-1}), then n1..n{r-1}. */
export function elementwiseSource(f: AnyFn, k: number, r: number, intOut: boolean): KernelSource {
  const { name, fns } = scalarFn(f);
  const types: Types = {};
  const params: string[] = [];
  for (const j of range(k)) {
    params.push(`x${j}`);
    types[`x${j}`] = 'Array';
  }
  for (const j of range(k))
    for (const p of [`o${j}`, ...range(r).map((d) => `s${j}_${d}`)]) {
      params.push(p);
      types[p] = 'Integer';
    }
  for (let d = 1; d < r; d++) {
    params.push(`n${d}`);
    types[`n${d}`] = 'Integer';
  }
  const reads = range(k).map(
    (j) =>
      `x${j}[o${j} + ${dot(
        r,
        (d) => `c${d}`,
        (d) => `s${j}_${d}`,
      )}]`,
  );
  const call = `${name}(${reads.join(', ')})`;
  const src = `function (${params.join(', ')}) {
${splitIndex('this.thread.x', r, 'c', (d) => `n${d}`)}
return ${intOut ? `vlTrunc(${call})` : call};
}`;
  return { src, types, functions: intOut ? [...fns, vlTrunc] : fns };
}

/** A value `v` everywhere. Args: v. */
export function fullSource(): KernelSource {
  return { src: 'function (v) { return v; }', types: { v: 'Float' } };
}

export type ReduceOp = 'sum' | 'max' | 'min' | 'argmax' | 'argmin';

/** How a chunked reduction lays out its threads (reduceSource). */
export type ReduceChunking = 'rows' | 'cols';

/** Reduces x over rr reduced dims for each position of kr kept dims.
 * Args: x, ks0.., kn1.., rs0.., rn1.., len, then when chunked chunks, clen, nout. argmax/argmin need rr = 1.
 * Chunked (sum, max, min), so that a reduction to few outputs runs on many threads, with a second
 * reduce over the chunks to finish it (fused.ts reduceInChunks); each lays threads out so that
 * neighbouring threads read neighbouring floats:
 *   'rows' (the reduced elements are contiguous): thread t = o·chunks + c reduces the elements
 *          c, c + chunks, c + 2·chunks, ... of output o; partials [nout, chunks];
 *   'cols' (the outputs are contiguous): thread t = c·nout + o reduces elements [c·clen, (c+1)·clen)
 *          of output o; partials [chunks, nout]. */
export function reduceSource(kind: ReduceOp, kr: number, rr: number, chunked?: ReduceChunking): KernelSource {
  const types: Types = { x: 'Array' };
  const params = ['x'];
  const ints = (names: string[]): void => {
    for (const p of names) {
      params.push(p);
      types[p] = 'Integer';
    }
  };
  ints(range(kr).map((d) => `ks${d}`));
  ints(
    range(kr)
      .slice(1)
      .map((d) => `kn${d}`),
  );
  ints(range(rr).map((d) => `rs${d}`));
  ints(
    range(rr)
      .slice(1)
      .map((d) => `rn${d}`),
  );
  ints(chunked ? ['len', 'chunks', 'clen', 'nout'] : ['len']);
  // h0, h1: (output, chunk) for 'rows', (chunk, output) for 'cols'
  const split =
    chunked === 'rows'
      ? `${splitIndex('this.thread.x', 2, 'h', () => 'chunks')}\n${splitIndex('h0', kr, 'k', (d) => `kn${d}`)}`
      : chunked === 'cols'
        ? `${splitIndex('this.thread.x', 2, 'h', () => 'nout')}\n${splitIndex('h1', kr, 'k', (d) => `kn${d}`)}`
        : splitIndex('this.thread.x', kr, 'k', (d) => `kn${d}`);
  const base = `${split}
let base = ${dot(
    kr,
    (d) => `k${d}`,
    (d) => `ks${d}`,
  )};`;
  const at = (j: string): string =>
    rr <= 1
      ? `x[base + ${j} * rs0]`
      : `x[base + ${dot(
          rr,
          (d) => `r${d}`,
          (d) => `rs${d}`,
        )}]`;
  const inner = rr <= 1 ? '' : splitIndex('j', rr, 'r', (d) => `rn${d}`);
  let body: string;
  if (chunked) {
    if (kind !== 'sum' && kind !== 'max' && kind !== 'min') throw new Error(`reduceSource: ${kind} cannot be chunked`);
    const take =
      kind === 'sum' ? 'acc = acc + v;' : `if (i === 0 || v ${kind === 'max' ? '>' : '<'} acc || v !== v) { acc = v; }`;
    // The loop counts from 0 (WGSL increments integers only; h0, h1 are floats from the index math).
    body = `let acc = 0;
for (let i = 0; i < clen; i++) {
let j = ${chunked === 'rows' ? 'h1 + i * chunks' : 'h0 * clen + i'};
if (j < len) {
${inner}
let v = ${at('j')};
${take}
}
}
return acc;`;
  } else if (kind === 'sum') {
    body = `let acc = 0;
for (let j = 0; j < len; j++) {
${inner}
acc = acc + ${at('j')};
}
return acc;`;
  } else if (kind === 'max' || kind === 'min') {
    body = `let acc = x[base];
for (let j = 0; j < len; j++) {
${inner}
let v = ${at('j')};
if (v ${kind === 'max' ? '>' : '<'} acc || v !== v) { acc = v; }
}
return acc;`;
  } else {
    // first occurrence wins; a NaN counts as the extreme and stops the search (as the CPU does)
    body = `let best = 0;
let bv = x[base];
for (let j = 1; j < len; j++) {
let v = ${at('j')};
if (bv === bv) { if (v !== v || v ${kind === 'argmax' ? '>' : '<'} bv) { best = j; bv = v; } }
}
return best;`;
  }
  return { src: `function (${params.join(', ')}) {\n${base}\n${body}\n}`, types };
}

/** out[b, r, c] = Σ_k a[ao[b] + r*asi + k*ask] * b[bo[b] + k*bsk + c*bsj].
 * Args: a, b, ao, bo, asi, ask, bsk, bsj, K, M, N. */
export function matmulSource(): KernelSource {
  const types: Types = { a: 'Array', b: 'Array', ao: 'Array', bo: 'Array' };
  for (const p of ['asi', 'ask', 'bsk', 'bsj', 'K', 'M', 'N']) types[p] = 'Integer';
  const src = `function (a, b, ao, bo, asi, ask, bsk, bsj, K, M, N) {
${splitIndex('this.thread.x', 3, 'c', (d) => (d === 1 ? 'M' : 'N'))}
let pa = ao[c0] + c1 * asi;
let pb = bo[c0] + c2 * bsj;
let acc = 0;
for (let k = 0; k < K; k++) { acc = acc + a[pa + k * ask] * b[pb + k * bsk]; }
return acc;
}`;
  return { src, types };
}

/** torch.gather along `dim` of a rank-r x. Args: x, idx, s0..s{r-1} (x strides), n1..n{r-1} (index shape). */
export function gatherSource(r: number, dim: number): KernelSource {
  const types: Types = { x: 'Array', idx: 'Array' };
  const params = [
    'x',
    'idx',
    ...range(r).map((d) => `s${d}`),
    ...range(r)
      .slice(1)
      .map((d) => `n${d}`),
  ];
  for (const p of params.slice(2)) types[p] = 'Integer';
  const off = range(r)
    .filter((d) => d !== dim)
    .map((d) => `c${d} * s${d}`);
  const src = `function (${params.join(', ')}) {
${splitIndex('this.thread.x', r, 'c', (d) => `n${d}`)}
return x[${[...off, `idx[this.thread.x] * s${dim}`].join(' + ')}];
}`;
  return { src, types };
}

/** torch.scatter_add as a gather: each output element sums the src elements aimed at it.
 * Args: base, idx, src, ss0.. (src strides), m0.. (src shape), n1.. (base shape). */
export function scatterAddSource(r: number, dim: number): KernelSource {
  const types: Types = { base: 'Array', idx: 'Array', src: 'Array' };
  const params = [
    'base',
    'idx',
    'src',
    ...range(r).map((d) => `ss${d}`),
    ...range(r).map((d) => `m${d}`),
    ...range(r)
      .slice(1)
      .map((d) => `n${d}`),
  ];
  for (const p of params.slice(3)) types[p] = 'Integer';
  const others = range(r).filter((d) => d !== dim);
  const src = `function (${params.join(', ')}) {
${splitIndex('this.thread.x', r, 'c', (d) => `n${d}`)}
let acc = base[this.thread.x];
let ok = 1;
${others.map((d) => `if (c${d} >= m${d}) { ok = 0; }`).join('\n')}
if (ok > 0) {
let p0 = ${others.length ? others.map((d) => `c${d} * ss${d}`).join(' + ') : '0'};
for (let j = 0; j < m${dim}; j++) {
let p = p0 + j * ss${dim};
if (idx[p] === c${dim}) { acc = acc + src[p]; }
}
}
return acc;
}`;
  return { src, types };
}

/** Slices `index` along the middle of [outer, n, inner]. Args: x, idx, n, m, inner. */
export function indexSelectSource(): KernelSource {
  const src = `function (x, idx, n, m, inner) {
${splitIndex('this.thread.x', 3, 'c', (d) => (d === 1 ? 'm' : 'inner'))}
return x[(c0 * n + idx[c1]) * inner + c2];
}`;
  return { src, types: { x: 'Array', idx: 'Array', n: 'Integer', m: 'Integer', inner: 'Integer' } };
}

/** base + slices of src added at `index` along the middle of [outer, n, inner].
 * Args: base, idx, src, n, m, inner. */
export function indexAddSource(): KernelSource {
  const src = `function (base, idx, src, n, m, inner) {
${splitIndex('this.thread.x', 3, 'c', (d) => (d === 1 ? 'n' : 'inner'))}
let acc = base[this.thread.x];
for (let j = 0; j < m; j++) {
if (idx[j] === c1) { acc = acc + src[(c0 * m + j) * inner + c2]; }
}
return acc;
}`;
  return { src, types: { base: 'Array', idx: 'Array', src: 'Array', n: 'Integer', m: 'Integer', inner: 'Integer' } };
}

/**
 * A copy of `base` with a strided region replaced by src. Each output element finds its region
 * coordinates by dividing its offset by the region strides, largest first: unique when every
 * stride exceeds the span of the smaller ones (true of slices; checked by the caller).
 * Args: base, src, o, S0.. (strides, descending), R0.. (sizes), ss0.. (src strides).
 */
export function writeStridedSource(r: number): KernelSource {
  const types: Types = { base: 'Array', src: 'Array', o: 'Integer' };
  const params = [
    'base',
    'src',
    'o',
    ...range(r).map((d) => `S${d}`),
    ...range(r).map((d) => `R${d}`),
    ...range(r).map((d) => `ss${d}`),
  ];
  for (const p of params.slice(3)) types[p] = 'Integer';
  const steps = range(r).map(
    (d) => `let c${d} = Math.floor(rel / S${d}); let m${d} = rel - c${d} * S${d};
if (m${d} < 0) { c${d} = c${d} - 1; m${d} = m${d} + S${d}; }
if (m${d} >= S${d}) { c${d} = c${d} + 1; m${d} = m${d} - S${d}; }
rel = m${d};
if (c${d} < 0 || c${d} >= R${d}) { ok = 0; }
j = j + c${d} * ss${d};`,
  );
  const src = `function (${params.join(', ')}) {
let rel = this.thread.x - o;
let ok = 1;
if (rel < 0) { ok = 0; }
let j = 0;
${steps.join('\n')}
if (rel !== 0) { ok = 0; }
if (ok > 0) { return src[j]; }
return base[this.thread.x];
}`;
  return { src, types };
}
