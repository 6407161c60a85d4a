/**
 * The `cpu` backend's float32 dropout keep-mask (mask_kernel.ts): the same draws, in the same
 * order, as the engine's `Rng.fillMask`, eight SIMD lanes at a time.
 *
 * The mask is one xoshiro128** stream, two steps per element. Splitting it over LANES SIMD lanes,
 * each on its own block of `len` elements, needs each lane's generator to start where the stream
 * will be at its block: lane j is 2·j·len steps ahead of lane 0. The generator's state update is linear over GF(2) (xors,
 * shifts and rotations of its 128 state bits), so "k steps ahead" is a fixed 128x128 bit
 * matrix T^k applied to the state. T^(2^i) come from squaring, T^k is the product of those
 * for the set bits of k, and the matrix for a block length is cached: a training step asks for
 * the same few mask sizes every time, so each call costs LANES - 1 matrix-vector products (a few
 * hundred xors each) before the kernel runs.
 */
import { heapModule, wasmSimdAvailable } from './index.js';
import { buildMaskModule, GROUPS, LANES, type MaskFns } from './mask_kernel.js';
import { HeapLimitError } from './memory.js';

/** Below this many elements the engine's loop is as fast as the jumps and the call. */
export const MASK_MIN_ELEMENTS = 2048;

/** One xoshiro128** step of `s` (four words, in place); returns the step's output. */
function step(s: Int32Array): number {
  let r = Math.imul(s[1]!, 5);
  r = Math.imul((r << 7) | (r >>> 25), 9);
  const t = s[1]! << 9;
  s[2]! ^= s[0]!;
  s[3]! ^= s[1]!;
  s[1]! ^= s[2]!;
  s[0]! ^= s[3]!;
  s[2]! ^= t;
  s[3] = (s[3]! << 11) | (s[3]! >>> 21);
  return r;
}

/** A 128x128 bit matrix as its 128 columns (the images of the unit states), four words each. */
type BitMatrix = Int32Array;

/** m · v over GF(2): the xor of the columns of m where v has a set bit. */
function apply(m: BitMatrix, v: Int32Array, into: Int32Array): Int32Array {
  let r0 = 0,
    r1 = 0,
    r2 = 0,
    r3 = 0;
  for (let w = 0; w < 4; w++) {
    for (let x = v[w]! | 0; x !== 0; x &= x - 1) {
      const col = 4 * (32 * w + 31 - Math.clz32(x & -x));
      r0 ^= m[col]!;
      r1 ^= m[col + 1]!;
      r2 ^= m[col + 2]!;
      r3 ^= m[col + 3]!;
    }
  }
  into[0] = r0;
  into[1] = r1;
  into[2] = r2;
  into[3] = r3;
  return into;
}

/** The same bytes as int32 words. */
function words(f: Float32Array): Int32Array {
  return new Int32Array(f.buffer, f.byteOffset, f.length);
}

/** T^(2^i) for i = 0, 1, ...: built on first use by squaring. */
const powers: BitMatrix[] = [];

function power(i: number): BitMatrix {
  while (powers.length <= i) {
    const m = new Int32Array(512);
    const prev = powers[powers.length - 1];
    for (let c = 0; c < 128; c++) {
      const col = m.subarray(4 * c, 4 * c + 4);
      if (!prev) {
        col[c >> 5] = 1 << (c & 31);
        step(col); // T itself: one step of the unit state
      } else apply(prev, prev.subarray(4 * c, 4 * c + 4), col); // T^(2^i) = (T^(2^(i-1)))^2
    }
    powers.push(m);
  }
  return powers[i]!;
}

/** T^k for the block lengths in use (a few per model), kept up to JUMPS_KEPT at a time. */
const jumps = new Map<number, BitMatrix>();
const JUMPS_KEPT = 64;

function jumpMatrix(k: number): BitMatrix {
  let m = jumps.get(k);
  if (m) return m;
  m = new Int32Array(512);
  const v = new Int32Array(4);
  for (let c = 0; c < 128; c++) {
    v.fill(0);
    v[c >> 5] = 1 << (c & 31);
    for (let i = 0, rest = k; rest > 0; i++, rest = Math.floor(rest / 2)) if (rest % 2 === 1) apply(power(i), v, v);
    m.set(v, 4 * c);
  }
  if (jumps.size >= JUMPS_KEPT) jumps.clear();
  jumps.set(k, m);
  return m;
}

/** The state `k` steps after `s` (four words), computed by jumping rather than stepping. For tests. */
export function jumpState(s: Uint32Array, k: number): Uint32Array {
  const v = Int32Array.from(s);
  return new Uint32Array(apply(jumpMatrix(k), v, v).buffer);
}

/**
 * out[i] = value (rounded to float32) where the i-th draw of the xoshiro128** stream at `state`
 * is >= p, else 0; the draw is `Rng.uniform()`'s (two steps, 53 bits). `state` (four uint32
 * words) is advanced past the 2·out.length steps, as `Rng.fillMask` leaves its generator.
 * Returns false, leaving `state` and `out` alone, where it does not apply: fewer than
 * MASK_MIN_ELEMENTS elements, p outside (0, 1), no WASM SIMD, or no heap room.
 */
export function keepMaskWasm(state: Uint32Array, out: Float32Array, p: number, value: number): boolean {
  const n = out.length;
  if (n < MASK_MIN_ELEMENTS || !(p > 0 && p < 1) || !wasmSimdAvailable()) return false;
  const len = Math.floor(n / LANES);
  const P = Math.ceil(p * 2 ** 53); // u >= p  <=>  N >= P for the 53-bit integer N = u·2^53
  const phi = Math.floor(P / 2 ** 26),
    plo = P - phi * 2 ** 26;
  const bits = new Int32Array(new Float32Array([value]).buffer)[0]!;
  const { heap, fns } = heapModule<MaskFns>('mask', buildMaskModule);
  // The lanes' starting states: per group of four, four vectors s0..s3 (word w of lane 4g + j at
  // 16g + 4w + j), lane L 2·L·len steps ahead of the stream.
  const jump = jumpMatrix(2 * len);
  const lanes = new Int32Array(4 * LANES);
  const cur = Int32Array.from(state);
  for (let L = 0; L < LANES; L++) {
    if (L > 0) apply(jump, cur, cur);
    for (let w = 0; w < 4; w++) lanes[16 * (L >> 2) + 4 * w + (L & 3)] = cur[w]!;
  }
  let at: number | undefined;
  let staged: number | undefined;
  let ps: number | undefined;
  try {
    ps = heap.alloc(16 * LANES);
    at = heap.writableAt(out, n);
    if (at === undefined) at = staged = heap.alloc(4 * LANES * len);
    words(heap.f32(ps, 4 * LANES)).set(lanes);
    fns.keepMask(ps, at, len, phi, plo, bits);
    const ended = words(heap.f32(ps, 4 * LANES)); // the last lane ends where the tail starts
    for (let w = 0; w < 4; w++) cur[w] = ended[16 * (GROUPS - 1) + 4 * w + 3]!;
    if (staged !== undefined) out.set(heap.f32(staged, LANES * len));
  } catch (e) {
    if (e instanceof HeapLimitError) return false;
    throw e;
  } finally {
    if (ps !== undefined) heap.free(ps);
    if (staged !== undefined) heap.free(staged);
  }
  const kept = Math.fround(value);
  for (let i = LANES * len; i < n; i++) {
    const hi = step(cur) >>> 5,
      lo = step(cur) >>> 6;
    out[i] = hi * 2 ** 26 + lo >= P ? kept : 0;
  }
  state.set(new Uint32Array(cur.buffer));
  return true;
}
