/**
 * Loading the PyTorch fixtures that test/fixtures/gen_torch.py writes (format: docs/fixtures.md)
 * and comparing vlgrad results against them.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tensor, type Backend, type Tensor } from '../../engine/index.js';

export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

/** A tensor as PyTorch wrote it: row-major data; non-finite floats spelled "NaN", "Infinity", "-Infinity". */
export interface FixtureTensor {
  shape: number[];
  dtype: 'float32' | 'float64' | 'int64' | 'bool';
  data: (number | string)[];
  /** On inputs: whether the input requires grad. */
  grad?: boolean;
}

/** One op application, with its inputs, output(s), upstream cotangent(s) and input gradients. */
export interface FixtureCase {
  name: string;
  op: string;
  dtype: 'float32' | 'float64';
  args: FixtureTensor[];
  kwargs: Record<string, unknown>;
  /** One tensor, or a list for ops that return several (split, chunk). */
  out: FixtureTensor | FixtureTensor[];
  /** Present when some input requires grad: out.backward(upstream). */
  upstream?: FixtureTensor | FixtureTensor[];
  /** One per arg: the input's gradient, or null where it takes none. */
  grads?: (FixtureTensor | null)[];
}

export interface FixtureFile {
  generator: string;
  torch: string;
  /** Ops that have no fixtures, with the reason. */
  skipped: Record<string, string>;
  cases: FixtureCase[];
}

/** Reads test/fixtures/<relPath>, e.g. `engine/elementwise.json`. */
export function loadFixture(relPath: string): FixtureFile {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, relPath), 'utf8')) as FixtureFile;
}

/** The values as float64 numbers (JSON spellings of NaN and the infinities decoded; float32 exact). */
export function fixtureValues(ft: FixtureTensor): Float64Array {
  const v = Float64Array.from(ft.data, (x) => (typeof x === 'number' ? x : Number(x)));
  return ft.dtype === 'float32' ? v.map(Math.fround) : v; // the exact float32 values torch had
}

/** A vlgrad tensor of the fixture's values on `device` (default: the default backend): floats keep
 * their dtype, int64 and bool become int32. */
export function fixtureTensor(ft: FixtureTensor, device?: Backend): Tensor {
  const v = fixtureValues(ft);
  const data = ft.dtype === 'float32' ? Float32Array.from(v) : ft.dtype === 'float64' ? v : Int32Array.from(v);
  const t = tensor(data, { shape: ft.shape, device });
  if (ft.grad) t.requiresGrad = true;
  return t;
}

/** Relative tolerance per dtype; integer results must match exactly. */
export const TOLERANCE: Record<string, number> = { float64: 1e-12, float32: 1e-5, int64: 0, bool: 0 };

/**
 * Compares element by element with |a - b| <= tol * max(1, |b|) (b the expected value: relative
 * above 1, absolute below); NaN matches NaN and infinities must be equal. Returns null when all
 * match, else a message naming the worst element.
 */
export function mismatch(
  actual: ArrayLike<number>,
  actualShape: readonly number[],
  expected: FixtureTensor,
  tol: number,
): string | null {
  if (actualShape.join(',') !== expected.shape.join(',')) {
    return `shape [${actualShape.join(',')}], expected [${expected.shape.join(',')}]`;
  }
  const want = fixtureValues(expected);
  let worst = -1,
    worstRatio = 0;
  for (let i = 0; i < want.length; i++) {
    const a = actual[i],
      b = want[i];
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    if (!Number.isFinite(b) || !Number.isFinite(a)) {
      if (a !== b) return `element ${i}: ${a}, expected ${b}`;
      continue;
    }
    const ratio = Math.abs(a - b) / Math.max(1, Math.abs(b));
    if (ratio > tol && ratio > worstRatio) {
      worst = i;
      worstRatio = ratio;
    }
  }
  if (worst < 0) return null;
  return `element ${worst}: ${actual[worst]}, expected ${want[worst]} (error ${worstRatio.toExponential(2)} > ${tol})`;
}
