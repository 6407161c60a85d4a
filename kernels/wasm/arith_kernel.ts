/**
 * Emitted float32 arithmetic, four lanes at a time, for the `cpu` backend's elementwise fast
 * path: y = a ⊕ b with ⊕ in add, sub, mul, div, over `rows` rows of `n4` vectors (n4 * 4
 * floats), a full [rows, n] operand and b in one of four layouts:
 *
 *   `${op}Full(a, b, y, rows, n4)`    b [rows, n] (same shape)
 *   `${op}Row(a, b, y, rows, n4)`     b [n], the same row for every row (a bias)
 *   `${op}Col(a, b, y, rows, n4)`     b [rows], one value per row (x - mean(x, -1, keepdim))
 *   `${op}Scalar(a, b, y, rows, n4)`  b [1]
 *
 * and `sumRows(x, y, rows, n4)`: y[j] = Σ_r x[r, j] (a sum over the leading axes, such as a bias
 * gradient), accumulated in float64 pairs in row order, as the plain-TS reduction does.
 *
 * Each lane is one IEEE float32 operation, which gives the same bits as the plain-TS loop (a
 * float64 + - * / of two float32 values rounds to the same float32: double rounding is exact
 * for these four operations), so the fast path changes no result. Pointers are byte addresses.
 */
import { f32, f32x4, f64x2, forRange, get, i32, local, seq, v128, ModuleBuilder, type Code } from './emit.js';

export type ArithOp = 'add' | 'sub' | 'mul' | 'div';
export type BLayout = 'Full' | 'Row' | 'Col' | 'Scalar';
export const ARITH_OPS: readonly ArithOp[] = ['add', 'sub', 'mul', 'div'];
export const B_LAYOUTS: readonly BLayout[] = ['Full', 'Row', 'Col', 'Scalar'];

type ArithFn = (a: number, b: number, y: number, rows: number, n4: number) => void;
/** The exports: `addFull`, `mulRow`, ... and `sumRows`. */
export type ArithFns = Record<`${ArithOp}${BLayout}`, ArithFn> & {
  sumRows(x: number, y: number, rows: number, n4: number): void;
};

function emitArith(mod: ModuleBuilder, op: ArithOp, layout: BLayout): void {
  const fn = mod.func(['i32', 'i32', 'i32', 'i32', 'i32'], [], `${op}${layout}`);
  const [a, b, y, rows, n4] = [0, 1, 2, 3, 4];
  const [r, j, rowBytes, base, bv] = [
    fn.local('i32'),
    fn.local('i32'),
    fn.local('i32'),
    fn.local('i32'),
    fn.local('v128'),
  ];
  // Byte offset of element j of row r in a, y (and a full b): base + j, base = r * rowBytes.
  const bAt: Record<BLayout, Code> = {
    Full: v128.load(i32.add(get(b), i32.add(get(base), get(j)))),
    Row: v128.load(i32.add(get(b), get(j))),
    Col: get(bv),
    Scalar: get(bv),
  };
  const value = f32x4[op](v128.load(i32.add(get(a), i32.add(get(base), get(j)))), bAt[layout]);
  fn.body = seq(
    local.set(rowBytes, i32.shl(get(n4), i32.const(4))),
    layout === 'Scalar' ? local.set(bv, f32x4.splat(f32.load(get(b)))) : [],
    forRange(
      r,
      i32.const(0),
      get(rows),
      i32.const(1),
      local.set(base, i32.mul(get(r), get(rowBytes))),
      layout === 'Col' ? local.set(bv, f32x4.splat(f32.load(i32.add(get(b), i32.shl(get(r), i32.const(2)))))) : [],
      forRange(
        j,
        i32.const(0),
        get(rowBytes),
        i32.const(16),
        v128.store(i32.add(get(y), i32.add(get(base), get(j))), value),
      ),
    ),
  );
}

/** Column groups of 4 floats summed side by side: a whole 64-byte cache line per row, and
 * independent add chains for the CPU to overlap (the f64 adds down one column are a chain). */
const SUM_GROUPS = 4;

/**
 * y[j] = Σ_r x[r, j] in float64 (two f64x2 accumulators per 4 columns), rounded to float32 once.
 * Each column is summed in row order whatever the grouping, so the bits do not depend on it.
 */
function emitSumRows(mod: ModuleBuilder): void {
  const fn = mod.func(['i32', 'i32', 'i32', 'i32'], [], 'sumRows');
  const [x, y, rows, n4] = [0, 1, 2, 3];
  const [r, j, rowBytes, wideEnd, at, v] = [
    fn.local('i32'),
    fn.local('i32'),
    fn.local('i32'),
    fn.local('i32'),
    fn.local('i32'),
    fn.local('v128'),
  ];
  const acc = Array.from({ length: SUM_GROUPS }, () => [fn.local('v128'), fn.local('v128')] as const);
  /** Sums `groups` column groups starting at byte j down the rows, then stores them. */
  const columns = (groups: number): Code[] => {
    const used = acc.slice(0, groups);
    return [
      ...used.flatMap(([lo, hi]) => [local.set(lo, v128.zero()), local.set(hi, v128.zero())]),
      local.set(at, i32.add(get(x), get(j))),
      forRange(
        r,
        i32.const(0),
        get(rows),
        i32.const(1),
        ...used.flatMap(([lo, hi], k) => [
          local.set(v, v128.load(get(at), 16 * k)),
          local.set(lo, f64x2.add(get(lo), f64x2.promote_low_f32x4(get(v)))),
          local.set(hi, f64x2.add(get(hi), f64x2.promote_low_f32x4(v128.shuffle32(get(v), get(v), [2, 3, 0, 1])))),
        ]),
        local.set(at, i32.add(get(at), get(rowBytes))),
      ),
      ...used.map(([lo, hi], k) =>
        v128.store(
          i32.add(get(y), get(j)),
          v128.shuffle32(f32x4.demote_f64x2_zero(get(lo)), f32x4.demote_f64x2_zero(get(hi)), [0, 1, 4, 5]),
          16 * k,
        ),
      ),
    ];
  };
  fn.body = seq(
    local.set(rowBytes, i32.shl(get(n4), i32.const(4))),
    local.set(wideEnd, i32.and(get(rowBytes), i32.const(-16 * SUM_GROUPS))),
    forRange(j, i32.const(0), get(wideEnd), i32.const(16 * SUM_GROUPS), ...columns(SUM_GROUPS)),
    forRange(j, get(wideEnd), get(rowBytes), i32.const(16), ...columns(1)),
  );
}

/** Builds the module: imports `env.memory` (shared), exports ArithFns. */
export function buildArithModule(memory = { min: 1, max: 32768, shared: true }): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder();
  mod.importMemory('env', 'memory', memory.min, memory.max, memory.shared);
  for (const op of ARITH_OPS) for (const layout of B_LAYOUTS) emitArith(mod, op, layout);
  emitSumRows(mod);
  return mod.build();
}
