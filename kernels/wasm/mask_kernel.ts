/**
 * Emitted dropout keep-mask: xoshiro128** generators side by side, one per i32x4 lane, in GROUPS
 * sets of four stepped together (their dependency chains overlap: 1.6 -> 1.3 ns a float).
 *
 *   keepMask(states, out, len, phi, plo, bits)
 *
 * Lane j holds the generator at the start of its block of `len` elements and writes
 * out[j*len .. (j+1)*len). Each element takes two steps of its lane's generator, exactly as
 * `Rng.uniform()` does: hi = the first output >>> 5 (27 bits), lo = the second >>> 6 (26 bits),
 * the 53-bit draw N = hi·2^26 + lo. The element is `bits` (a float32's bit pattern) where
 * N >= P = phi·2^26 + plo, else +0: `uniform() >= p` with P = ceil(p·2^53), compared as the two
 * halves (every value < 2^31, so the signed lane comparisons are exact). `states` is 64 bytes per
 * group, four vectors s0..s3 of its lanes' state words (lane 4g + j in lane j of group g); they are
 * written back advanced by 2·len steps. The jump that puts lane j 2·j·len steps ahead of lane 0 is
 * the caller's (mask.ts).
 */
import { f32, f32x4, forRange, get, i32, i32x4, local, seq, v128, ModuleBuilder, type Code } from './emit.js';

/** Sets of four SIMD lanes the kernel steps side by side, and the lanes (blocks of the mask) in all. */
export const GROUPS = 2;
export const LANES = 4 * GROUPS;

export interface MaskFns {
  keepMask(states: number, out: number, len: number, phi: number, plo: number, bits: number): void;
}

/** Builds the module: imports `env.memory` (shared), exports `keepMask`. */
export function buildMaskModule(memory = { min: 1, max: 32768, shared: true }): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder();
  mod.importMemory('env', 'memory', memory.min, memory.max, memory.shared);
  const fn = mod.func(['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], [], 'keepMask');
  const [states, out, len, phi, plo, bits] = [0, 1, 2, 3, 4, 5];
  const v = (): number => fn.local('v128');
  // GROUPS independent sets of four lanes, stepped side by side so their dependency chains overlap.
  const groups = Array.from({ length: GROUPS }, () => ({ s: [v(), v(), v(), v()], t: v(), hi: v(), r: v() }));
  const [vphi, vplo, vbits] = [v(), v(), v()];
  const [i, stride] = [fn.local('i32'), fn.local('i32')];
  const at = Array.from({ length: LANES }, () => fn.local('i32'));
  const c = (n: number): Code => i32.const(n);
  const rotl = (x: Code, k: number): Code => v128.or(i32x4.shl(x, c(k)), i32x4.shr_u(x, c(32 - k)));

  // One xoshiro128** step on a group's lanes: r = rotl(s1·5, 7)·9 (the output), then the state update.
  const step = ({ s, t, r }: (typeof groups)[number]): Code =>
    seq(
      local.set(r, i32x4.mul(rotl(i32x4.mul(get(s[1]!), i32x4.splat(5)), 7), i32x4.splat(9))),
      local.set(t, i32x4.shl(get(s[1]!), c(9))),
      local.set(s[2]!, v128.xor(get(s[2]!), get(s[0]!))),
      local.set(s[3]!, v128.xor(get(s[3]!), get(s[1]!))),
      local.set(s[1]!, v128.xor(get(s[1]!), get(s[2]!))),
      local.set(s[0]!, v128.xor(get(s[0]!), get(s[3]!))),
      local.set(s[2]!, v128.xor(get(s[2]!), get(t))),
      local.set(s[3]!, rotl(get(s[3]!), 11)),
    );
  // keep = hi > phi | (hi == phi & lo >= plo), as lane masks; the element is bits & keep (into t).
  const keep = ({ t, hi, r }: (typeof groups)[number]): Code =>
    local.set(
      t,
      v128.and(
        get(vbits),
        v128.or(
          i32x4.gt_s(get(hi), get(vphi)),
          v128.and(i32x4.eq(get(hi), get(vphi)), i32x4.ge_s(i32x4.shr_u(get(r), c(6)), get(vplo))),
        ),
      ),
    );
  fn.body = seq(
    ...groups.flatMap((gr, g) => gr.s.map((x, k) => local.set(x, v128.load(get(states), 64 * g + 16 * k)))),
    local.set(vphi, i32x4.splatOf(get(phi))),
    local.set(vplo, i32x4.splatOf(get(plo))),
    local.set(vbits, i32x4.splatOf(get(bits))),
    local.set(stride, i32.mul(get(len), c(4))),
    ...at.map((a, k) => local.set(a, k === 0 ? get(out) : i32.add(get(at[k - 1]!), get(stride)))),
    forRange(
      i,
      c(0),
      get(len),
      c(1),
      ...groups.map(step),
      ...groups.map((gr) => local.set(gr.hi, i32x4.shr_u(get(gr.r), c(5)))),
      ...groups.map(step),
      ...groups.map(keep),
      ...at.map((a, k) =>
        seq(f32.store(get(a), f32x4.extract_lane(get(groups[k >> 2]!.t), k & 3)), local.set(a, i32.add(get(a), c(4)))),
      ),
    ),
    ...groups.flatMap((gr, g) => gr.s.map((x, k) => v128.store(get(states), get(x), 64 * g + 16 * k))),
  );
  return mod.build();
}
