/**
 * The emitted float32 layer-norm backward of the row-wise module (rowwise_kernel.ts builds it in):
 * float64 arithmetic in exactly the order of the plain-TS loop, one row at a time or, where the
 * row width is a multiple of 4, two rows as the lanes of f64x2.
 */
import {
  ctl,
  f32,
  f32x4,
  f64,
  f64x2,
  forRange,
  get,
  i32,
  local,
  seq,
  v128,
  type Code,
  type Func,
  type ModuleBuilder,
} from './emit.js';

/**
 * layerNormBackwardRows(g, x, gamma, y, rows, n, eps, acc): layer norm's backward on float32
 * arrays, computed in float64 scalar arithmetic in exactly the order of the plain-TS loop
 * (kernels/cpu/rowwise.ts, `layerNormBackwardFallback`), so it gives the same bits: a fused op's
 * backward must not change a training run. Per row, with mean and rstd = 1/sqrt(var + eps) over
 * the row and x̂ = (x - mean)·rstd:
 *   dx = (g·gamma - Σ(g·gamma)/n - x̂ · Σ(g·gamma·x̂)/n) · rstd  -> y's first `rows` rows
 *   dgamma += g·x̂, dbeta += g                                   -> rows `rows`, `rows + 1` of y
 * `acc` is 2n float64 of scratch for dgamma and dbeta (8-byte aligned). Pointers in bytes.
 * Where n is a multiple of 4, rows go two at a time as the lanes of f64x2 (`pairedRows`): the same
 * operations per row, ~1.6x faster ([256, 64]: 72 -> 45 us), since each row's sums are serial chains.
 * (Faster than the TS loop, whose element reads V8 sees as several array types, ~3.5x on [512, 256].)
 */
