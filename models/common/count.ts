/**
 * Counting a model's parameters from its real module tree on the shapes-only meta device
 * (kernels/meta.ts): the count comes from the same constructors training uses (a wrong layer shows
 * up as a wrong count), while no weight buffer is kept. Initializers still loop over each tensor
 * once, fed by a constant generator, which keeps the large configs to seconds and transient arrays
 * of one layer.
 */
import { Rng } from '../../engine/index.js';
import { onMeta } from '../../kernels/meta.js';
import type { Module } from '../../nn/module.js';

/** A generator whose draws are constants (init values are irrelevant when only shapes are kept). */
export class ConstantRng extends Rng {
  override uniform(): number {
    return 0.5;
  }
  override normal(): number {
    return 0;
  }
}

/** Builds `build(rng)` on the meta device and returns what `count` reads from it. */
export function countOnMeta<M extends Module, R>(build: (rng: Rng) => M, count: (model: M) => R): R {
  return onMeta(() => count(build(new ConstantRng(0))));
}

/** Parameters per top-level child (plus the root's own parameters, e.g. `temp`). */
export function partCounts(model: Module): Record<string, number> {
  const parts: Record<string, number> = {};
  for (const [name, p] of model.namedParameters()) {
    const top = name.includes('.') ? name.slice(0, name.indexOf('.')) : name;
    parts[top] = (parts[top] ?? 0) + p.size;
  }
  return parts;
}
