/**
 * Numerical gradient checks, with PyTorch's float64 defaults (eps 1e-6, atol 1e-5, rtol 1e-3).
 * The check compares vector-Jacobian products: for random cotangents v it compares the analytic
 * d(v·f)/dx_j against the central difference (v·f(x + eps e_j) - v·f(x - eps e_j)) / 2eps for every
 * element j of every input that requires grad (JAX's check_grads mode; one random v catches a
 * wrong Jacobian with probability 1).
 */
import { grad } from './autograd.js';
import { enableGrad, noGrad } from './op.js';
import { Rng } from './random.js';
import { DTypeError, fmt } from './shape.js';
import { Tensor } from './tensor.js';

export interface GradcheckOpts {
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
  raise?: boolean;
}
export interface GradcheckResult {
  ok: boolean;
  message: string;
  maxAbsError: number;
}

export class GradcheckError extends Error {
  override name = 'GradcheckError';
}

type Fn = (...xs: Tensor[]) => Tensor | readonly Tensor[];

function asList(out: Tensor | readonly Tensor[]): readonly Tensor[] {
  return out instanceof Tensor ? [out] : out;
}

/** Σ_k v_k · f_k(inputs), as a plain number, without recording a graph. */
function project(fn: Fn, inputs: Tensor[], vs: readonly Tensor[]): number {
  return noGrad(() =>
    asList(fn(...inputs)).reduce((acc, o, k) => {
      if (o.dtype === 'int32') return acc;
      return acc + o.mul(vs[k]).sum().item();
    }, 0),
  );
}

function multiIndex(j: number, shape: readonly number[]): number[] {
  const idx: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(j % shape[d]);
    j = Math.floor(j / shape[d]);
  }
  return idx;
}

/** Checks analytic gradients of `fn` against central differences. Throws GradcheckError (or returns
 * `{ ok: false }` with `raise: false`) naming the input and element that disagree. */
export function gradcheck(fn: Fn, inputs: Tensor[], opts: GradcheckOpts = {}): GradcheckResult {
  const { eps = 1e-6, atol = 1e-5, rtol = 1e-3, seed = 0, raise = true } = opts;
  const checked = inputs.map((x, i) => ({ x, i })).filter(({ x }) => x.requiresGrad);
  for (const { x, i } of checked) {
    if (x.dtype !== 'float64')
      throw new DTypeError(
        `gradcheck: input ${i} ${fmt(x.shape)} is ${x.dtype}; use float64 (float32 differences are too noisy)`,
      );
  }
  const outs = asList(fn(...inputs)).filter((o) => o.dtype !== 'int32');
  const rng = new Rng(seed);
  const vs = outs.map(
    (o) =>
      new Tensor(
        o.backend.upload(
          Float64Array.from({ length: o.size }, () => rng.normal()),
          o.dtype,
        ),
        o.shape,
        o.backend,
      ),
  );
  const diff = outs.filter((o) => o.requiresGrad);
  const analytic =
    diff.length === 0
      ? checked.map(() => null)
      : grad(
          diff,
          checked.map((c) => c.x),
          {
            gradOutputs: outs.map((o, k) => (o.requiresGrad ? vs[k] : undefined)).filter((v): v is Tensor => !!v),
            allowUnused: true,
          },
        );
  let maxAbsError = 0;
  for (let c = 0; c < checked.length; c++) {
    const { x, i } = checked[c];
    const data = x.backend.readSync(x.raw);
    const a = analytic[c] ? analytic[c]!.dataSync() : new Float64Array(x.size);
    for (let j = 0; j < x.size; j++) {
      const orig = data[j];
      data[j] = orig + eps;
      const plus = project(fn, inputs, vs);
      data[j] = orig - eps;
      const minus = project(fn, inputs, vs);
      data[j] = orig;
      const num = (plus - minus) / (2 * eps);
      const err = Math.abs(a[j] - num);
      maxAbsError = Math.max(maxAbsError, err);
      if (!(err <= atol + rtol * Math.abs(num))) {
        const message =
          `gradcheck: input ${i} ${fmt(x.shape)} element [${multiIndex(j, x.shape)}]: ` +
          `analytic ${a[j]} vs numerical ${num} (|diff| ${err} > atol ${atol} + rtol ${rtol} * |numerical|)`;
        if (raise) throw new GradcheckError(message);
        return { ok: false, message, maxAbsError: err };
      }
    }
  }
  return { ok: true, message: 'ok', maxAbsError };
}

/**
 * Second-order check: gradchecks the map (inputs, v) -> d(v·f)/d(inputs) built with createGraph,
 * so the derivative of every backward formula is verified too.
 */
export function gradgradcheck(fn: Fn, inputs: Tensor[], opts: GradcheckOpts = {}): GradcheckResult {
  const rng = new Rng((opts.seed ?? 0) + 1);
  const outs = asList(fn(...inputs)).filter((o) => o.requiresGrad);
  const vs = outs.map((o) =>
    new Tensor(
      o.backend.upload(
        Float64Array.from({ length: o.size }, () => rng.normal()),
        o.dtype,
      ),
      o.shape,
      o.backend,
    ).requiresGrad_(),
  );
  const diffIdx = inputs.map((x, i) => (x.requiresGrad ? i : -1)).filter((i) => i >= 0);
  // enableGrad: the first derivative must be recorded even while gradcheck probes under noGrad.
  const firstOrder: Fn = (...args) =>
    enableGrad(() => {
      const xs = args.slice(0, inputs.length),
        v = args.slice(inputs.length);
      const o = asList(fn(...xs)).filter((t) => t.requiresGrad);
      const gs = grad(
        o,
        diffIdx.map((i) => xs[i]),
        { gradOutputs: v, createGraph: true, allowUnused: true },
      );
      return gs.map((g, k) => g ?? xs[diffIdx[k]].mul(0));
    });
  return gradcheck(firstOrder, [...inputs, ...vs], opts);
}
