/**
 * The gpu.js backend's fused ops: a few launches where the engine's composites take many, because on
 * a GPU a training step is bound by its launch count (docs/devices.md). Each returns null where it
 * does not apply (a dtype other than float32, an empty tensor): the engine then runs the composite.
 *
 *   adamStep       Adam(W): new m, new v, new parameter (3 launches; ~15 ops); m, v replaced in place;
 *                  on webgpu one hand-written WGSL launch (wgsl_adam.ts)
 *   emaStep        a momentum step, mom·keep + on·take (1 launch; 3 ops)
 *   softmaxRows    row statistics (max, Σ e^(x-max)), then one pass (2 launches; 5 ops)
 *   layerNormRows  row statistics (mean, 1/√(var+ε)), then one pass (2 launches; 11 ops)
 *   layerNormBackwardRows  statistics, then dx and the column sums dweight, dbias (2; ~15 ops)
 *   reduceInChunks a reduction to few outputs as per-chunk partials, then a second reduce
 *
 * Kernel sources: codegen_fused.ts; CPU stand-ins where a kernel cannot be built: standins.ts.
 */
import type { AdamScalars, DType, Raw, ReduceKind, Shape } from '../backend.js';
import { reduceSource, type ReduceChunking } from './codegen.js';
import * as K from './codegen_fused.js';
import type { RowKind } from './codegen_fused.js';
import type { KernelSource, Value } from './runtime.js';
import { adamOnHost, chunkPartials, emaOnHost, reduceChunks, rowStatsOnHost, type CpuFn } from './standins.js';

/** What these ops (and indexing.ts) need of the backend. */
export interface Launcher {
  /** GpuJsBackend's launch: kernel `key` over `size` outputs on `inputs`, then `extra` args. */
  launch(
    op: string,
    key: string,
    make: () => KernelSource,
    size: number,
    dtype: DType,
    inputs: Raw[],
    extra: unknown[],
    cpu: CpuFn,
    label?: string,
    custom?: (vals: Value[]) => Value | Promise<Value> | null,
  ): Raw;
  /** Whether the one-launch WGSL Adam(W) step compiled (webgpu; wgsl_adam.ts). */
  hasWgslAdam(): boolean;
  /** That step on the operands' values: m and v rewritten in place, the new parameter returned. */
  wgslAdam(vals: Value[], size: number, s: AdamScalars): Value | Promise<Value>;
  dispose(x: Raw): void;
  /** GpuJsBackend's reduce (the second pass of a chunked reduction). */
  reduce(kind: ReduceKind, x: Raw, shape: Shape, axes: readonly number[]): Raw;
  /** Throws where host-known indices fall outside [0, n) (indexing.ts). */
  checkIndex(op: string, index: Raw, n: number): void;
  /** From this point in program order `dst` holds `src`'s buffer (an in-place update); `src` is spent. */
  replace(dst: Raw, src: Raw): void;
}

/** Adam(W): one WGSL launch on webgpu (m and v rewritten in place), else three gpu.js launches (m and
 * v replaced in program order). Returns the new parameter. */
export function adamStep(k: Launcher, p: Raw, grad: Raw, m: Raw, v: Raw, s: AdamScalars): Raw | null {
  if (p.dtype !== 'float32' || p.size === 0) return null;
  const ins = [p, grad, m, v];
  const args = [s.b1, s.b2, s.c1, s.c2, s.wd, s.decay, s.negStep, s.bc2, s.eps, +s.negate, +s.l2, +s.scale];
  if (k.hasWgslAdam()) {
    // No stand-in can do this step's job: the CPU reference would return the parameter and leave the
    // moments stale. So a failure is an error (at the next read, as on webgpu), never a fallback.
    const broken: CpuFn = () => {
      throw new Error('adamStep: the WGSL Adam kernel failed on this device');
    };
    return k.launch(
      'adamStep',
      'adam:wgsl',
      () => K.adamSource('p'), // never built: the WGSL step below runs or throws
      p.size,
      'float32',
      ins,
      args,
      broken,
      'adamStep',
      (vals) => k.wgslAdam(vals, p.size, s),
    );
  }
  const part = (which: 'm' | 'v' | 'p'): Raw =>
    k.launch(
      'adamStep',
      `adam:${which}`,
      () => K.adamSource(which),
      p.size,
      'float32',
      ins,
      args,
      (be, xs) => adamOnHost(be, which, xs, s),
    );
  const [nm, nv, np] = [part('m'), part('v'), part('p')];
  k.replace(m, nm);
  k.replace(v, nv);
  return np;
}

/** The momentum (EMA) step in one launch. */
export function emaStep(k: Launcher, mom: Raw, on: Raw, keep: number, take: number): Raw | null {
  if (mom.dtype !== 'float32' || mom.size === 0) return null;
  const [kf, tf] = [Math.fround(keep), Math.fround(take)];
  return k.launch('emaStep', 'ema', K.emaSource, mom.size, 'float32', [mom, on], [kf, tf], (be, xs) =>
    emaOnHost(be, xs, kf, tf),
  );
}

