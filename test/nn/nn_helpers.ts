/** Shared helpers for the nn/ tests: fixture loading and float64 comparisons. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type tap from 'tap';
import { tensor, type Tensor } from '../../engine/index.js';

export interface JsonTensor {
  shape: number[];
  dtype: 'float64' | 'int32';
  data: number[];
}
export interface ParityCase {
  config: Record<string, unknown>;
  params: Record<string, JsonTensor>;
  inputs: Record<string, JsonTensor>;
  output: JsonTensor;
  cot: JsonTensor;
  grads: Record<string, JsonTensor>;
}

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'nn');

/** The cases of test/fixtures/nn/<name>.json, or null when the file is missing. */
export function loadFixture(name: string): Record<string, ParityCase> | null {
  const path = join(FIXTURES, `${name}.json`);
  if (!existsSync(path)) return null;
  return (JSON.parse(readFileSync(path, 'utf8')) as { cases: Record<string, ParityCase> }).cases;
}

export const MISSING_FIXTURES = 'fixtures missing: run /usr/bin/python3 test/fixtures/gen_torch_nn.py';

export function fromJson(j: JsonTensor, requiresGrad = false): Tensor {
  const data = j.dtype === 'int32' ? Int32Array.from(j.data) : Float64Array.from(j.data);
  return tensor(data, { shape: j.shape, requiresGrad });
}

/** Largest |a - b| / (1 + |b|) over all elements (NaN if shapes differ). */
export function maxRelDiff(a: Tensor, b: Tensor): number {
  if (a.shape.join() !== b.shape.join()) return NaN;
  const x = a.dataSync(),
    y = b.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Object.is(x[i], y[i]) ? 0 : Math.abs(x[i] - y[i]) / (1 + Math.abs(y[i]));
    m = Math.max(m, Number.isNaN(d) ? Infinity : d);
  }
  return m;
}

/** A float64 tensor of `shape` with values drawn from `rng`-like uniform(-1, 1). */
export function randomF64(shape: number[], next: () => number, requiresGrad = true): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(
    Float64Array.from({ length: n }, () => 2 * next() - 1),
    { shape, requiresGrad },
  );
}

/** The type of a tap subtest's `t`. */
export type TestT = Parameters<Extract<Parameters<typeof tap.test>[0], (...a: never[]) => unknown>>[0];
