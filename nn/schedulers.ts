/**
 * Learning-rate schedules as pure functions of the step, and LrScheduler, which writes them into an
 * optimizer's groups with the semantics of PyTorch's LambdaLR.
 *
 * A schedule maps (step, base) to the lr, where `step` counts optimizer steps from 0 and `base` is
 * the group's lr when the scheduler was created. Absolute lrs in options (warmupInit, minLr, endLr)
 * are the same for every group, as timm's and CosineAnnealingLR's are.
 */

/** The lr at optimizer step `step` (0-based) for a group whose base lr is `base`. */
export type LrSchedule = (step: number, base: number) => number;

export interface Warmup {
  /** Steps of linear warmup: lr goes from warmupInit at step 0 to base at step warmupSteps. Default 0. */
  warmupSteps?: number;
  /** Absolute lr at step 0. Default 0. */
  warmupInit?: number;
}

function checkStep(step: number): void {
  if (!Number.isInteger(step) || step < 0)
    throw new RangeError(`lr schedule: step must be an integer >= 0, got ${step}`);
}

function checkWarmup(kind: string, w: Warmup, total = Infinity): [number, number] {
  const { warmupSteps = 0, warmupInit = 0 } = w;
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0 || warmupSteps >= total) {
    throw new RangeError(
      `${kind}: warmupSteps must be an integer in [0, totalSteps), got ${warmupSteps} (totalSteps ${total})`,
    );
  }
  if (!(warmupInit >= 0)) throw new RangeError(`${kind}: warmupInit must be >= 0, got ${warmupInit}`);
  return [warmupSteps, warmupInit];
}

function checkTotal(kind: string, total: number): void {
  if (!Number.isInteger(total) || total <= 0)
    throw new RangeError(`${kind}: totalSteps must be an integer > 0, got ${total}`);
}

/** Linear warmup, then `after(step, base)`. lr = init + (base − init)·step/W for step < W. */
function withWarmup(warmupSteps: number, init: number, after: LrSchedule): LrSchedule {
  return (step, base) => {
    checkStep(step);
    return step < warmupSteps ? init + ((base - init) * step) / warmupSteps : after(step, base);
  };
}

/**
 * Linear warmup over W steps, then cosine from base to minLr at step T (held at minLr after T):
 *   lr = minLr + (base − minLr)·½(1 + cos(π·(step − W)/(T − W)))
 * W = 0 is CosineAnnealingLR(T_max = T, eta_min = minLr). With `warmupInside` the cosine is timed
 * from step 0 instead, lr = minLr + (base − minLr)·½(1 + cos(π·step/T)) for W <= step <= T, and the
 * warmup replaces its first W steps: timm's CosineLRScheduler with warmup_prefix=False (its
 * default) and cycle_limit=1, which is ALBEF's (warmup_t = W, t_initial = T, stepped per epoch).
 */
export function warmupCosine(o: Warmup & { totalSteps: number; minLr?: number; warmupInside?: boolean }): LrSchedule {
  checkTotal('warmupCosine', o.totalSteps);
  const [w, init] = checkWarmup('warmupCosine', o, o.totalSteps);
  const T = o.totalSteps,
    min = o.minLr ?? 0,
    start = o.warmupInside ? 0 : w;
  return withWarmup(
    w,
    init,
    (step, base) => min + (base - min) * 0.5 * (1 + Math.cos((Math.PI * (Math.min(step, T) - start)) / (T - start))),
  );
}

/**
 * Linear warmup over W steps, then linear decay from base to endLr at step T (held after T):
 *   lr = endLr + (base − endLr)·(1 − (step − W)/(T − W))
 * VLMo's schedule (transformers' polynomial decay with power 1, lr_end 0) is { warmupSteps, totalSteps }.
 */
export function warmupLinear(o: Warmup & { totalSteps: number; endLr?: number }): LrSchedule {
  checkTotal('warmupLinear', o.totalSteps);
  const [w, init] = checkWarmup('warmupLinear', o, o.totalSteps);
  const T = o.totalSteps,
    end = o.endLr ?? 0;
  return withWarmup(w, init, (step, base) => end + (base - end) * (1 - (Math.min(step, T) - w) / (T - w)));
}

/** StepLR: lr = base·γ^⌊step / stepSize⌋ (optionally after a linear warmup). */
export function stepDecay(o: Warmup & { stepSize: number; gamma?: number }): LrSchedule {
  if (!Number.isInteger(o.stepSize) || o.stepSize <= 0)
    throw new RangeError(`stepDecay: stepSize must be an integer > 0, got ${o.stepSize}`);
  const [w, init] = checkWarmup('stepDecay', o);
  const gamma = o.gamma ?? 0.1;
  return withWarmup(w, init, (step, base) => base * gamma ** Math.floor(step / o.stepSize));
}

/** The base lr, optionally after a linear warmup (LinearLR(start_factor = warmupInit/base, total_iters = W)). */
export function constant(o: Warmup = {}): LrSchedule {
  const [w, init] = checkWarmup('constant', o);
  return withWarmup(w, init, (_step, base) => base);
}

/** LambdaLR: lr = base·factor(step). */
export function lambdaLr(factor: (step: number) => number): LrSchedule {
  return (step, base) => {
    checkStep(step);
    return base * factor(step);
  };
}

/** What LrScheduler needs from an optimizer: groups with a writable lr. */
export interface HasLrGroups {
  paramGroups: { lr: number }[];
}

export interface LrSchedulerState {
  lastStep: number;
  baseLrs: number[];
}

/**
 * Writes `schedule(step, base)` into every group's lr (one schedule for all groups, or one per group),
 * like PyTorch's LambdaLR:
 * - construction records each group's current lr as its base and sets lr = schedule(0, base);
 * - each `step()` advances the count and sets lr = schedule(count, base).
 * So in the usual loop (`optimizer.step(); scheduler.step();`) optimizer step k uses schedule(k).
 * `step(n)` jumps to step n (timm-style, as ALBEF steps its scheduler by epoch).
 */
export class LrScheduler {
  readonly baseLrs: number[];
  private readonly schedules: LrSchedule[];
  private last = 0;

  constructor(
    readonly optimizer: HasLrGroups,
    schedule: LrSchedule | readonly LrSchedule[],
  ) {
    const n = optimizer.paramGroups.length;
    this.schedules = typeof schedule === 'function' ? new Array<LrSchedule>(n).fill(schedule) : [...schedule];
    if (this.schedules.length !== n)
      throw new Error(`LrScheduler: ${this.schedules.length} schedules for ${n} param groups`);
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.apply();
  }

  /** The step count whose lr the groups now hold. */
  get lastStep(): number {
    return this.last;
  }

  /** Advances one step (or jumps to `to`) and writes the new lrs. */
  step(to?: number): void {
    if (to !== undefined) checkStep(to);
    this.last = to ?? this.last + 1;
    this.apply();
  }

  /** The lrs the groups hold now. */
  lastLrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): LrSchedulerState {
    return { lastStep: this.last, baseLrs: [...this.baseLrs] };
  }

  loadStateDict(s: LrSchedulerState): void {
    if (s.baseLrs.length !== this.baseLrs.length)
      throw new Error(`LrScheduler.loadStateDict: ${s.baseLrs.length} base lrs for ${this.baseLrs.length} groups`);
    checkStep(s.lastStep);
    this.baseLrs.splice(0, this.baseLrs.length, ...s.baseLrs);
    this.last = s.lastStep;
    this.apply();
  }

  private apply(): void {
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = this.schedules[i](this.last, this.baseLrs[i]);
    });
  }
}
