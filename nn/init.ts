/**
 * Weight initializers with PyTorch / timm / BERT semantics. Each one draws from an explicit `Rng`
 * (in float64, then stored in the tensor's dtype), writes into the tensor in place with `assign`
 * (not recorded by autograd) and returns it.
 */
import { tensor, type Rng, type Tensor } from '../engine/index.js';

/** Replaces t's data with n values drawn by `draw`. */
function fill(t: Tensor, draw: () => number): Tensor {
  // The meta device keeps shapes only (kernels/meta.ts): drawing values for it would be wasted work
  // (albef-base with its momentum copy is 420M draws).
  if (t.device === 'meta') return t;
  const data = new Float64Array(t.size);
  for (let i = 0; i < data.length; i++) data[i] = draw();
  return t.assign(tensor(data, { shape: t.shape, dtype: t.dtype, device: t.backend }));
}

/**
 * fan_in and fan_out as torch.nn.init computes them: for a weight [out, in, k...],
 * fan_in = in·Πk and fan_out = out·Πk (a Linear [out, in] or a conv [C, Cin, p, p]).
 * Shapes: t has 2+ dims.
 */
export function fans(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.ndim < 2) throw new RangeError(`fans: need a tensor with 2+ dims, got [${t.shape}]`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1] * receptive, fanOut: t.shape[0] * receptive };
}

/** Fills with a constant. */
export function constant_(t: Tensor, value: number): Tensor {
  return fill(t, () => value);
}
export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}
export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}

/** Uniform on [low, high). */
export function uniform_(t: Tensor, rng: Rng, low = 0, high = 1): Tensor {
  return fill(t, () => low + (high - low) * rng.uniform());
}

/** Normal(mean, std²) (BERT's initializer_range uses std 0.02). */
export function normal_(t: Tensor, rng: Rng, opts: { mean?: number; std?: number } = {}): Tensor {
  const { mean = 0, std = 1 } = opts;
  return fill(t, () => mean + std * rng.normal());
}

/**
 * Normal(mean, std²) truncated to [a, b], where a and b are *absolute* bounds, as timm's
 * `trunc_normal_` (default a = -2, b = 2: with ViT's std 0.02 that cuts at ±100 std, i.e. almost
 * never). Exact rejection sampling; throws if [a, b] holds too little mass to sample.
 */
export function truncNormal_(
  t: Tensor,
  rng: Rng,
  opts: { mean?: number; std?: number; a?: number; b?: number } = {},
): Tensor {
  const { mean = 0, std = 1, a = -2, b = 2 } = opts;
  if (!(a < b)) throw new RangeError(`truncNormal_: empty interval [${a}, ${b}]`);
  return fill(t, () => {
    for (let tries = 0; tries < 10_000; tries++) {
      const x = mean + std * rng.normal();
      if (x >= a && x <= b) return x;
    }
    throw new RangeError(
      `truncNormal_: [${a}, ${b}] is too far in the tail of N(${mean}, ${std}²) for rejection sampling`,
    );
  });
}

/** Glorot/Xavier uniform: U(±gain·sqrt(6 / (fan_in + fan_out))). */
export function xavierUniform_(t: Tensor, rng: Rng, gain = 1): Tensor {
  const { fanIn, fanOut } = fans(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, rng, -bound, bound);
}

/**
 * He/Kaiming uniform for a leaky-ReLU of negative slope `a`: U(±sqrt(3)·gain/sqrt(fan)), gain =
 * sqrt(2 / (1 + a²)). PyTorch's Linear and Conv2d default is a = sqrt(5), i.e. U(±1/sqrt(fan_in)).
 */
export function kaimingUniform_(t: Tensor, rng: Rng, opts: { a?: number; mode?: 'fanIn' | 'fanOut' } = {}): Tensor {
  const { a = 0, mode = 'fanIn' } = opts;
  const f = fans(t);
  const fan = mode === 'fanIn' ? f.fanIn : f.fanOut;
  const bound = (Math.sqrt(3) * Math.sqrt(2 / (1 + a * a))) / Math.sqrt(fan);
  return uniform_(t, rng, -bound, bound);
}

/** PyTorch's default init of a Linear/Conv weight and bias: kaiming_uniform(a = sqrt(5)) for the
 * weight, U(±1/sqrt(fan_in)) for the bias. */
export function linearDefault_(weight: Tensor, bias: Tensor | null, rng: Rng): void {
  kaimingUniform_(weight, rng, { a: Math.sqrt(5) });
  if (bias) {
    const bound = 1 / Math.sqrt(fans(weight).fanIn);
    uniform_(bias, rng, -bound, bound);
  }
}
