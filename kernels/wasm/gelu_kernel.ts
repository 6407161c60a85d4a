/**
 * Emitted float32 GELU kernels, four lanes at a time over n4 elements (n rounded down to a
 * multiple of 4; the caller does the last n % 4 in plain TS):
 *
 *   geluErf(x, y, n4)          y = x/2 (1 + erf(x/√2))
 *   geluTanh(x, y, n4)         y = x/2 (1 + tanh(√(2/π)(x + 0.044715 x³)))
 *   geluErfBwd(g, x, y, n4)    y = g · gelu'(x), gelu' = Φ(x) + x φ(x)
 *   geluTanhBwd(g, x, y, n4)   y = g · d/dx of the tanh form
 *
 * They compute what the plain-TS float32 scalar functions compute (engine/ops/scalar_math.ts):
 * erf is the same exp-free rational fit (Eigen/XLA), e^x the Cephes polynomial of the row-wise
 * kernels, and tanh u through e^(2u) (see tanhParts). Pointers are byte addresses in the shared heap; y
 * may equal x or g.
 */
import { expLanes } from './rowwise_kernel.js';
import { f32, f32x4, forRange, get, i32, local, seq, v128, ModuleBuilder, type Code, type Func } from './emit.js';

const ERF_P = [
  -2.72614225801306e-10, 2.77068142495902e-8, -2.10102402082508e-6, -5.69250639462346e-5, -7.34990630326855e-4,
  -2.95459980854025e-3, -1.60960333262415e-2,
];
const ERF_Q = [
  -1.45660718464996e-5, -2.13374055278905e-4, -1.68282697438203e-3, -7.37332916720468e-3, -1.42647390514189e-2,
];
const SQRT1_2 = 0.7071067811865476;
const INV_SQRT_2PI = 0.3989422804014327;
const SQRT_2_PI = 0.7978845608028654;

const splat = (c: number): Code => f32x4.splat(f32.const(c));
const horner = (coefs: readonly number[], x: Code): Code =>
  coefs.slice(1).reduce<Code>((acc, c) => f32x4.add(f32x4.mul(acc, x), splat(c)), splat(coefs[0]!));

/** The locals one lane-wise evaluation uses. */
interface Regs {
  v: number;
  x2: number;
  t: number;
  e: readonly [number, number, number];
}
function regs(fn: Func): Regs {
  const l = () => fn.local('v128');
  return { v: l(), x2: l(), t: l(), e: [l(), l(), l()] };
}

/** Φ(x) = (1 + erf(x/√2)) / 2 of the lanes of local `x`; clobbers r.x2 and r.t. */
function phi(x: number, r: Regs): Code {
  return seq(
    local.set(r.t, f32x4.pmin(f32x4.pmax(f32x4.mul(get(x), splat(SQRT1_2)), splat(-4)), splat(4))),
    local.set(r.x2, f32x4.mul(get(r.t), get(r.t))),
    f32x4.mul(
      f32x4.add(f32x4.div(f32x4.mul(get(r.t), horner(ERF_P, get(r.x2))), horner(ERF_Q, get(r.x2))), splat(1)),
      splat(0.5),
    ),
  );
}

/**
 * Sets r.t = e^(2u) and r.x2 = 1 / (e^(2u) + 1) for u = √(2/π)(x + 0.044715 x³) of local `x`.
 * With them (1 + tanh u)/2 = e/(e + 1) and 1 - tanh² u = 4e/(e + 1)²: no 1 - t cancellation, so
 * the far negative tail and the gradient keep their relative precision. Clobbers r.e.
 */
function tanhParts(x: number, r: Regs): Code {
  const u2 = f32x4.mul(
    f32x4.add(get(x), f32x4.mul(f32x4.mul(f32x4.mul(get(x), get(x)), get(x)), splat(0.044715))),
    splat(2 * SQRT_2_PI),
  );
  return seq(local.set(r.t, expLanes(u2, r.e)), local.set(r.x2, f32x4.div(splat(1), f32x4.add(get(r.t), splat(1)))));
}

type Body = (fn: Func, r: Regs, x: number) => Code;

const geluErfBody: Body = (_fn, r, x) => f32x4.mul(get(x), phi(x, r));
/** x (1 + t)/2 = x e/(e + 1). */
const geluTanhBody: Body = (_fn, r, x) => seq(tanhParts(x, r), f32x4.mul(get(x), f32x4.mul(get(r.t), get(r.x2))));
/** Φ(x) + x φ(x), φ(x) = e^(-x²/2) / √(2π). */
const geluErfGradBody: Body = (_fn, r, x) =>
  f32x4.add(
    phi(x, r),
    f32x4.mul(f32x4.mul(get(x), splat(INV_SQRT_2PI)), expLanes(f32x4.mul(f32x4.mul(get(x), get(x)), splat(-0.5)), r.e)),
  );
