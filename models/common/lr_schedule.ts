/**
 * Learning-rate schedules as pure functions of the step, so a resumed run recomputes them exactly.
 * ALBEF (ALBEF:scheduler/cosine_lr.py, Pretrain.py) warms up linearly from a low rate and then decays
 * by a cosine to a floor; the reference steps the cosine per epoch, we step it per iteration.
 */

export interface WarmupCosine {
  /** Peak rate, reached at the end of warm-up. */
  lr: number;
  /** Rate at step 0 (ALBEF: 1e-5). */
  warmupLr: number;
  warmupSteps: number;
  /** Floor of the cosine (ALBEF: 1e-5). */
  minLr: number;
  totalSteps: number;
}

/** lr(step): warmupLr -> lr linearly over warmupSteps, then lr -> minLr by half a cosine at totalSteps. */
export function warmupCosine(s: WarmupCosine): (step: number) => number {
  for (const [k, v] of Object.entries(s)) if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`warmupCosine: ${k} must be a number >= 0, got ${v}`);
  return (step) => {
    if (step < s.warmupSteps) return s.warmupLr + ((s.lr - s.warmupLr) * step) / s.warmupSteps;
    const span = Math.max(1, s.totalSteps - s.warmupSteps), t = Math.min(1, (step - s.warmupSteps) / span);
    return s.minLr + 0.5 * (s.lr - s.minLr) * (1 + Math.cos(Math.PI * t));
  };
}

/** ALBEF's α ramp: α·min(1, step / rampSteps) during the first epoch, α afterwards. */
export function alphaRamp(alpha: number, rampSteps: number): (step: number) => number {
  return (step) => (rampSteps <= 0 ? alpha : alpha * Math.min(1, step / rampSteps));
}
