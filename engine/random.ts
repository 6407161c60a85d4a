/**
 * Seeded randomness. Every random function in vlgrad takes an optional `Rng`; without one it uses the
 * global generator that `manualSeed(n)` resets. The generator is xoshiro128** (Blackman & Vigna),
 * seeded through splitmix32, so a seed fixes every stream bit for bit on every platform.
 */

/** Serializable generator state: four uint32 words plus the cached second normal deviate. */
export interface RngState {
  s: [number, number, number, number];
  spare: number | null;
}

function splitmix32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** A seeded pseudo-random generator (xoshiro128**). */
export class Rng {
  private s = new Uint32Array(4);
  private spare: number | null = null;

  constructor(seed = 0) {
    const sm = splitmix32(seed);
    for (let i = 0; i < 4; i++) this.s[i] = sm();
  }

  /** A uniform uint32. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5,
      lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * Fills `out` with uniform doubles in [0, 1): exactly the values `out.length` calls of
   * `uniform()` would return, in order, and leaves the generator where they would. The state
   * lives in locals for the loop, which makes it several times faster than calling `uniform()`
   * per element (dropout masks draw one number per activation).
   */
  fillUniform(out: Float64Array): Float64Array {
    let s0 = this.s[0]! | 0,
      s1 = this.s[1]! | 0,
      s2 = this.s[2]! | 0,
      s3 = this.s[3]! | 0;
    // Two xoshiro128** steps per element, as uniform()'s two nextU32 calls: the high 27 bits of the
    // first, then the low 26 of the second.
    let hi = 0;
    for (let k = 0; k < 2 * out.length; k++) {
      let r = Math.imul(s1, 5);
      r = Math.imul((r << 7) | (r >>> 25), 9);
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      if (k & 1) out[k >> 1] = (hi * 67108864 + (r >>> 6)) / 9007199254740992;
      else hi = r >>> 5;
    }
    this.s[0] = s0;
    this.s[1] = s1;
    this.s[2] = s2;
    this.s[3] = s3;
    return out;
  }

  /**
   * Fills `out` with a keep-mask: `value` where a uniform draw is >= `p` (probability 1 - p), else
   * 0, one draw per element in order: the same draws, and the same mask, as
   * `out[i] = uniform() >= p ? value : 0`. Dropout's mask (value 1/(1-p)).
   */
  fillMask(out: Float32Array | Float64Array, p: number, value: number): typeof out {
    const u = scratch;
    for (let at = 0; at < out.length; at += u.length) {
      const n = Math.min(u.length, out.length - at);
      this.fillUniform(n === u.length ? u : u.subarray(0, n));
      for (let i = 0; i < n; i++) out[at + i] = +(u[i]! >= p) * value; // branch-free: the draws are random
    }
    return out;
  }

  /** A standard normal deviate (Box-Muller; the second deviate is cached). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A uniform integer in [lo, hi). */
  int(lo: number, hi: number): number {
    if (!(hi > lo)) throw new RangeError(`Rng.int: empty range [${lo}, ${hi})`);
    return lo + Math.floor(this.uniform() * (hi - lo));
  }

  /** Fisher-Yates shuffle in place; returns the array. */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      const tmp = xs[i];
      xs[i] = xs[j];
      xs[j] = tmp;
    }
    return xs;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /** A fresh generator seeded from this one (for independent sub-streams). */
  fork(): Rng {
    return new Rng(this.nextU32());
  }

  /**
   * The generator's live state words, for kernels that draw this stream in bulk (a backend's
   * dropout keep-mask, `Backend.keepMask`): they read the four words and leave them advanced past
   * their draws, exactly as the same draws here would. Not for general use: `getState` copies.
   */
  get stateWords(): Uint32Array {
    return this.s;
  }

  getState(): RngState {
    return { s: [this.s[0], this.s[1], this.s[2], this.s[3]], spare: this.spare };
  }

  setState(state: RngState): this {
    this.s.set(state.s);
    this.spare = state.spare;
    return this;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** fillMask's draws, a chunk at a time (one module-wide buffer: JS runs one call at a time). */
const scratch = new Float64Array(1024);

let globalRng = new Rng(0);

/** Reset the global generator used when no `Rng` is passed. */
export function manualSeed(seed: number): void {
  globalRng = new Rng(seed);
}

/** The global generator (the one `manualSeed` resets). */
export function defaultRng(): Rng {
  return globalRng;
}