/** Per-row statistics (codegen_fused.ts rowStatsSource): 2 values a row, 4 for the backward. */
function rowStats(k: Launcher, kind: RowKind, ins: Raw[], n: number, eps: number): Raw {
  const per = kind === 'layerNormBackward' ? 4 : 2;
  return k.launch(
    `${kind} (row statistics)`,
    `rows:${kind}:stats`,
    () => K.rowStatsSource(kind),
    (ins[0].size / n) * per,
    'float32',
    ins,
    [n, eps],
    (be, xs) => {
      const hosts = xs.map((a) => be.readSync(a));
      return be.upload(rowStatsOnHost(kind, hosts, n, eps), 'float32');
    },
  );
}

/** The statistics, then one pass over the `size` outputs; the statistics freed once queued. */
function rowsThenPass(
  k: Launcher,
  kind: RowKind,
  statsIns: Raw[],
  n: number,
  eps: number,
  pass: (st: Raw) => Raw,
): Raw {
  const st = rowStats(k, kind, statsIns, n, eps);
  const out = pass(st);
  k.dispose(st);
  return out;
}

/** Softmax or log-softmax of rows of n. */
export function softmaxRows(k: Launcher, x: Raw, n: number, log: boolean): Raw | null {
  if (x.dtype !== 'float32' || x.size === 0) return null;
  return rowsThenPass(k, 'softmax', [x], n, 0, (st) =>
    k.launch('softmaxRows', 'rows:softmax', K.softmaxApplySource, x.size, 'float32', [x, st], [n, +log], (be, [a]) =>
      be.softmaxRows(a, n, log),
    ),
  );
}

/** Layer norm of rows of n (biased variance). */
export function layerNormRows(k: Launcher, x: Raw, weight: Raw, bias: Raw, n: number, eps: number): Raw | null {
  if (x.dtype !== 'float32' || x.size === 0) return null;
  return rowsThenPass(k, 'layerNorm', [x], n, eps, (st) =>
    k.launch(
      'layerNormRows',
      'rows:layerNorm',
      K.layerNormApplySource,
      x.size,
      'float32',
      [x, st, weight, bias],
      [n],
      (be, [a, , w, b]) => be.layerNormRows(a, w, b, n, eps),
    ),
  );
}

/** Layer norm's backward as [rows + 2, n]: dx, then dweight and dbias. */
export function layerNormBackwardRows(k: Launcher, g: Raw, x: Raw, weight: Raw, n: number, eps: number): Raw | null {
  if (x.dtype !== 'float32' || x.size === 0) return null;
  const rows = x.size / n;
  return rowsThenPass(k, 'layerNormBackward', [x, g, weight], n, eps, (st) =>
    k.launch(
      'layerNormBackwardRows',
      'rows:layerNormBackward',
      K.layerNormBackwardApplySource,
      (rows + 2) * n,
      'float32',
      [x, g, weight, st],
      [n, rows],
      (be, [a, gg, w]) => be.layerNormBackwardRows(gg, a, w, n, eps),
    ),
  );
}

/** A reduction's plan in GpuJsBackend.reduce: kept and reduced dims, the kernel's arguments. */
interface ReducePlan {
  kept: { n: number; s: number }[];
  red: { n: number; s: number }[];
  args: number[];
  outSize: number;
  dtype: DType;
}

/**
 * A reduction to few outputs over a long range (reduceChunks > 1) as ~16k threads of partials, then
 * a second reduce over them: one thread an output would leave a GPU idle (the layer step's loss mean
 * took 10 ms on an H200). Neighbouring threads read neighbouring floats: 'rows' interleaves a
 * thread's elements when the reduced ones are contiguous, 'cols' blocks them when the outputs are.
 * Null where one pass is better (many outputs, short ranges, argmax/argmin).
 */
export function reduceInChunks(
  k: Launcher,
  kind: ReduceKind,
  x: Raw,
  shape: Shape,
  axes: readonly number[],
  { kept, red, args, outSize, dtype }: ReducePlan,
): Raw | null {
  const len = args[args.length - 1];
  const chunks = kind === 'argmax' || kind === 'argmin' ? 1 : reduceChunks(outSize, len);
  if (chunks <= 1) return null;
  const layout: ReduceChunking = red[red.length - 1].s === 1 ? 'rows' : 'cols';
  const clen = Math.ceil(len / chunks),
    n = layout === 'rows' ? chunks : Math.ceil(len / clen);
  const partial = k.launch(
    'reduce',
    `reduce:${kind}:${kept.length}:${red.length}:${layout}`,
    () => reduceSource(kind, kept.length, red.length, layout),
    outSize * n,
    dtype,
    [x],
    [...args, n, layout === 'rows' ? Math.ceil(len / n) : clen, outSize],
    (be, [a]) => chunkPartials(be, kind, a, shape, axes, n, layout),
    'reduce (chunks)',
  );
  const out =
    layout === 'rows' ? k.reduce(kind, partial, [outSize, n], [1]) : k.reduce(kind, partial, [n, outSize], [0]);
  k.dispose(partial);
  return out;
}
