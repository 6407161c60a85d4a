/**
 * Emitted float32 Adam(W) update, four lanes at a time, for the `cpu` backend's optional
 * `adamStep` (nn/optim_adam.ts):
 *
 *   adamStep(p, g, m, v, out, n4, b1, b2, c1, c2, wd, decay, negStep, bc2, eps, flags)
 *
 *   gi    = g, negated when flags & NEGATE (maximize)
 *   gi    = gi + p·wd                        when flags & L2 (Adam's weight decay)
 *   θ     = p·decay                          when flags & DECAY (AdamW), else p
 *   m     = m·b1 + gi·c1                     (in place)
 *   v     = v·b2 + (gi·c2)·gi                (in place)
 *   out   = θ + (m·negStep) / (√v / bc2 + eps)
 *
 * Every lane operation is one IEEE float32 operation (square root and division correctly
 * rounded), which is what the plain-TS loop computes by rounding each float64 result to float32,
 * so the two give the same bits. The scalars are float32 values; pointers are byte addresses of
 * n4 floats (a multiple of 4) each.
 */
import { ctl, f32x4, forRange, get, i32, local, seq, v128, ModuleBuilder, type Code } from './emit.js';

export const ADAM_NEGATE = 1;
export const ADAM_L2 = 2;
export const ADAM_DECAY = 4;

export interface AdamFns {
  adamStep(
    p: number,
    g: number,
    m: number,
    v: number,
    out: number,
    n4: number,
    b1: number,
    b2: number,
    c1: number,
    c2: number,
    wd: number,
    decay: number,
    negStep: number,
    bc2: number,
    eps: number,
    flags: number,
  ): void;
}

/** Builds the module: imports `env.memory` (shared), exports `adamStep`. */
export function buildAdamModule(memory = { min: 1, max: 32768, shared: true }): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder();
  mod.importMemory('env', 'memory', memory.min, memory.max, memory.shared);
  const scalars = ['b1', 'b2', 'c1', 'c2', 'wd', 'decay', 'negStep', 'bc2', 'eps'] as const;
  const fn = mod.func(
    ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', ...scalars.map(() => 'f32' as const), 'i32'],
    [],
    'adamStep',
  );
  const [p, g, m, v, out, n4] = [0, 1, 2, 3, 4, 5];
  const flags = 6 + scalars.length;
  const i = fn.local('i32');
  const [negate, l2, decayOn] = [fn.local('i32'), fn.local('i32'), fn.local('i32')];
  const vs = Object.fromEntries(scalars.map((name) => [name, fn.local('v128')])) as Record<
    (typeof scalars)[number],
    number
  >;
  const [pv, gi, theta, mi, vi] = Array.from({ length: 5 }, () => fn.local('v128'));
  const at = (base: number): Code => i32.add(get(base), get(i));
  const mul = f32x4.mul,
    add = f32x4.add;
  fn.body = seq(
    ...scalars.map((name, k) => local.set(vs[name], f32x4.splat(get(6 + k)))),
    local.set(negate, i32.and(get(flags), i32.const(ADAM_NEGATE))),
    local.set(l2, i32.and(get(flags), i32.const(ADAM_L2))),
    local.set(decayOn, i32.and(get(flags), i32.const(ADAM_DECAY))),
    forRange(
      i,
      i32.const(0),
      i32.shl(get(n4), i32.const(2)),
      i32.const(16),
      local.set(pv, v128.load(at(p))),
      local.set(gi, v128.load(at(g))),
      ctl.if(get(negate), local.set(gi, f32x4.neg(get(gi)))),
      ctl.if(get(l2), local.set(gi, add(get(gi), mul(get(pv), get(vs.wd))))),
      local.set(theta, get(pv)),
      ctl.if(get(decayOn), local.set(theta, mul(get(pv), get(vs.decay)))),
      local.set(mi, add(mul(v128.load(at(m)), get(vs.b1)), mul(get(gi), get(vs.c1)))),
      local.set(vi, add(mul(v128.load(at(v)), get(vs.b2)), mul(mul(get(gi), get(vs.c2)), get(gi)))),
      v128.store(at(m), get(mi)),
      v128.store(at(v), get(vi)),
      v128.store(
        at(out),
        add(
          get(theta),
          f32x4.div(mul(get(mi), get(vs.negStep)), add(f32x4.div(f32x4.sqrt(get(vi)), get(vs.bc2)), get(vs.eps))),
        ),
      ),
    ),
  );
  return mod.build();
}
