/**
 * Emitted row-wise float32 kernels, fused into one pass structure each so a row is read from
 * memory a couple of times instead of once per primitive op:
 *
 *   softmaxRows(x, y, rows, n):   y = e^(x - max x) / sum e^(x - max x), per row of n
 *   layerNormRows(x, y, gamma, beta, rows, n, eps):
 *                                 y = (x - mean) / sqrt(var + eps) * gamma + beta, per row
 *   layerNormBackwardRows(g, x, gamma, y, rows, n, eps, acc):
 *                                 its backward: dx rows, then dgamma and dbeta rows (float64,
 *                                 the same bits as the plain-TS loop)
 *
 * Pointers are byte addresses in the shared heap; y may equal x (in place). Rows are processed
 * four lanes at a time, plus a scalar tail when n % 4 != 0. Sums keep four lane partials and
 * combine them at the end, so results are deterministic.
 */
import {
  ctl,
  f32,
  f32x4,
  f64,
  forRange,
  get,
  i32,
  i32x4,
  local,
  seq,
  v128,
  ModuleBuilder,
  type Code,
  type Func,
} from './emit.js';
import { emitLayerNormBackward } from './layernorm_bwd_kernel.js';

// Cephes expf: e^x = 2^n * e^r with n = round(x / ln 2) and |r| <= ln(2)/2; ln 2 is split into
// a part exact in float32 (C1) and a correction (C2) so r keeps its low bits; e^r is a degree-7
// series fit, accurate to about 1 ulp on that interval.
const LOG2E = Math.LOG2E;
const C1 = 0.693359375;
const C2 = -2.1219444e-4;
const EXP_POLY = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
/** Below this e^x is under float32's normal range: returned as 0 (the true value is < 1.2e-38). */
const EXP_MIN_X = -87.33654;
/** Above this 2^n would overflow the exponent field. */
const EXP_MAX_X = 88.37626;
/** 1.5·2^23 and its bit pattern: adding it to a small whole float puts the number in the low bits. */
const MAGIC = 12582912;
const MAGIC_BITS = 0x4b400000;

/** Code leaving e^v (lane-wise) on the stack; `t` are three v128 locals it may clobber. */
export function expLanes(v: Code, t: readonly [number, number, number]): Code {
  const [x, n, p] = t;
  const splat = (c: number): Code => f32x4.splat(f32.const(c));
  return seq(
    local.set(x, f32x4.pmin(f32x4.pmax(v, splat(EXP_MIN_X)), splat(EXP_MAX_X))),
    local.set(n, f32x4.nearest(f32x4.mul(get(x), splat(LOG2E)))),
    local.set(x, f32x4.sub(f32x4.sub(get(x), f32x4.mul(get(n), splat(C1))), f32x4.mul(get(n), splat(C2)))),
    local.set(p, splat(EXP_POLY[0]!)),
    ...EXP_POLY.slice(1).map((c) => local.set(p, f32x4.add(f32x4.mul(get(p), get(x)), splat(c)))),
    // e^r = p*r^2 + r + 1, then times 2^n built from its bits: (n + 127) << 23.
    local.set(p, f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(get(p), get(x)), get(x)), get(x)), splat(1))),
    // n is a whole number in [-126, 128]: n + 1.5·2^23 is exact and its bits are 0x4B400000 + n, so
    // one add and one integer add give n + 127 (what trunc_sat + 127 gives, in 2 instructions, not ~8).
    local.set(n, i32x4.shl(i32x4.add(f32x4.add(get(n), splat(MAGIC)), i32x4.splat(127 - MAGIC_BITS)), i32.const(23))),
    // Lanes that were clamped from below become exactly 0 (masks are all-ones/all-zeros).
    v128.and(f32x4.mul(get(p), get(n)), f32x4.ge(v, splat(EXP_MIN_X))),
  );
}

