// Ema: the update hand-checked, no autograd graph, name matching and its errors, both code paths.
import t from 'tap';
import { randn, Rng, tensor, zeros, type Tensor } from '../../engine/index.js';
import { getBackend } from '../../kernels/select.js';

const cpu = getBackend('cpu') as ReturnType<typeof getBackend> & {
    emaStep: NonNullable<ReturnType<typeof getBackend>['emaStep']>;
  },
  cpuRef = getBackend('cpu-ref');
import { Ema } from '../../nn/ema.js';

const named = (entries: Record<string, Tensor>) => ({ namedParameters: () => Object.entries(entries) });

t.test('update(0.995) on 3 elements, by hand', (t) => {
  const on = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
  const mom = tensor([0, -2, 10], { dtype: 'float64', requiresGrad: true });
  const ema = new Ema([[on, mom]]);
  t.equal(mom.requiresGrad, false, 'momentum tensors do not require grad');
  ema.update(0.995);
  // θm = 0.995·θm + (1 − 0.995)·θ, exactly in float64 (1 − 0.995 is 0.005 + 4e-18)
  const c = 1 - 0.995;
  t.same(Array.from(mom.dataSync()), [0.995 * 0 + c * 1, 0.995 * -2 + c * 2, 0.995 * 10 + c * 3]);
  t.same(
    Array.from(mom.dataSync()).map((v) => +v.toFixed(12)),
    [0.005, -1.98, 9.965],
  );
  t.equal(mom.node, null, 'no graph recorded');
  t.equal(mom.grad, null);
  t.same(Array.from(on.dataSync()), [1, 2, 3], 'online untouched');
  t.end();
});

t.test('float32: each product rounds to float32, as mom.mul(m).add(on.mul(1 - m))', (t) => {
  const on = tensor([0.1, 0.2, 0.3], { requiresGrad: true }),
    mom = tensor([1, 2, 3]);
  const ref = mom
    .mul(0.995)
    .add(on.mul(1 - 0.995))
    .dataSync();
  new Ema([[on, mom]]).update(0.995);
  t.same(mom.dataSync(), ref);
  t.end();
});

t.test('float32 on cpu: the WASM SIMD step (resident arrays) = the tensor ops and the loop, bit for bit', (t) => {
  for (const n of [1024, 4099, 70_000]) {
    const on = randn([n], { rng: new Rng(n) }).mul(3), // results of ops: resident on cpu
      mom = randn([n], { rng: new Rng(n + 1) }).mul(2);
    const want = mom
      .mul(0.995)
      .add(on.mul(1 - 0.995))
      .dataSync();
    const calls: number[] = [];
    const real = cpu.emaStep.bind(cpu);
    cpu.emaStep = (...args) => {
      const raw = real(...args);
      if (raw) calls.push(raw.size);
      return raw;
    };
    try {
      new Ema([[on, mom]]).update(0.995);
    } finally {
      delete (cpu as { emaStep?: unknown }).emaStep; // back to the class method
    }
    t.same(calls, [n], `n = ${n}: the kernel ran`);
    t.ok(
      Array.from(mom.dataSync()).every((x, i) => Object.is(x, want[i])),
      `n = ${n}: same bits`,
    );
  }
  // The loop (cpu-ref's host arrays) gives the same bits as the kernel.
  const n = 5000;
  const [a, b] = [cpu, cpuRef].map((device) => {
    const on = randn([n], { rng: new Rng(7), device }).mul(3),
      mom = randn([n], { rng: new Rng(8), device }).mul(2);
    new Ema([[on, mom]]).update(0.9);
    return mom.dataSync();
  });
  t.ok(
    Array.from(a!).every((x, i) => Object.is(x, b![i])),
    'cpu (kernel) = cpu-ref (loop)',
  );
  t.end();
});

t.test('copyFrom copies (no shared storage); update leaves the momentum Tensor object in place', (t) => {
  const on = tensor([1, 2, 3], { requiresGrad: true }),
    mom = zeros([3]);
  const ema = new Ema(named({ 'a.weight': on }), named({ 'a.weight': mom }));
  ema.copyFrom();
  t.same(Array.from(mom.dataSync()), [1, 2, 3]);
  t.not(mom.raw, on.raw, 'copied, not aliased');
  on.assign(tensor([5, 5, 5]));
  ema.update(0.5);
  t.same(Array.from(mom.dataSync()), [3, 3.5, 4]);
  t.equal(ema.pairs[0][1], mom);
  t.end();
});

t.test('name matching errors are clear', (t) => {
  const a = tensor([1, 2]),
    b = tensor([1, 2, 3]);
  t.throws(
    () => new Ema(named({ w: a, v: a }), named({ w: tensor([0, 0]) })),
    /online parameter 'v' has no momentum counterpart/,
  );
  t.throws(
    () => new Ema(named({ w: a }), named({ w: tensor([0, 0]), extra: b })),
    /momentum parameters without an online counterpart: extra/,
  );
  t.throws(() => new Ema(named({ w: a }), named({ w: b })), /'w': online \[2\] vs momentum \[3\]/);
  t.throws(
    () => new Ema(named({ w: a }), named({ w: tensor([0, 0], { dtype: 'float64' }) })),
    /dtypes float32 and float64/,
  );
  t.throws(() => new Ema([[a, a]]), /same tensor/);
  t.throws(() => new Ema([[a, tensor([0, 0])]]).update(1.5), /momentum must be in \[0, 1\]/);
  t.end();
});
