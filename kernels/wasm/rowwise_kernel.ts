/**
 * Emitted row-wise float32 kernels, fused into one pass structure each so a row is read from
 * memory a couple of times instead of once per primitive op:
 *
 *   softmaxRows(x, y, rows, n):   y = e^(x - max x) / sum e^(x - max x), per row of n
 *   layerNormRows(x, y, gamma, beta, rows, n, eps):
 *                                 y = (x - mean) / sqrt(var + eps) * gamma + beta, per row
 *   layerNormBackwardRows(g, x, gamma, y, rows, n, eps):
 *                                 its backward: dx rows, then dgamma and dbeta rows
 *
 * Pointers are byte addresses in the shared heap; y may equal x (in place). Rows are processed
 * four lanes at a time, plus a scalar tail when n % 4 != 0. Sums keep four lane partials and
 * combine them at the end, so results are deterministic.
 */
import {
  f32,
  f32x4,
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

/** Code leaving e^v (lane-wise) on the stack; `t` are three v128 locals it may clobber. */
export function expLanes(v: Code, t: readonly [number, number, number]): Code {
  const [x, n, p] = t;
  const splat = (c: number): Code => f32x4.splat(f32.const(c));
  return seq(
    local.set(x, f32x4.min(f32x4.max(v, splat(EXP_MIN_X)), splat(EXP_MAX_X))),
    local.set(n, f32x4.nearest(f32x4.mul(get(x), splat(LOG2E)))),
    local.set(x, f32x4.sub(f32x4.sub(get(x), f32x4.mul(get(n), splat(C1))), f32x4.mul(get(n), splat(C2)))),
    local.set(p, splat(EXP_POLY[0]!)),
    ...EXP_POLY.slice(1).map((c) => local.set(p, f32x4.add(f32x4.mul(get(p), get(x)), splat(c)))),
    // e^r = p*r^2 + r + 1, then times 2^n built from its bits: (n + 127) << 23.
    local.set(p, f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(get(p), get(x)), get(x)), get(x)), splat(1))),
    local.set(n, i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(get(n)), i32x4.splat(127)), i32.const(23))),
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
 * layerNormBackwardRows(g, x, gamma, y, rows, n, eps): with x̂ = (x - mean) * rstd per row (the
 * forward's statistics, recomputed the forward's way), writes dx to y's first `rows` rows,
 *   dx = (g·gamma - mean_j(g·gamma) - x̂ · mean_j(g·gamma·x̂)) · rstd,
 * then dgamma = Σ_rows g·x̂ and dbeta = Σ_rows g as rows `rows` and `rows + 1` of y, each column
 * summed in row order (so the result does not depend on anything but the inputs).
 */
