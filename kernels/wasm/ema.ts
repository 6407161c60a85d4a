/**
 * The `cpu` backend's float32 momentum (EMA) update on resident arrays, four lanes at a time:
 *
 *   emaStep(mom, on, out, n4, keep, take)    out = mom·keep + on·take
 *
 * Each lane operation is one float32 operation, which is what nn/ema.ts's loop computes by
 * rounding each float64 product and sum to float32 (a product or sum of two float32 values
 * rounds the same either way), so the two give the same bits. Pointers are byte addresses.
 */
import { f32x4, forRange, get, i32, local, seq, v128, ModuleBuilder, type Code } from './emit.js';
import { heapModule, wasmSimdAvailable } from './index.js';

interface EmaFns {
  emaStep(mom: number, on: number, out: number, n4: number, keep: number, take: number): void; // n4: floats, a multiple of 4
}

/** Below this many elements the loop in nn/ema.ts is as fast as the call. */
export const EMA_MIN_ELEMENTS = 1024;

/** Builds the module: imports `env.memory` (shared), exports `emaStep`. */
export function buildEmaModule(mem = { min: 1, max: 32768, shared: true }): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder();
  mod.importMemory('env', 'memory', mem.min, mem.max, mem.shared);
  const fn = mod.func(['i32', 'i32', 'i32', 'i32', 'f32', 'f32'], [], 'emaStep');
  const [mom, on, out, n4, keep, take] = [0, 1, 2, 3, 4, 5];
  const [i, vk, vt] = [fn.local('i32'), fn.local('v128'), fn.local('v128')];
  const at = (base: number): Code => i32.add(get(base), get(i));
  fn.body = seq(
    local.set(vk, f32x4.splat(get(keep))),
    local.set(vt, f32x4.splat(get(take))),
    forRange(
      i,
      i32.const(0),
      i32.shl(get(n4), i32.const(2)),
      i32.const(16),
      v128.store(at(out), f32x4.add(f32x4.mul(v128.load(at(mom)), get(vk)), f32x4.mul(v128.load(at(on)), get(vt)))),
    ),
  );
  return mod.build();
}

/**
 * out = mom·keep + on·take in float32 (keep, take float32 values). Returns false, doing nothing,
 * unless the three arrays have one length of at least EMA_MIN_ELEMENTS and live in the heap with
 * room for that length rounded up to whole vectors (resident arrays do), and WASM SIMD is there.
 */
export function emaWasm(mom: Float32Array, on: Float32Array, out: Float32Array, keep: number, take: number): boolean {
  const n = mom.length;
  if (n < EMA_MIN_ELEMENTS || on.length !== n || out.length !== n || !wasmSimdAvailable()) return false;
  const { heap, fns } = heapModule<EmaFns>('ema', buildEmaModule);
  const n4 = (n + 3) & ~3;
  const pm = heap.readableAt(mom, n4),
    po = heap.readableAt(on, n4),
    py = heap.writableAt(out, n4);
  if (pm === undefined || po === undefined || py === undefined) return false;
  fns.emaStep(pm, po, py, n4, keep, take);
  return true;
}
