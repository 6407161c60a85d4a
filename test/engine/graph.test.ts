/** Graph semantics: accumulation, retainGraph, detach/noGrad, diamonds, unused branches, deep
 * chains, non-scalar backward, functional grad, and a Hessian-vector product against its closed form. */
import t from 'tap';
import * as vg from '../../engine/index.js';

const f64 = (d: vg.NestedArray, requiresGrad = true) => vg.tensor(d, { dtype: 'float64', requiresGrad });

t.test('gradients accumulate across two backwards', async (t) => {
  const x = f64([1, 2, 3]);
  x.mul(x).sum().backward(); // d/dx Σx² = 2x
  x.mul(3).sum().backward(); // + 3
  t.same(x.grad!.toArray(), [5, 7, 9]);
});

t.test('a second backward through a freed graph errors unless retainGraph', async (t) => {
  const x = f64([1, 2]);
  const y = x.exp().sum();
  y.backward(undefined, { retainGraph: true });
  y.backward();
  t.same(x.grad!.toArray(), [2 * Math.E, 2 * Math.exp(2)]);
  t.throws(() => y.backward(), /freed by an earlier backward.*retainGraph/);
});

t.test('detach and noGrad cut the graph; enableGrad restores it', async (t) => {
  const x = f64([2]);
  const y = x.mul(x.detach()).sum(); // y = x * c, dy/dx = c = 2
  y.backward();
  t.same(x.grad!.toArray(), [2]);
  const z = vg.noGrad(() => x.mul(3));
  t.notOk(z.requiresGrad);
  t.ok(vg.noGrad(() => vg.enableGrad(() => x.mul(3))).requiresGrad);
  t.throws(() => z.sum().backward(), /does not require grad/);
});

t.test('diamond: two paths to one leaf add up', async (t) => {
  const x = f64([3]);
  const a = x.mul(2),
    b = x.mul(x);
  a.add(b).sum().backward(); // d/dx (2x + x²) = 2 + 2x = 8
  t.same(x.grad!.toArray(), [8]);
});

t.test('an unused branch gets no gradient; grad() reports unused inputs', async (t) => {
  const x = f64([1]),
    unused = f64([5]);
  unused.mul(2); // builds a branch not connected to the output
  x.mul(4).sum().backward();
  t.equal(unused.grad, null);
  t.throws(() => vg.grad(x.mul(2).sum(), [x, unused]), /input 1 \[1\] was not used.*allowUnused/);
  const [gx, gu] = vg.grad(x.mul(2).sum(), [x, unused], { allowUnused: true });
  t.same(gx!.toArray(), [2]);
  t.equal(gu, null);
});

t.test('a 100,000-op chain backpropagates without stack overflow', async (t) => {
  const x = f64([1]);
  let y = x;
  for (let i = 0; i < 100_000; i++) y = y.add(1e-6);
  y.sum().backward();
  t.same(x.grad!.toArray(), [1]);
});

t.test('backward of a non-scalar without grad errors clearly; with grad it works', async (t) => {
  const x = f64([1, 2]);
  const y = x.mul(2);
  t.throws(() => y.backward(), /implicitly created only for one-element outputs, got \[2\]/);
  y.backward(f64([1, 10], false));
  t.same(x.grad!.toArray(), [2, 20]);
  t.throws(() => x.mul(2).backward(f64([1, 2, 3], false)), /grad \[3\] does not match output \[2\]/);
});

t.test('retainGrad keeps a non-leaf gradient', async (t) => {
  const x = f64([1, 2]);
  const h = x.mul(3).retainGrad();
  h.mul(h).sum().backward(); // d/dh Σh² = 2h
  t.same(h.grad!.toArray(), [6, 12]);
  t.same(x.grad!.toArray(), [18, 36]);
});

t.test('Hessian-vector product matches the closed form', async (t) => {
  // f(x) = Σ x_i³ + (Σ x_i)²; H = diag(6x) + 11ᵀ·2; Hv = 6 x ⊙ v + 2 (Σ v) 1
  const x = f64([0.5, -1, 2]);
  const v = f64([1, 2, -1], false);
  const f = x.pow(3).sum().add(x.sum().pow(2));
  const [g] = vg.grad(f, [x], { createGraph: true });
  const [hv] = vg.grad(g!.mul(v).sum(), [x]);
  const sv = 1 + 2 - 1;
  t.same(hv!.toArray(), [6 * 0.5 * 1 + 2 * sv, 6 * -1 * 2 + 2 * sv, 6 * 2 * -1 + 2 * sv]);
});