/** Helpers shared by both kernels for one row of n floats at byte address `row`. */
function rowLoops(fn: Func, n: number) {
  const i = fn.local('i32');
  const n4 = fn.local('i32');
  return {
    /** Sets n4 = n rounded down to a multiple of 4. */
    init: local.set(n4, i32.and(get(n), i32.const(-4))),
    /** body(byteOffset) once per 4 lanes, then tail(byteOffset) once per leftover element. */
    each: (body: (off: Code) => Code, tail: (off: Code) => Code): Code =>
      seq(
        forRange(i, i32.const(0), get(n4), i32.const(4), body(i32.shl(get(i), i32.const(2)))),
        forRange(i, get(n4), get(n), i32.const(1), tail(i32.shl(get(i), i32.const(2)))),
      ),
  };
}

const lanesSum = (v: Code, tmp: number): Code =>
  seq(
    local.set(tmp, v),
    f32.add(
      f32.add(f32x4.extract_lane(get(tmp), 0), f32x4.extract_lane(get(tmp), 1)),
      f32.add(f32x4.extract_lane(get(tmp), 2), f32x4.extract_lane(get(tmp), 3)),
    ),
  );
const lanesMax = (v: Code, tmp: number): Code =>
  seq(
    local.set(tmp, v),
    f32.max(
      f32.max(f32x4.extract_lane(get(tmp), 0), f32x4.extract_lane(get(tmp), 1)),
      f32.max(f32x4.extract_lane(get(tmp), 2), f32x4.extract_lane(get(tmp), 3)),
    ),
  );

function emitSoftmax(mod: ModuleBuilder): void {
  const fn = mod.func(['i32', 'i32', 'i32', 'i32'], [], 'softmaxRows');
  const [x, y, rows, n] = [0, 1, 2, 3];
  const [r, px, py] = [fn.local('i32'), fn.local('i32'), fn.local('i32')];
  const [m, s, ms] = [fn.local('f32'), fn.local('f32'), fn.local('f32')];
  const [vm, vs, e, tmp] = [fn.local('v128'), fn.local('v128'), fn.local('v128'), fn.local('v128')];
  const t = [fn.local('v128'), fn.local('v128'), fn.local('v128')] as const;
  const loops = rowLoops(fn, n);
  const at = (p: number, off: Code): Code => i32.add(get(p), off);
  fn.body = seq(
    loops.init,
    forRange(
      r,
      i32.const(0),
      get(rows),
      i32.const(1),
      local.set(px, i32.add(get(x), i32.shl(i32.mul(get(r), get(n)), i32.const(2)))),
      local.set(py, i32.add(get(y), i32.shl(i32.mul(get(r), get(n)), i32.const(2)))),
      // Pass 1: the row max, subtracted so e^(x - max) <= 1 never overflows.
      local.set(vm, f32x4.splat(f32.const(-Infinity))),
      local.set(m, f32.const(-Infinity)),
      loops.each(
        (o) => local.set(vm, f32x4.max(get(vm), v128.load(at(px, o)))),
        (o) => local.set(m, f32.max(get(m), f32.load(at(px, o)))),
      ),
      local.set(m, f32.max(get(m), lanesMax(get(vm), tmp))),
      // Pass 2: y = e^(x - max) and its sum.
      local.set(vm, f32x4.splat(get(m))),
      local.set(vs, v128.zero()),
      local.set(s, f32.const(0)),
      loops.each(
        (o) =>
          seq(
            local.set(e, expLanes(f32x4.sub(v128.load(at(px, o)), get(vm)), t)),
            v128.store(at(py, o), get(e)),
            local.set(vs, f32x4.add(get(vs), get(e))),
          ),
        (o) =>
          seq(
            local.set(ms, f32x4.extract_lane(expLanes(f32x4.splat(f32.sub(f32.load(at(px, o)), get(m))), t), 0)),
            f32.store(at(py, o), get(ms)),
            local.set(s, f32.add(get(s), get(ms))),
          ),
      ),
      local.set(s, f32.add(lanesSum(get(vs), tmp), get(s))),
      // Pass 3: scale by 1/sum.
      local.set(s, f32.div(f32.const(1), get(s))),
      local.set(vs, f32x4.splat(get(s))),
      loops.each(
        (o) => v128.store(at(py, o), f32x4.mul(v128.load(at(py, o)), get(vs))),
        (o) => f32.store(at(py, o), f32.mul(f32.load(at(py, o)), get(s))),
      ),
    ),
  );
}

