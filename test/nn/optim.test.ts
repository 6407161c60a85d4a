// Optimizer behaviour beyond PyTorch parity (optim_torch.test.ts): bit-identical resume from a state
// dict, fused host loops vs the tensor-op path (same bits), devices without synchronous reads,
// the no-decay split, and clear errors for bad input.
import fc from 'fast-check';
import t from 'tap';
import { Rng, Tensor, tensor, type Backend, type DType } from '../../engine/index.js';
import { CpuBackend } from '../../kernels/cpu/backend.js';
import { clipGradNorm } from '../../nn/clip_grad.js';
import { Adam, AdamW, paramGroups, SGD, type Optimizer, type OptimizerStateDict } from '../../nn/optim.js';
import { LrScheduler, warmupCosine } from '../../nn/schedulers.js';

/** A CPU backend that refuses synchronous reads, like a GPU: optimizers must use tensor ops. */
class NoSyncReads extends CpuBackend {
  override readonly hostData = false; // a device whose data is not on the host says so
  constructor() {
    super('nosync');
  }
  override readSync(): never {
    throw new Error('nosync: data is on the device; use read()');
  }
}
const nosync = new NoSyncReads();

const SHAPES = [[3, 4], [4], [2, 2, 2], [1]];

function makeParams(dtype: DType, seed: number, device?: Backend): Tensor[] {
  const r = new Rng(seed);
  return SHAPES.map((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return tensor(
      Float64Array.from({ length: n }, () => r.normal()),
      { shape, dtype, device, requiresGrad: true },
    );
  });
}

/** A smooth loss with a different gradient at every step: Σ sin(3p)·w + p²/2. */
function lossOf(ps: readonly Tensor[]): Tensor {
  return ps
    .map((p, i) =>
      p
        .mul(3)
        .sin()
        .mul(0.5 + i)
        .add(p.mul(p).mul(0.5))
        .sum(),
    )
    .reduce((a, b) => a.add(b));
}

type Make = (ps: Tensor[], fused: boolean) => Optimizer<any>;
const OPTIMIZERS: [string, Make][] = [
  [
    'SGD momentum dampening',
    (ps, fused) => new SGD(ps, { lr: 0.05, momentum: 0.9, dampening: 0.2, weightDecay: 1e-3, fused }),
  ],
  ['SGD nesterov', (ps, fused) => new SGD(ps, { lr: 0.05, momentum: 0.8, nesterov: true, weightDecay: 1e-2, fused })],
  ['Adam amsgrad', (ps, fused) => new Adam(ps, { lr: 0.01, weightDecay: 1e-2, amsgrad: true, fused })],
  [
    'AdamW two groups',
    (ps, fused) =>
      new AdamW([{ params: [ps[0], ps[2]] }, { params: [ps[1], ps[3]], lr: 3e-3, weightDecay: 0 }], {
        lr: 0.02,
        weightDecay: 0.1,
        fused,
      }),
  ],
  [
    'AdamW maximize amsgrad',
    (ps, fused) => new AdamW(ps, { lr: 0.01, amsgrad: true, maximize: true, betas: [0.8, 0.95], fused }),
  ],
];

/** n steps of: zero grads, backward, clip, optimizer step, scheduler step. */
function train(ps: Tensor[], opt: Optimizer<any>, sched: LrScheduler, n: number): void {
  for (let k = 0; k < n; k++) {
    opt.zeroGrad();
    lossOf(ps).backward();
    clipGradNorm(ps, 2.0);
    opt.step();
    sched.step();
  }
}

const bits = (x: Tensor) => Array.from(x.dataSync());
/** The state dict with tensors replaced by their values. */
const snapshot = (sd: OptimizerStateDict) => JSON.stringify(sd, (_k, v) => (v instanceof Tensor ? bits(v) : v));
/** Equal numbers, bit for bit (Object.is tells -0 from 0 and matches NaN). */
const sameBits = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
const copy = (x: Tensor) => tensor(x.dataSync(), { shape: x.shape, dtype: x.dtype, requiresGrad: x.requiresGrad });

t.test('stateDict/loadStateDict: resuming from step 10 reproduces steps 11-20 bit for bit', (t) => {
  for (const [name, make] of OPTIMIZERS) {
    for (const dtype of ['float32', 'float64'] as const) {
      for (const fused of [true, false]) {
        const ps = makeParams(dtype, 7);
        const opt = make(ps, fused);
        const sched = new LrScheduler(opt, warmupCosine({ warmupSteps: 5, totalSteps: 20, minLr: 1e-4 }));
        train(ps, opt, sched, 10);
        const saved = opt.stateDict(),
          savedSched = sched.stateDict(),
          savedParams = ps.map(copy);
        const frozen = snapshot(saved);
        train(ps, opt, sched, 10);
        const want = ps.map(bits);

        const ps2 = savedParams;
        const opt2 = make(ps2, fused);
        const sched2 = new LrScheduler(opt2, warmupCosine({ warmupSteps: 5, totalSteps: 20, minLr: 1e-4 }));
        opt2.loadStateDict(saved);
        sched2.loadStateDict(savedSched);
        train(ps2, opt2, sched2, 10);
        t.same(ps2.map(bits), want, `${name} ${dtype} ${fused ? 'fused' : 'tensor ops'}`);
        t.same(snapshot(saved), frozen, 'the saved dict is a snapshot (later steps do not change it)');
      }
    }
  }
  t.end();
});