function emitLayerNormBackward(mod: ModuleBuilder): void {
  const fn = mod.func(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32'], [], 'layerNormBackwardRows');
  const [g, x, gamma, y, rows, n, eps] = [0, 1, 2, 3, 4, 5, 6];
  const [r, px, pg, py, pw, pb, j] = Array.from({ length: 7 }, () => fn.local('i32'));
  const [mean, rstd, d, sa, sb, xh, gw] = Array.from({ length: 7 }, () => fn.local('f32'));
  const [vacc, vmean, vrstd, vd, va, vb, vxh, vgw, vg, tmp] = Array.from({ length: 10 }, () => fn.local('v128'));
  const loops = rowLoops(fn, n);
  const at = (p: number, off: Code): Code => i32.add(get(p), off);
  const invN = f32.div(f32.const(1), f32.convert_i32_s(get(n)));
  const rowBytes = i32.shl(get(n), i32.const(2));
  fn.body = seq(
    loops.init,
    local.set(pw, i32.add(get(y), i32.mul(get(rows), rowBytes))),
    local.set(pb, i32.add(get(pw), rowBytes)),
    // dgamma and dbeta start at zero.
    forRange(j, i32.const(0), get(n), i32.const(1), f32.store(at(pw, i32.shl(get(j), i32.const(2))), f32.const(0))),
    forRange(j, i32.const(0), get(n), i32.const(1), f32.store(at(pb, i32.shl(get(j), i32.const(2))), f32.const(0))),
    forRange(
      r,
      i32.const(0),
      get(rows),
      i32.const(1),
      local.set(px, i32.add(get(x), i32.mul(get(r), rowBytes))),
      local.set(pg, i32.add(get(g), i32.mul(get(r), rowBytes))),
      local.set(py, i32.add(get(y), i32.mul(get(r), rowBytes))),
      // Mean and rstd exactly as layerNormRows computes them.
      local.set(d, f32.load(get(px))),
      local.set(vmean, f32x4.splat(get(d))),
      local.set(vacc, v128.zero()),
      local.set(mean, f32.const(0)),
      loops.each(
        (o) => local.set(vacc, f32x4.add(get(vacc), f32x4.sub(v128.load(at(px, o)), get(vmean)))),
        (o) => local.set(mean, f32.add(get(mean), f32.sub(f32.load(at(px, o)), get(d)))),
      ),
      local.set(mean, f32.add(get(d), f32.mul(f32.add(lanesSum(get(vacc), tmp), get(mean)), invN))),
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
      local.set(vrstd, f32x4.splat(get(rstd))),
      // Row sums of g·gamma and g·gamma·x̂; column sums into dgamma and dbeta.
      local.set(va, v128.zero()),
      local.set(vb, v128.zero()),
      local.set(sa, f32.const(0)),
      local.set(sb, f32.const(0)),
      loops.each(
        (o) =>
          seq(
            local.set(vg, v128.load(at(pg, o))),
            local.set(vxh, f32x4.mul(f32x4.sub(v128.load(at(px, o)), get(vmean)), get(vrstd))),
            local.set(vgw, f32x4.mul(get(vg), v128.load(at(gamma, o)))),
            local.set(va, f32x4.add(get(va), get(vgw))),
            local.set(vb, f32x4.add(get(vb), f32x4.mul(get(vgw), get(vxh)))),
            v128.store(at(pw, o), f32x4.add(v128.load(at(pw, o)), f32x4.mul(get(vg), get(vxh)))),
            v128.store(at(pb, o), f32x4.add(v128.load(at(pb, o)), get(vg))),
          ),
        (o) =>
          seq(
            local.set(d, f32.load(at(pg, o))),
            local.set(xh, f32.mul(f32.sub(f32.load(at(px, o)), get(mean)), get(rstd))),
            local.set(gw, f32.mul(get(d), f32.load(at(gamma, o)))),
            local.set(sa, f32.add(get(sa), get(gw))),
            local.set(sb, f32.add(get(sb), f32.mul(get(gw), get(xh)))),
            f32.store(at(pw, o), f32.add(f32.load(at(pw, o)), f32.mul(get(d), get(xh)))),
            f32.store(at(pb, o), f32.add(f32.load(at(pb, o)), get(d))),
          ),
      ),
      local.set(sa, f32.mul(f32.add(lanesSum(get(va), tmp), get(sa)), invN)),
      local.set(sb, f32.mul(f32.add(lanesSum(get(vb), tmp), get(sb)), invN)),
      local.set(va, f32x4.splat(get(sa))),
      local.set(vb, f32x4.splat(get(sb))),
      // dx.
      loops.each(
        (o) =>
          v128.store(
            at(py, o),
            f32x4.mul(
              f32x4.sub(
                f32x4.sub(f32x4.mul(v128.load(at(pg, o)), v128.load(at(gamma, o))), get(va)),
                f32x4.mul(f32x4.mul(f32x4.sub(v128.load(at(px, o)), get(vmean)), get(vrstd)), get(vb)),
              ),
              get(vrstd),
            ),
          ),
        (o) =>
          f32.store(
            at(py, o),
            f32.mul(
              f32.sub(
                f32.sub(f32.mul(f32.load(at(pg, o)), f32.load(at(gamma, o))), get(sa)),
                f32.mul(f32.mul(f32.sub(f32.load(at(px, o)), get(mean)), get(rstd)), get(sb)),
              ),
              get(rstd),
            ),
          ),
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
  return mod.build();
}