function emitLayerNorm(mod: ModuleBuilder): void {
  const fn = mod.func(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32'], [], 'layerNormRows');
  const [x, y, gamma, beta, rows, n, eps] = [0, 1, 2, 3, 4, 5, 6];
  const [r, px, py] = [fn.local('i32'), fn.local('i32'), fn.local('i32')];
  const [mean, rstd, d] = [fn.local('f32'), fn.local('f32'), fn.local('f32')];
  const [vacc, vmean, vrstd, vd, tmp] = Array.from({ length: 5 }, () => fn.local('v128')) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const loops = rowLoops(fn, n);
  const at = (p: number, off: Code): Code => i32.add(get(p), off);
  const invN = f32.div(f32.const(1), f32.convert_i32_s(get(n)));
  fn.body = seq(
    loops.init,
    forRange(
      r,
      i32.const(0),
      get(rows),
      i32.const(1),
      local.set(px, i32.add(get(x), i32.shl(i32.mul(get(r), get(n)), i32.const(2)))),
      local.set(py, i32.add(get(y), i32.shl(i32.mul(get(r), get(n)), i32.const(2)))),
      // Pass 1: mean, summed around the row's first element so a large common offset does not
      // eat the float32 mantissa (x ~ 3, n = 4099: max error 2e-6 unshifted, 6e-7 shifted).
      local.set(d, f32.load(get(px))),
      local.set(vmean, f32x4.splat(get(d))),
      local.set(vacc, v128.zero()),
      local.set(mean, f32.const(0)),
      loops.each(
        (o) => local.set(vacc, f32x4.add(get(vacc), f32x4.sub(v128.load(at(px, o)), get(vmean)))),
        (o) => local.set(mean, f32.add(get(mean), f32.sub(f32.load(at(px, o)), get(d)))),
      ),
      local.set(mean, f32.add(get(d), f32.mul(f32.add(lanesSum(get(vacc), tmp), get(mean)), invN))),
      // Pass 2: variance around the mean (two passes: no cancellation from E[x^2] - E[x]^2).
      local.set(vmean, f32x4.splat(get(mean))),
      local.set(vacc, v128.zero()),
      local.set(rstd, f32.const(0)),
      loops.each(
        (o) =>
          seq(
            local.set(vd, f32x4.sub(v128.load(at(px, o)), get(vmean))),
            local.set(vacc, f32x4.add(get(vacc), f32x4.mul(get(vd), get(vd)))),
          ),
        (o) =>
          seq(
            local.set(d, f32.sub(f32.load(at(px, o)), get(mean))),
            local.set(rstd, f32.add(get(rstd), f32.mul(get(d), get(d)))),
          ),
      ),
      local.set(
        rstd,
        f32.div(f32.const(1), f32.sqrt(f32.add(f32.mul(f32.add(lanesSum(get(vacc), tmp), get(rstd)), invN), get(eps)))),
      ),
      // Pass 3: normalize, scale, shift.
      local.set(vrstd, f32x4.splat(get(rstd))),
      loops.each(
        (o) =>
          v128.store(
            at(py, o),
            f32x4.add(
              f32x4.mul(f32x4.mul(f32x4.sub(v128.load(at(px, o)), get(vmean)), get(vrstd)), v128.load(at(gamma, o))),
              v128.load(at(beta, o)),
            ),
          ),
        (o) =>
          f32.store(
            at(py, o),
            f32.add(
              f32.mul(f32.mul(f32.sub(f32.load(at(px, o)), get(mean)), get(rstd)), f32.load(at(gamma, o))),
              f32.load(at(beta, o)),
            ),
          ),
      ),
    ),
  );
}

/**
 * softmaxBackwardRows(p, g, keep, y, rows, n): y = p ⊙ (d − Σ_row d ⊙ p) with d = g (⊙ keep when
 * keep != 0), rounded op by op as kernels/cpu/rowwise.ts's `softmaxBackwardRows` rounds it (float32
 * products and differences, the row sum in float64 in order), so the same bits. The masked d is
 * staged in y; the row sum is a scalar chain (its order is the result), the rest four lanes at a
 * time.
 */
function emitSoftmaxBackward(mod: ModuleBuilder): void {
  const fn = mod.func(['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], [], 'softmaxBackwardRows');
  const [p, g, keep, y, rows, n] = [0, 1, 2, 3, 4, 5];
  const [r, j, pp, pd, py, n4, src] = Array.from({ length: 7 }, () => fn.local('i32'));
  const acc = fn.local('f64');
  const s = fn.local('f32');
  const vs = fn.local('v128');
  const rowBytes = i32.shl(get(n), i32.const(2));
  const at = (base: number): Code => i32.add(get(base), i32.shl(get(j), i32.const(2)));
  const total = i32.mul(get(rows), get(n));
  fn.body = seq(
    local.set(n4, i32.and(get(n), i32.const(-4))),
    // d = g ⊙ keep into y (flat, whole vectors then the tail), or d = g read in place.
    local.set(src, get(g)),
    ctl.if(
      get(keep),
      seq(
        forRange(
          j,
          i32.const(0),
          i32.and(total, i32.const(-4)),
          i32.const(4),
          v128.store(at(y), f32x4.mul(v128.load(at(g)), v128.load(at(keep)))),
        ),
        forRange(
          j,
          i32.and(total, i32.const(-4)),
          total,
          i32.const(1),
          f32.store(at(y), f32.mul(f32.load(at(g)), f32.load(at(keep)))),
        ),
        local.set(src, get(y)),
      ),
    ),
    forRange(
      r,
      i32.const(0),
      get(rows),
      i32.const(1),
      local.set(pp, i32.add(get(p), i32.mul(get(r), rowBytes))),
      local.set(pd, i32.add(get(src), i32.mul(get(r), rowBytes))),
      local.set(py, i32.add(get(y), i32.mul(get(r), rowBytes))),
      local.set(acc, f64.const(0)),
      forRange(
        j,
        i32.const(0),
        get(n),
        i32.const(1),
        local.set(acc, f64.add(get(acc), f64.promote_f32(f32.mul(f32.load(at(pd)), f32.load(at(pp)))))),
      ),
      local.set(s, f64.demote_to_f32(get(acc))),
      local.set(vs, f32x4.splat(get(s))),
      forRange(
        j,
        i32.const(0),
        get(n4),
        i32.const(4),
        v128.store(at(py), f32x4.mul(v128.load(at(pp)), f32x4.sub(v128.load(at(pd)), get(vs)))),
      ),
      forRange(
        j,
        get(n4),
        get(n),
        i32.const(1),
        f32.store(at(py), f32.mul(f32.load(at(pp)), f32.sub(f32.load(at(pd)), get(s)))),
      ),
    ),
  );
}

/** Builds the module: imports `env.memory` (shared), exports `softmaxRows`, `layerNormRows` and `layerNormBackwardRows`. */
export function buildRowwiseModule(memory = { min: 1, max: 32768, shared: true }): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder();
  mod.importMemory('env', 'memory', memory.min, memory.max, memory.shared);
  emitSoftmax(mod);
  emitLayerNorm(mod);
  emitLayerNormBackward(mod);
  emitSoftmaxBackward(mod);
  return mod.build();
}