/** (1 + t)/2 + x/2 (1 - t²) √(2/π)(1 + 0.134145 x²) = e d (1 + 2 x d √(2/π)(1 + 0.134145 x²)), d = 1/(e + 1). */
const geluTanhGradBody: Body = (_fn, r, x) =>
  seq(
    tanhParts(x, r),
    f32x4.mul(
      f32x4.mul(get(r.t), get(r.x2)),
      f32x4.add(
        splat(1),
        f32x4.mul(
          f32x4.mul(f32x4.mul(get(x), get(r.x2)), splat(2 * SQRT_2_PI)),
          f32x4.add(splat(1), f32x4.mul(f32x4.mul(get(x), get(x)), splat(0.134145))),
        ),
      ),
    ),
  );

/**
 * Vectors handled per loop iteration. The polynomial chains are latency-bound (each step waits on
 * the last), so independent vectors side by side let the CPU overlap them: on Zen 3 ~1.55x for
 * the erf form, ~1.4x for its gradient, ~1.25x for the tanh form (same results: each lane runs the
 * same operations).
 */
const UNROLL = 4;

/**
 * A loop over n4 floats: `each(r, at)` stores one vector's result, `at` its byte offset, `r` a
 * set of scratch locals. UNROLL vectors per iteration (each with its own locals), then the rest
 * one at a time.
 */
function vectorLoop(fn: Func, n4: number, each: (r: Regs, at: Code) => Code): Code {
  const i = fn.local('i32'),
    end = fn.local('i32');
  const rs = Array.from({ length: UNROLL }, () => regs(fn));
  const bytes = i32.shl(get(n4), i32.const(2));
  return seq(
    local.set(end, i32.and(bytes, i32.const(-16 * UNROLL))),
    forRange(
      i,
      i32.const(0),
      get(end),
      i32.const(16 * UNROLL),
      ...rs.map((r, k) => each(r, i32.add(get(i), i32.const(16 * k)))),
    ),
    forRange(i, get(end), bytes, i32.const(16), each(rs[0]!, get(i))),
  );
}

/** y[i] = body(x[i]) over n4 floats. */
function emitForward(mod: ModuleBuilder, name: string, body: Body): Func {
  const fn = mod.func(['i32', 'i32', 'i32'], [], name);
  const [x, y, n4] = [0, 1, 2];
  fn.body = vectorLoop(fn, n4, (r, at) =>
    seq(local.set(r.v, v128.load(i32.add(get(x), at))), v128.store(i32.add(get(y), at), body(fn, r, r.v))),
  );
  return fn;
}

/** y[i] = g[i] · body(x[i]) over n4 floats. */
function emitBackward(mod: ModuleBuilder, name: string, body: Body): Func {
  const fn = mod.func(['i32', 'i32', 'i32', 'i32'], [], name);
  const [g, x, y, n4] = [0, 1, 2, 3];
  fn.body = vectorLoop(fn, n4, (r, at) =>
    seq(
      local.set(r.v, v128.load(i32.add(get(x), at))),
      v128.store(i32.add(get(y), at), f32x4.mul(v128.load(i32.add(get(g), at)), body(fn, r, r.v))),
    ),
  );
  return fn;
}

/** The exports of the GELU module. */
export interface GeluFns {
  geluErf(x: number, y: number, n4: number): void;
  geluTanh(x: number, y: number, n4: number): void;
  geluErfBwd(g: number, x: number, y: number, n4: number): void;
  geluTanhBwd(g: number, x: number, y: number, n4: number): void;
}

/** Emits the four kernels of GeluFns into `mod` (exported under their names) and returns them. */
export function emitGeluKernels(mod: ModuleBuilder): Record<keyof GeluFns, Func> {
  return {
    geluErf: emitForward(mod, 'geluErf', geluErfBody),
    geluTanh: emitForward(mod, 'geluTanh', geluTanhBody),
    geluErfBwd: emitBackward(mod, 'geluErfBwd', geluErfGradBody),
    geluTanhBwd: emitBackward(mod, 'geluTanhBwd', geluTanhGradBody),
  };
}

/** Builds the module: imports `env.memory` (shared), exports the four kernels of GeluFns. */
export function buildGeluModule(memory = { min: 1, max: 32768, shared: true }): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder();
  mod.importMemory('env', 'memory', memory.min, memory.max, memory.shared);
  emitGeluKernels(mod);
  return mod.build();
}
