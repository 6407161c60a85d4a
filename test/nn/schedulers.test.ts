// LR schedules against PyTorch's schedulers (LambdaLR with the documented formulas,
// CosineAnnealingLR, StepLR, LinearLR; curves from gen_torch_optim.py), LambdaLR's stepping
// semantics, and shape properties of the warmup schedules.
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { tensor } from '../../engine/index.js';
import { SGD } from '../../nn/optim.js';
import {
  constant,
  lambdaLr,
  LrScheduler,
  stepDecay,
  warmupCosine,
  warmupLinear,
  type LrSchedule,
} from '../../nn/schedulers.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'optim', 'schedulers.json');
const fx = JSON.parse(readFileSync(FIXTURE, 'utf8')) as {
  baseLr: number;
  cases: { name: string; kind: string; opts: any; lrs: number[] }[];
};

const makers: Record<string, (o: any) => LrSchedule> = { warmupCosine, warmupLinear, stepDecay, constant };

t.test('curves match PyTorch schedulers over 100 steps to 1e-12 relative', (t) => {
  for (const c of fx.cases) {
    const opt = { paramGroups: [{ lr: fx.baseLr }] };
    const sched = new LrScheduler(opt, makers[c.kind](c.opts));
    let worst = 0;
    for (const want of c.lrs) {
      worst = Math.max(worst, Math.abs(opt.paramGroups[0].lr - want) / fx.baseLr);
      sched.step();
    }
    t.ok(worst <= 1e-12, `${c.name}: worst relative error ${worst.toExponential(2)}`);
  }
  t.end();
});

t.test('LambdaLR semantics: base lrs per group, lr for step k set after k scheduler steps', (t) => {
  const a = tensor([1], { requiresGrad: true }),
    b = tensor([2], { requiresGrad: true });
  const opt = new SGD([
    { params: [a], lr: 0.1 },
    { params: [b], lr: 0.01 },
  ]);
  const sched = new LrScheduler(
    opt,
    lambdaLr((k) => 1 / (k + 1)),
  );
  t.same(sched.baseLrs, [0.1, 0.01]);
  t.same(sched.lastLrs(), [0.1, 0.01], 'construction applies step 0');
  sched.step();
  t.equal(sched.lastStep, 1);
  t.same(sched.lastLrs(), [0.1 * (1 / 2), 0.01 * (1 / 2)]);
  sched.step(9);
  t.same(sched.lastLrs(), [0.1 * (1 / 10), 0.01 * (1 / 10)], 'step(n) jumps to n');
  const saved = sched.stateDict();
  const opt2 = new SGD([
    { params: [a], lr: 5 },
    { params: [b], lr: 5 },
  ]);
  const again = new LrScheduler(
    opt2,
    lambdaLr((k) => 1 / (k + 1)),
  );
  again.loadStateDict(saved);
  t.same(again.lastLrs(), sched.lastLrs(), 'loadStateDict restores base lrs and the step');
  const [lrA, lrB] = sched.lastLrs();
  const perGroup = new LrScheduler(opt, [constant(), stepDecay({ stepSize: 1, gamma: 0.5 })]);
  perGroup.step(3);
  t.same(perGroup.lastLrs(), [lrA, lrB * 0.5 ** 3], 'one schedule per group, based on the lrs at construction');
  t.throws(() => new LrScheduler(opt, [constant()]), /1 schedules for 2 param groups/);
  t.end();
});

t.test('warmup then decay: rises linearly from warmupInit, falls monotonically to the floor', (t) => {
  const arb = fc.record({
    w: fc.integer({ min: 0, max: 30 }),
    extra: fc.integer({ min: 1, max: 100 }),
    base: fc.double({ min: 1e-6, max: 1, noNaN: true }),
    floorFrac: fc.double({ min: 0, max: 0.5, noNaN: true }),
    cosine: fc.boolean(),
  });
  fc.assert(
    fc.property(arb, ({ w, extra, base, floorFrac, cosine }) => {
      const T = w + extra,
        floor = base * floorFrac,
        init = floor / 2;
      const s = cosine
        ? warmupCosine({ warmupSteps: w, totalSteps: T, warmupInit: init, minLr: floor })
        : warmupLinear({ warmupSteps: w, totalSteps: T, warmupInit: init, endLr: floor });
      const tol = 1e-12 * base;
      if (Math.abs(s(0, base) - (w > 0 ? init : base)) > tol) return false;
      if (
        Math.abs(s(w, base) - base) > tol ||
        Math.abs(s(T, base) - floor) > tol ||
        Math.abs(s(T + 7, base) - floor) > tol
      )
        return false;
      for (let k = 1; k <= T + 2; k++) {
        const prev = s(k - 1, base),
          cur = s(k, base);
        if (k <= w ? cur < prev - tol : cur > prev + tol) return false;
      }
      return true;
    }),
    { numRuns: 200 },
  );
  t.end();
});

t.test('bad schedule arguments are refused', (t) => {
  t.throws(
    () => warmupCosine({ totalSteps: 10, warmupSteps: 10 }),
    /warmupSteps must be an integer in \[0, totalSteps\)/,
  );
  t.throws(() => warmupLinear({ totalSteps: 0 }), /totalSteps must be an integer > 0/);
  t.throws(() => stepDecay({ stepSize: 0 }), /stepSize must be an integer > 0/);
  t.throws(() => constant()(-1, 1), /step must be an integer >= 0/);
  t.end();
});