export function emitLayerNormBackward(mod: ModuleBuilder): void {
  const fn = mod.func(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f64', 'i32'], [], 'layerNormBackwardRows');
  const [g, x, gamma, y, rows, n, eps, acc] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [r, j, px, pg, py, pw, pb] = Array.from({ length: 7 }, () => fn.local('i32'));
  const [mean, rstd, d, sa, sb, xh, gj, gw, nf] = Array.from({ length: 9 }, () => fn.local('f64'));
  const rowBytes = i32.shl(get(n), i32.const(2));
  const f4 = (p: number): Code => i32.add(get(p), i32.shl(get(j), i32.const(2))); // float j of a row
  const f8 = (p: number): Code => i32.add(get(p), i32.shl(get(j), i32.const(3))); // float64 j of acc
  const ld = (p: number): Code => f64.promote_f32(f32.load(f4(p)));
  const each = (...body: Code[]): Code => forRange(j, i32.const(0), get(n), i32.const(1), ...body);
  const pairBody = pairedRows(fn, { g, x, gamma, y, n, eps, r, j, pw, pb, nf });
  fn.body = seq(
    local.set(nf, f64.convert_i32_s(get(n))),
    local.set(pw, get(acc)),
    local.set(pb, i32.add(get(acc), i32.shl(get(n), i32.const(3)))),
    each(f64.store(f8(pw), f64.const(0)), f64.store(f8(pb), f64.const(0))),
    // Pairs of rows as the two lanes of f64x2 (n a multiple of 4), then the rest one at a time.
    local.set(r, i32.const(0)),
    ctl.if(
      i32.eq(i32.and(get(n), i32.const(3)), i32.const(0)),
      forRange(r, i32.const(0), i32.sub(get(rows), i32.const(1)), i32.const(2), ...pairBody),
    ),
    forRange(
      r,
      get(r),
      get(rows),
      i32.const(1),
      local.set(px, i32.add(get(x), i32.mul(get(r), rowBytes))),
      local.set(pg, i32.add(get(g), i32.mul(get(r), rowBytes))),
      local.set(py, i32.add(get(y), i32.mul(get(r), rowBytes))),
      // rowStats: the mean, then the biased variance around it, each summed in order.
      local.set(mean, f64.const(0)),
      each(local.set(mean, f64.add(get(mean), ld(px)))),
      local.set(mean, f64.div(get(mean), get(nf))),
      local.set(rstd, f64.const(0)),
      each(local.set(d, f64.sub(ld(px), get(mean))), local.set(rstd, f64.add(get(rstd), f64.mul(get(d), get(d))))),
      local.set(rstd, f64.div(f64.const(1), f64.sqrt(f64.add(f64.div(get(rstd), get(nf)), get(eps))))),
      local.set(sa, f64.const(0)),
      local.set(sb, f64.const(0)),
      each(
        local.set(xh, f64.mul(f64.sub(ld(px), get(mean)), get(rstd))),
        local.set(gj, ld(pg)),
        local.set(gw, f64.mul(get(gj), ld(gamma))),
        local.set(sa, f64.add(get(sa), get(gw))),
        local.set(sb, f64.add(get(sb), f64.mul(get(gw), get(xh)))),
        f64.store(f8(pw), f64.add(f64.load(f8(pw)), f64.mul(get(gj), get(xh)))),
        f64.store(f8(pb), f64.add(f64.load(f8(pb)), get(gj))),
      ),
      local.set(sa, f64.div(get(sa), get(nf))),
      local.set(sb, f64.div(get(sb), get(nf))),
      each(
        local.set(xh, f64.mul(f64.sub(ld(px), get(mean)), get(rstd))),
        f32.store(
          f4(py),
          f64.demote_to_f32(
            f64.mul(f64.sub(f64.sub(f64.mul(ld(pg), ld(gamma)), get(sa)), f64.mul(get(xh), get(sb))), get(rstd)),
          ),
        ),
      ),
    ),
    // dgamma and dbeta, rounded to float32 once.
    local.set(py, i32.add(get(y), i32.mul(get(rows), rowBytes))),
    each(f32.store(f4(py), f64.demote_to_f32(f64.load(f8(pw))))),
    local.set(py, i32.add(get(py), rowBytes)),
    each(f32.store(f4(py), f64.demote_to_f32(f64.load(f8(pb))))),
  );
}

/**
 * Two rows of layerNormBackwardRows at once, row r in lane 0 of f64x2 and row r+1 in lane 1, for n
 * a multiple of 4. Every lane operation is the float64 operation the one-row loop does, in the
 * same order (each row's sums run over j in order; dgamma and dbeta take row r's term, then row
 * r+1's), so the results are the same bits; the two rows' dependency chains now overlap.
 */
function pairedRows(
  fn: Func,
  a: {
    g: number;
    x: number;
    gamma: number;
    y: number;
    n: number;
    eps: number;
    r: number;
    j: number;
    pw: number;
    pb: number;
    nf: number;
  },
): Code[] {
  const { g, x, gamma, y, n, eps, r, j, pw, pb, nf } = a;
  const [x0, x1, g0, g1, y0, y1] = Array.from({ length: 6 }, () => fn.local('i32'));
  const [mean, rstd, sa, sb, nv, lo, hi, t] = Array.from({ length: 8 }, () => fn.local('v128'));
  const xs = [fn.local('v128'), fn.local('v128'), fn.local('v128'), fn.local('v128')];
  const gs = [fn.local('v128'), fn.local('v128'), fn.local('v128'), fn.local('v128')];
  const [xh, gw, p] = [fn.local('v128'), fn.local('v128'), fn.local('v128')];
  const rowBytes = i32.shl(get(n), i32.const(2));
  const row = (base: number, k: number): Code => i32.add(get(base), i32.mul(i32.add(get(r), i32.const(k)), rowBytes));
  const off = (k: number): Code => i32.add(i32.shl(get(j), i32.const(2)), i32.const(4 * k)); // float j+k's byte offset
  /** Sets into[k] = (row0[j+k], row1[j+k]) as float64 for k < 4, from one f32x4 load per row. */
  const load4 = (p0: number, p1: number, into: number[]): Code =>
    seq(
      local.set(lo, v128.load(i32.add(get(p0), off(0)))),
      local.set(hi, v128.load(i32.add(get(p1), off(0)))),
      local.set(t, v128.shuffle32(get(lo), get(hi), [0, 4, 1, 5])),
      local.set(hi, v128.shuffle32(get(lo), get(hi), [2, 6, 3, 7])),
      local.set(into[0]!, f64x2.promote_low_f32x4(get(t))),
      local.set(into[1]!, f64x2.promote_low_f32x4(v128.shuffle32(get(t), get(t), [2, 3, 0, 1]))),
      local.set(into[2]!, f64x2.promote_low_f32x4(get(hi))),
      local.set(into[3]!, f64x2.promote_low_f32x4(v128.shuffle32(get(hi), get(hi), [2, 3, 0, 1]))),
    );
  const gammaAt = (k: number): Code => f64x2.splat(f64.promote_f32(f32.load(i32.add(get(gamma), off(k)))));
  const each4 = (...body: Code[]): Code => forRange(j, i32.const(0), get(n), i32.const(4), ...body);
  const ks = [0, 1, 2, 3];
  const f8 = (base: number, k: number): Code =>
    i32.add(get(base), i32.add(i32.shl(get(j), i32.const(3)), i32.const(8 * k)));
  return [
    local.set(x0, row(x, 0)),
    local.set(x1, row(x, 1)),
    local.set(g0, row(g, 0)),
    local.set(g1, row(g, 1)),
    local.set(y0, row(y, 0)),
    local.set(y1, row(y, 1)),
    local.set(nv, f64x2.splat(get(nf))),
    // rowStats: the mean, then the biased variance around it, each summed in order.
    local.set(mean, f64x2.splat(f64.const(0))),
    each4(load4(x0, x1, xs), ...ks.map((k) => local.set(mean, f64x2.add(get(mean), get(xs[k]!))))),
    local.set(mean, f64x2.div(get(mean), get(nv))),
    local.set(rstd, f64x2.splat(f64.const(0))),
    each4(
      load4(x0, x1, xs),
      ...ks.flatMap((k) => [
        local.set(t, f64x2.sub(get(xs[k]!), get(mean))),
        local.set(rstd, f64x2.add(get(rstd), f64x2.mul(get(t), get(t)))),
      ]),
    ),
    local.set(
      rstd,
      f64x2.div(f64x2.splat(f64.const(1)), f64x2.sqrt(f64x2.add(f64x2.div(get(rstd), get(nv)), f64x2.splat(get(eps))))),
    ),
    // Row sums of g·gamma and g·gamma·x̂; dgamma and dbeta gain row r's term, then row r+1's.
    local.set(sa, f64x2.splat(f64.const(0))),
    local.set(sb, f64x2.splat(f64.const(0))),
    each4(
      load4(x0, x1, xs),
      load4(g0, g1, gs),
      ...ks.flatMap((k) => [
        local.set(xh, f64x2.mul(f64x2.sub(get(xs[k]!), get(mean)), get(rstd))),
        local.set(gw, f64x2.mul(get(gs[k]!), gammaAt(k))),
        local.set(sa, f64x2.add(get(sa), get(gw))),
        local.set(sb, f64x2.add(get(sb), f64x2.mul(get(gw), get(xh)))),
        local.set(p, f64x2.mul(get(gs[k]!), get(xh))),
        f64.store(
          f8(pw, k),
          f64.add(f64.add(f64.load(f8(pw, k)), f64x2.extract_lane(get(p), 0)), f64x2.extract_lane(get(p), 1)),
        ),
        f64.store(
          f8(pb, k),
          f64.add(f64.add(f64.load(f8(pb, k)), f64x2.extract_lane(get(gs[k]!), 0)), f64x2.extract_lane(get(gs[k]!), 1)),
        ),
      ]),
    ),
    local.set(sa, f64x2.div(get(sa), get(nv))),
    local.set(sb, f64x2.div(get(sb), get(nv))),
    each4(
      load4(x0, x1, xs),
      load4(g0, g1, gs),
      ...ks.flatMap((k) => [
        local.set(xh, f64x2.mul(f64x2.sub(get(xs[k]!), get(mean)), get(rstd))),
        local.set(
          p,
          f32x4.demote_f64x2_zero(
            f64x2.mul(
              f64x2.sub(f64x2.sub(f64x2.mul(get(gs[k]!), gammaAt(k)), get(sa)), f64x2.mul(get(xh), get(sb))),
              get(rstd),
            ),
          ),
        ),
        f32.store(i32.add(get(y0), off(k)), f32x4.extract_lane(get(p), 0)),
        f32.store(i32.add(get(y1), off(k)), f32x4.extract_lane(get(p), 1)),
      ]),
    ),
  ];
}
