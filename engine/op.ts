/**
 * An op is declared once: its name, its shape rule, its forward on a Backend, and its backward
 * written with Tensor ops (so backward is itself differentiable and `createGraph` works).
 */
import type { Backend, DType, Raw, Shape } from '../kernels/backend.js';
// Types only: op definitions load before Tensor exists (engine/apply.ts turns an op into a Tensor).
import type { Tensor } from './tensor.js';

export type NoAttrs = Record<string, never>;

/** What a backward closure sees: the forward inputs, the output, the attrs, and which inputs need
 * a gradient (so it can skip work, as tfjs's `outputsToSave` does). Nothing else is kept alive. */
export interface Saved<A> {
  readonly inputs: readonly Tensor[];
  readonly out: Tensor;
  readonly attrs: A;
  readonly needs: readonly boolean[];
}

/** Everything the engine needs to know about one primitive. */
export interface OpDef<A = NoAttrs> {
  readonly name: string;
  /** Result shape and dtype; throws ShapeError/DTypeError naming the op. */
  shape(inputs: readonly Tensor[], attrs: A): { shape: Shape; dtype: DType };
  forward(be: Backend, inputs: readonly Tensor[], out: { shape: Shape; dtype: DType }, attrs: A): Raw;
  /** Vector-Jacobian product; omitted for ops without a gradient (comparisons, argmax). */
  backward?(g: Tensor, saved: Saved<A>): (Tensor | null)[];
}

/** One recorded application of an op: a node of the autograd graph. */
export interface Node {
  readonly op: OpDef<any>;
  inputs: readonly Tensor[] | null; // null once the graph is released after backward
  readonly attrs: unknown;
  /** The write clock at the forward: inputs written later hold values backward must not use. */
  readonly stamp: number;
}

let gradEnabled = true;

/** Whether ops currently record the autograd graph. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording gradients (like `torch.no_grad()`). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with gradient recording on, even inside `noGrad`. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

export function withGradMode<T>(mode: boolean, fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = mode;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Defines a primitive (identity helper that gives type inference for the attrs). */
export function defineOp<A = NoAttrs>(def: OpDef<A>): OpDef<A> {
  return def;
}