t.test('state dict layout: indices, numbers and tensors, hyper-parameters per group', (t) => {
  const ps = makeParams('float32', 1);
  const opt = new AdamW([{ params: [ps[0], ps[1]] }, { params: [ps[2], ps[3]], weightDecay: 0 }], {
    lr: 0.1,
    amsgrad: true,
  });
  ps[1].grad = tensor([1, 2, 3, 4]);
  opt.step();
  const sd: OptimizerStateDict = opt.stateDict();
  t.same(Object.keys(sd.state), ['1'], 'only parameters that stepped have state');
  t.same(Object.keys(sd.state[1]).sort(), ['expAvg', 'expAvgSq', 'maxExpAvgSq', 'step']);
  t.equal(sd.state[1].step, 1);
  t.same(
    sd.paramGroups.map((g) => g.params),
    [
      [0, 1],
      [2, 3],
    ],
  );
  t.same(sd.paramGroups[1], {
    lr: 0.1,
    betas: [0.9, 0.999],
    eps: 1e-8,
    weightDecay: 0,
    amsgrad: true,
    maximize: false,
    params: [2, 3],
  });
  const other = new AdamW([{ params: [ps[0]] }, { params: [ps[2], ps[3]] }]);
  t.throws(() => other.loadStateDict(sd), /saved group 0 has 2 parameters, optimizer's has 1/);
  const bad = { ...sd, state: { 1: { ...sd.state[1], expAvg: tensor([1, 2]) } } };
  t.throws(() => opt.loadStateDict(bad), /state 'expAvg' of parameter 1 is \[2\], parameter is \[4\]/);
  const sgd = new SGD([{ params: [ps[0], ps[1]] }, { params: [ps[2], ps[3]] }], { lr: 0.1, momentum: 0.9 });
  t.throws(
    () => opt.loadStateDict(sgd.stateDict()),
    /AdamW: unknown option 'momentum' in saved param group 0/,
    'another optimizer type is refused',
  );
  const f64 = makeParams('float64', 1);
  const opt64 = new AdamW([{ params: [f64[0], f64[1]] }, { params: [f64[2], f64[3]] }]);
  opt64.loadStateDict(sd);
  t.equal((opt64.state.get(f64[1])!.expAvg as Tensor).dtype, 'float64', 'state converts to the parameter dtype');
  t.equal(opt64.paramGroups[1].weightDecay, 0, 'hyper-parameters are restored');
  t.end();
});

t.test('fused host loops and the tensor-op path give the same bits', (t) => {
  const arb = fc.record({
    seed: fc.integer({ min: 0, max: 1e6 }),
    which: fc.integer({ min: 0, max: 2 }),
    f32: fc.boolean(),
    lr: fc.double({ min: 1e-4, max: 0.5, noNaN: true }),
    wd: fc.constantFrom(0, 1e-3, 0.1),
    mom: fc.constantFrom(0, 0.5, 0.9),
    nesterov: fc.boolean(),
    amsgrad: fc.boolean(),
    maximize: fc.boolean(),
    b1: fc.double({ min: 0, max: 0.99, noNaN: true }),
    b2: fc.double({ min: 0.5, max: 0.9999, noNaN: true }),
  });
  fc.assert(
    fc.property(arb, (o) => {
      const dtype = o.f32 ? 'float32' : 'float64';
      const run = (fused: boolean) => {
        const ps = makeParams(dtype, o.seed);
        const opts = { lr: o.lr, weightDecay: o.wd, maximize: o.maximize, fused };
        const opt =
          o.which === 0
            ? new SGD(ps, { ...opts, momentum: o.mom, nesterov: o.nesterov && o.mom > 0 })
            : new (o.which === 1 ? Adam : AdamW)(ps, { ...opts, amsgrad: o.amsgrad, betas: [o.b1, o.b2] });
        for (let k = 0; k < 3; k++) {
          opt.zeroGrad();
          lossOf(ps).backward();
          opt.step();
        }
        const state = [...opt.state.values()].flatMap((s) =>
          Object.values(s).flatMap((v) => (typeof v === 'number' ? [v] : bits(v))),
        );
        return [...ps.flatMap(bits), ...state];
      };
      return sameBits(run(true), run(false));
    }),
    { numRuns: 60 },
  );
  t.pass('60 random configurations agree');
  t.end();
});

t.test('a device without synchronous reads runs the tensor-op path: same bits as the CPU', async (t) => {
  for (const [name, make] of OPTIMIZERS) {
    const cpuPs = makeParams('float32', 3),
      devPs = makeParams('float32', 3, nosync);
    const opts = [make(cpuPs, true), make(devPs, true)];
    for (let k = 0; k < 5; k++) {
      [cpuPs, devPs].forEach((ps, i) => {
        opts[i].zeroGrad();
        lossOf(ps).backward();
        opts[i].step();
      });
    }
    const dev = await Promise.all(devPs.map(async (p) => Array.from(await p.data())));
    t.same(dev, cpuPs.map(bits), name);
  }
  t.end();
});

t.test('paramGroups: the no-decay split, by the default rule or a predicate', (t) => {
  const w = tensor([[1, 2]]),
    b = tensor([1]),
    norm = tensor([1, 1]),
    emb = tensor([[0, 1]]);
  const named: [string, Tensor][] = [
    ['fc.weight', w],
    ['fc.bias', b],
    ['ln.weight', norm],
    ['pos.bias', emb],
  ];
  const [decay, none] = paramGroups(named, { weightDecay: 0.05 });
  t.same([decay.params, decay.weightDecay], [[w], 0.05], 'ALBEF/timm: 1-D and .bias get no decay');
  t.same([none.params, none.weightDecay], [[b, norm, emb], 0]);
  const module = { namedParameters: () => named };
  const [d2, n2] = paramGroups(module, {
    weightDecay: 0.01,
    noDecay: (n) => ['bias', 'ln.weight'].some((s) => n.includes(s)),
  });
  t.same([d2.params, n2.params], [[w], [b, norm, emb]], 'VLMo: by substring, from a module');
  const opt = new AdamW(paramGroups(module, { weightDecay: 0.02 }), { lr: 1e-4 });
  t.same(
    opt.paramGroups.map((g) => [g.weightDecay, g.lr, g.params.length]),
    [
      [0.02, 1e-4, 1],
      [0, 1e-4, 3],
    ],
  );
  t.end();
});

t.test('zeroGrad sets grad to null; parameters without grad get no state', (t) => {
  const ps = makeParams('float32', 2);
  const opt = new AdamW(ps);
  lossOf(ps.slice(0, 2)).backward();
  opt.step();
  t.same(
    ps.map((p) => opt.state.has(p)),
    [true, true, false, false],
  );
  opt.zeroGrad();
  t.ok(ps.every((p) => p.grad === null));
  t.end();
});

t.test('bad input gives clear errors', (t) => {
  const p = tensor([1, 2], { requiresGrad: true }),
    q = tensor([3], { requiresGrad: true });
  t.throws(() => new AdamW([{ params: [p] }, { lr: 0.1 } as any]), /AdamW: param group 1 has no 'params' \(got lr\)/);
  t.throws(
    () => new AdamW([p], { lr: -0.1 }),
    /AdamW \(param group 0\): invalid lr -0.1 \(must be a finite number >= 0\)/,
  );
  t.throws(() => new SGD([{ params: [p], lr: -1 }], { lr: 0.1 }), /SGD \(param group 0\): invalid lr -1/);
  t.throws(() => new SGD([p]), /SGD \(param group 0\): lr is required/);
  t.throws(() => new AdamW([tensor([1, 2], { dtype: 'int32' })]), {
    name: 'DTypeError',
    message: /parameter 0 is int32 \[2\]; only float32 and float64 tensors can be optimized/,
  });
  t.throws(() => new AdamW([]), /AdamW: got an empty parameter list/);
  t.throws(
    () => new AdamW([{ params: [p] }, { params: [q, p] }]),
    /param group 1, parameter 1 appears in more than one group/,
  );
  t.throws(() => new AdamW([p.mul(2)]), /parameter 0 is not a leaf tensor/);
  t.throws(
    () => new AdamW([{ params: [p], weight_decay: 0.1 } as any]),
    /unknown option 'weight_decay' in param group 0; known: lr, betas, eps, weightDecay, amsgrad, maximize/,
  );
  t.throws(() => new AdamW([p], { weight_decay: 0.1 } as any), /unknown option 'weight_decay' in the options/);
  t.equal(new AdamW([p], { lr: undefined }).paramGroups[0].lr, 1e-3, 'an undefined option takes the default');
  t.throws(() => new Adam([p], { betas: [0.9, 1] }), /invalid betas\[1\] 1 \(must be a finite number in \[0, 1\)\)/);
  t.throws(
    () => new SGD([p], { lr: 0.1, nesterov: true }),
    /Nesterov momentum requires momentum > 0 and dampening = 0/,
  );
  const opt = new AdamW([p]);
  opt.paramGroups[0].lr = NaN;
  p.grad = tensor([1, 1]);
  t.throws(() => opt.step(), /invalid lr NaN/, 'an lr a scheduler wrote is checked at step()');
  opt.paramGroups[0].lr = 0.1;
  p.grad = tensor([1, 1], { dtype: 'float64' });
  t.throws(() => opt.step(), /gradient float64 \[2\] on cpu does not match its parameter float32 \[2\] on cpu/);
  t.end();
});
