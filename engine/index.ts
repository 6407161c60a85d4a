/**
 * vlgrad's engine: tensors (float32, float64, int32), broadcasting, reverse-mode autograd,
 * gradient checks and seeded randomness. Re-exported from the package root.
 */
export { Tensor, type NestedArray, type TensorLike } from './tensor.js';
export type { DType, TypedArray, Backend } from '../kernels/backend.js';
export * from './creation.js';
export * from './functional.js';
export { backward, grad, retainGrad, type BackwardOpts, type GradOpts } from './autograd.js';
export { noGrad, enableGrad, isGradEnabled, type OpDef } from './op.js';
export { gradcheck, gradgradcheck, GradcheckError, type GradcheckOpts, type GradcheckResult } from './gradcheck.js';
export { Rng, manualSeed, defaultRng, type RngState } from './random.js';
export { ShapeError, DTypeError, broadcastShapes } from './shape.js';
export { ALL_OPS, type OpName } from './ops/registry.js';
export { setDefaultDevice, defaultBackend, getBackend, registerBackend } from '../kernels/select.js';
export { keep, memory } from './memory.js';
export { profile, formatProfile, type OpStats } from './profiler.js';
import { tidy as tidyWith } from './memory.js';
import { Tensor as TensorClass } from './tensor.js';
/** Runs `fn`, then disposes every tensor it created except those it returns or `keep`s. */
export function tidy<T>(fn: () => T): T {
  return tidyWith(fn, (v): v is TensorClass => v instanceof TensorClass);
}
import './warm_up.js'; // registers the engine's part of startThreads