t.test('gradient penalty: createGraph through backward accumulates into .grad', async (t) => {
  const w = f64([1, 2]);
  const [g] = vg.grad(w.pow(2).sum(), [w], { createGraph: true }); // g = 2w
  g!.pow(2).sum().backward(); // d/dw Σ(2w)² = 8w
  t.same(w.grad!.toArray(), [8, 16]);
});

t.test('gradcheck reports the input and element that disagree', async (t) => {
  const bad = vg.tensor([1, 2], { dtype: 'float64', requiresGrad: true });
  const r = vg.gradcheck((x) => vg.where(vg.tensor([0, 1], { dtype: 'int32' }), x.detach().mul(x), x), [bad], {
    raise: false,
  });
  t.notOk(r.ok);
  t.match(r.message, /input 0 \[2\] element \[1\]: analytic \S+ vs numerical \S+/); // element 0 agrees
  const [, a, n] = /analytic (\S+) vs numerical (\S+)/.exec(r.message)!;
  t.ok(Math.abs(Number(n) / Number(a) - 2) < 1e-6, 'numerical is twice the analytic (d(x·x) vs x·dx)');
  t.throws(() => vg.gradcheck((x) => x, [vg.tensor([1], { requiresGrad: true })]), /use float64/);
});

// Version counters (PyTorch's "modified by an inplace operation" check): assign() after the
// forward, on a tensor that backward reads, is an error instead of a gradient from the new values.
t.test('assign on a tensor saved for backward, before backward, is an error naming the op', async (t) => {
  const x = f64([1, 2]),
    w = f64([3, 4], false);
  const y = x.mul(w).sum(); // d/dx = w: mul saved w
  t.equal(w.version, 0);
  vg.noGrad(() => w.assign(f64([10, 10], false)));
  t.equal(w.version, 1, 'assign bumps the version');
  t.throws(
    () => y.backward(),
    new RegExp(
      '^backward of mul: one of the tensors needed for gradient computation has been ' +
        'modified by an in-place operation: input 1 \\[2\\] float64 is at version 1, newer than when mul saved it',
    ),
  );
});

t.test('an optimizer-style assign between forward and backward is caught on the parameter', async (t) => {
  const x = f64([[1, 1]], false),
    w1 = f64([
      [1, 2],
      [3, 4],
    ]),
    w2 = f64([[1], [2]]);
  const loss = x.matmul(w1).matmul(w2).sum(); // d/dw1 = x^T (g w2^T): needs w2
  vg.noGrad(() => w2.assign(w2.sub(1))); // a step before backward: stale gradient
  t.throws(() => loss.backward(), /^backward of matmul: .*: input 1 \[2,1\] float64 is at version 1/);
  // The same order done right: backward, then step.
  const v1 = f64([
      [1, 2],
      [3, 4],
    ]),
    v2 = f64([[1], [2]]);
  x.matmul(v1).matmul(v2).sum().backward();
  vg.noGrad(() => v2.assign(v2.sub(1)));
  t.same(v1.grad!.toArray(), [
    [1, 2],
    [1, 2],
  ]);
  // PyTorch saves only what each gradient needs: with x constant, dW = x^T g reads x, not W, so
  // writing W after a one-layer forward leaves its gradient right, and is no error.
  const w = f64([
    [1, 2],
    [3, 4],
  ]);
  const one = x.matmul(w).sum();
  vg.noGrad(() => w.assign(w.mul(0)));
  one.backward();
  t.same(w.grad!.toArray(), [
    [1, 1],
    [1, 1],
  ]);
});

t.test('assign on a tensor whose backward needs only its shape is fine (as PyTorch: add saves nothing)', async (t) => {
  const x = f64([1, 2]),
    c = f64([5, 5], false);
  const y = x.add(c).sum();
  vg.noGrad(() => c.assign(f64([7, 7], false)));
  y.backward();
  t.same(x.grad!.toArray(), [1, 1]);
});

t.test("assign on an op's saved output is caught too", async (t) => {
  const x = f64([0, 1]);
  const e = x.exp(); // exp's backward reads its output
  const y = e.sum();
  vg.noGrad(() => e.assign(f64([0, 0], false)));
  t.throws(() => y.backward(), /^backward of exp: .*: its output \[2\] float64 is at version 1/);
});

t.test('a tensor written before the forward that reads it is not stale', async (t) => {
  const x = f64([1, 2]),
    w = f64([3, 4], false);
  vg.noGrad(() => w.assign(f64([5, 6], false)));
  x.mul(w).sum().backward();
  t.same(x.grad!.toArray(), [5, 6]);
});
