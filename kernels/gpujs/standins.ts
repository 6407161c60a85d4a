/**
 * CPU stand-ins for the gpu.js backend's composite kernels, run only where a kernel cannot be built
 * on a device (each call counted in `fallbacks()`): they compute on cpu-ref what the kernel would
 * have written, in its layout. Plus the chunk count of a chunked reduction.
 */
import type { AdamScalars, ReduceKind, Raw, Shape, TypedArray } from '../backend.js';
import type { cpuRef } from '../cpu/backend.js';
import type { ReduceChunking } from './codegen.js';
import type { RowKind } from './codegen_fused.js';

/** A CPU computation standing in for a kernel: cpu-ref and the inputs uploaded there. */
export type CpuFn = (be: typeof cpuRef, xs: Raw[]) => Raw;

/** Chunks for a reduction of `len` elements into each of `outSize` outputs: enough threads to fill a
 * GPU (~16k), at least 64 elements a chunk; 1 (no chunking) when the outputs alone fill it. */
export function reduceChunks(outSize: number, len: number): number {
  if (outSize >= 4096 || len < 256) return 1;
  return Math.max(1, Math.min(Math.ceil(len / 64), Math.ceil(16384 / outSize)));
}

/** The CPU's stand-in for a row-statistics kernel (codegen rowStatsSource), in float64. */
export function rowStatsOnHost(kind: RowKind, [x, g, w]: TypedArray[], n: number, eps: number): Float32Array {
  const rows = x.length / n,
    k = kind === 'layerNormBackward' ? 4 : 2,
    out = new Float32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    const row = Array.from(x.subarray(r * n, (r + 1) * n));
    if (kind === 'softmax') {
      const m = row.reduce((a, v) => (v > a ? v : a), row[0]);
      out[r * 2] = m;
      out[r * 2 + 1] = row.reduce((a, v) => a + Math.exp(v - m), 0);
      continue;
    }
    const mean = row.reduce((a, v) => a + v, 0) / n;
    const rstd = 1 / Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / n + eps);
    out.set([mean, rstd], r * k);
    if (kind === 'layerNormBackward') {
      let a = 0,
        b = 0;
      for (let j = 0; j < n; j++) {
        const gw = g[r * n + j] * w[j];
        a += gw;
        b += gw * (row[j] - mean) * rstd;
      }
      out.set([a / n, b / n], r * k + 2);
    }
  }
  return out;
}

/** The CPU's stand-in for an Adam kernel (where it cannot be built): nn/optim_adam.ts's host loop,
 * rounding each step to float32, for one of its outputs. */
export function adamOnHost(be: typeof cpuRef, which: 'm' | 'v' | 'p', xs: Raw[], s: AdamScalars): Raw {
  const [p, g, m, v] = xs.map((x) => be.readSync(x));
  const r = Math.fround,
    out = new Float32Array(p.length);
  for (let i = 0; i < p.length; i++) {
    let gi = s.negate ? -g[i] : g[i];
    if (s.l2) gi = r(gi + r(p[i] * s.wd));
    const mi = r(r(m[i] * s.b1) + r(gi * s.c1)),
      vi = r(r(v[i] * s.b2) + r(r(gi * s.c2) * gi));
    const theta = s.scale ? r(p[i] * s.decay) : p[i];
    out[i] =
      which === 'm'
        ? mi
        : which === 'v'
          ? vi
          : r(theta + r(r(mi * s.negStep) / r(r(r(Math.sqrt(vi)) / s.bc2) + s.eps)));
  }
  return be.upload(out, 'float32');
}

/** The CPU's stand-in for the chunked pass (where its kernel cannot be built): each output's whole
 * reduction in chunk 0 and, in the other chunks, what leaves it unchanged (0 for sum, itself for
 * max and min), laid out as the kernel's ([outputs, n] for 'rows', [n, outputs] for 'cols'), so the
 * second pass gives the CPU's value. */
export function chunkPartials(
  be: typeof cpuRef,
  kind: ReduceKind,
  a: Raw,
  shape: Shape,
  axes: readonly number[],
  n: number,
  layout: ReduceChunking,
): Raw {
  const r = be.reduce(kind, a, shape, axes);
  const full = be.readSync(r);
  be.dispose(r);
  const outs = full.length,
    out = new (full.constructor as new (n: number) => typeof full)(outs * n);
  for (let o = 0; o < outs; o++)
    for (let c = 0; c < n; c++)
      out[layout === 'rows' ? o * n + c : c * outs + o] = c === 0 || kind !== 'sum' ? full[o] : 0;
  return be.upload(out, r.dtype);
}

/** The CPU's stand-in for the EMA kernel: mom·keep + on·take, each step rounded to float32. */
export function emaOnHost(be: typeof cpuRef, [a, b]: Raw[], keep: number, take: number): Raw {
  const [x, y] = [be.readSync(a), be.readSync(b)];
  const r = Math.fround;
  return be.upload(
    Float32Array.from(x, (v, i) => r(r(v * keep) + r(y[i] * take))),
    'float32',
  );
}
