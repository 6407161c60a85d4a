/**
 * matmul with transposed stored operands (transA / transB) equals matmul of an explicit transpose,
 * in value and gradient, on every CPU device; gradients of transposed operands come back in their
 * stored layout. (all_ops.test.ts gradchecks the op with both flags in float64.)
 */
import t from 'tap';
import * as vg from '../../engine/index.js';
import { ShapeError } from '../../engine/index.js';

function maxAbs(a: vg.Tensor, b: vg.Tensor): number {
  const x = a.dataSync(),
    y = b.dataSync();
  if (x.length !== y.length) throw new Error(`sizes ${x.length} and ${y.length}`);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

// Sizes large enough for cpu's WASM SIMD kernel (m*n*k >= 12^3) and small ones for the TS path.
const CASES: [number[], number[], boolean, boolean][] = [
  [[2, 3, 20, 17], [3, 24, 17], false, true],
  [[5, 4], [5, 3], true, false],
  [[2, 37, 33], [2, 29, 37], true, true],
  [[48, 40], [40, 56], false, false],
  [[4, 48, 40], [56, 40], false, true],
  [[3, 1, 6, 5], [4, 6, 7], true, false],
];

for (const device of ['cpu', 'cpu-ref']) {
  t.test(`${device}: matmul(a, b, { transA, transB }) = matmul(op(a), op(b)), values and gradients`, async (t) => {
    const rng = new vg.Rng(3),
      be = vg.getBackend(device);
    for (const [sa, sb, ta, tb] of CASES) {
      const a = vg.randn(sa, { rng, device: be }).requiresGrad_(),
        b = vg.randn(sb, { rng, device: be }).requiresGrad_();
      const y = vg.matmul(a, b, { transA: ta, transB: tb });
      const ref = (ta ? a.mT() : a).matmul(tb ? b.mT() : b);
      t.same(y.shape, ref.shape, `${sa}${ta ? 'ᵀ' : ''} @ ${sb}${tb ? 'ᵀ' : ''} shape`);
      t.ok(maxAbs(y, ref) < 1e-4, `values within 1e-4 (${maxAbs(y, ref)})`);
      const g = vg.randnLike(y, { rng });
      const [ga, gb] = vg.grad(y, [a, b], { gradOutputs: [g] });
      const [ra, rb] = vg.grad(ref, [a, b], { gradOutputs: [g] });
      t.same(ga!.shape, sa, 'dA in the stored layout');
      t.ok(maxAbs(ga!, ra!) < 1e-4 && maxAbs(gb!, rb!) < 1e-4, 'gradients match the explicit transpose');
    }
  });
}

t.test('matmul with transposes: shape errors name the stored operand', async (t) => {
  const z = (...s: number[]) => vg.zeros(s);
  t.throws(
    () => vg.matmul(z(2, 3), z(3, 2), { transB: true }),
    /^matmul: \[2,3\] @ \[3,2\]ᵀ: inner dims 3 and 2 differ$/,
  );
  t.throws(() => vg.matmul(z(3), z(3, 2), { transA: true }), ShapeError);
  t.same(vg.matmul(z(4, 3), z(5, 3), { transB: true }).shape, [4, 5]);
  t.same(vg.linear(z(7, 2, 3), z(5, 3), z(5)).shape, [7, 2, 5]);
});
