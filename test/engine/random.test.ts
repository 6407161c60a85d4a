/** Rng.fillUniform and fillMask: the same stream as uniform() called per element, and dropout masks drawn from it. */
import fc from 'fast-check';
import t from 'tap';
import { Rng, zeros } from '../../engine/index.js';
import { dropoutMask } from '../../engine/nn_functional.js';

t.test('fillUniform returns what n calls of uniform() return, and leaves the generator where they do', (t) => {
  fc.assert(
    fc.property(fc.integer(), fc.nat(40), fc.nat(300), (seed, before, n) => {
      const a = new Rng(seed),
        b = new Rng(seed);
      for (let i = 0; i < before; i++) {
        a.uniform();
        b.uniform();
      }
      const want = Float64Array.from({ length: n }, () => a.uniform());
      const got = b.fillUniform(new Float64Array(n));
      if (got.some((x, i) => x !== want[i])) return false;
      // The next draws of both agree too: the state after the fill is the state after n calls.
      return a.nextU32() === b.nextU32() && a.uniform() === b.uniform();
    }),
  );
  t.end();
});

t.test('fillUniform keeps the cached normal deviate and draws in [0, 1)', (t) => {
  const a = new Rng(7),
    b = new Rng(7);
  a.normal(); // both cache the second Box-Muller deviate
  b.normal();
  a.fillUniform(new Float64Array(10));
  for (let i = 0; i < 10; i++) b.uniform();
  t.equal(a.normal(), b.normal(), 'the spare deviate survives a fill');
  const u = new Rng(3).fillUniform(new Float64Array(100_000));
  t.ok(
    u.every((x) => x >= 0 && x < 1),
    'every draw in [0, 1)',
  );
  const mean = u.reduce((s, x) => s + x, 0) / u.length;
  t.ok(Math.abs(mean - 0.5) < 0.005, `mean ${mean} near 1/2`);
  t.end();
});

t.test('fillMask is uniform() >= p ? value : 0 per element, across its 1,024-draw chunks', (t) => {
  fc.assert(
    fc.property(
      fc.integer(),
      fc.integer({ min: 0, max: 2600 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (seed, n, p) => {
        const a = new Rng(seed),
          b = new Rng(seed);
        const want = Float64Array.from({ length: n }, () => (a.uniform() >= p ? 2.5 : 0));
        const got = b.fillMask(new Float64Array(n), p, 2.5);
        return got.every((x, i) => x === want[i]) && a.nextU32() === b.nextU32();
      },
    ),
    { numRuns: 60 },
  );
  t.end();
});

t.test('dropoutMask draws one uniform per element: 1/(1-p) where it is >= p, else 0', (t) => {
  for (const [p, dtype] of [
    [0.1, 'float32'],
    [0.5, 'float64'],
  ] as const) {
    const x = zeros([3, 7, 5], { dtype });
    const mask = Array.from(dropoutMask(x, p, new Rng(11)).dataSync());
    const ref = new Rng(11);
    const want = mask.map(() =>
      ref.uniform() >= p ? (dtype === 'float32' ? Math.fround(1 / (1 - p)) : 1 / (1 - p)) : 0,
    );
    t.same(mask, want, `p = ${p}, ${dtype}`);
  }
  t.end();
});
