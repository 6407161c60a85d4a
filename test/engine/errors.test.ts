/** Every ShapeError / DTypeError path names the op, the shapes or dims involved, and what was expected. */
import t from 'tap';
import * as vg from '../../engine/index.js';
import { ShapeError, DTypeError } from '../../engine/index.js';

const z = (...shape: number[]) => vg.zeros(shape);
const ids = (...shape: number[]) => vg.zeros(shape, { dtype: 'int32' });

const shapeCases: [string, () => unknown, RegExp][] = [
  ['matmul inner', () => z(2, 3).matmul(z(4, 5)), /^matmul: \[2,3\] @ \[4,5\]: inner dims 3 and 4 differ$/],
  ['matmul batch', () => z(2, 2, 3).matmul(z(3, 3, 4)), /matmul: \[2,2,3\] @ \[3,3,4\]: batch dims: shapes \[2\] and \[3\] cannot be broadcast/],
  ['matmul 0-d', () => vg.matmul(z(), z(2)), /matmul: \[\] @ \[2\]: 0-d operands/],
  ['add broadcast', () => z(2, 3).add(z(4, 3)), /^add: shapes \[2,3\] and \[4,3\] cannot be broadcast \(dim -2 is 2 vs 4\)$/],
  ['where broadcast', () => z(2).where(ids(3), z(2)), /where: shapes \[3\] and \[2\] and \[2\] cannot be broadcast/],
  ['reshape', () => z(2, 3).reshape(4, 2), /^reshape: cannot reshape \[2,3\] \(6 elements\) to \[4,2\]$/],
  ['reshape two -1', () => z(2, 3).reshape(-1, -1), /reshape: invalid target shape \[-1,-1\]/],
  ['sum dim', () => z(2, 3).sum(2), /^sum: dim 2 is out of range for a tensor with 2 dims \(expected -2 to 1\)$/],
  ['sum repeated dims', () => z(2, 3).sum([1, -1]), /sum: dims \[1,1\] repeat a dim/],
  ['permute', () => z(2, 3).permute(0, 0), /permute: dims \[0,0\] are not a permutation of the 2 dims of \[2,3\]/],
  ['expand', () => z(2, 3).expand(4, 3), /^expand: cannot expand \[2,3\] to \[4,3\] \(only size-1 dims expand\)$/],
  ['concat', () => vg.concat([z(2, 3), z(3, 2)], 0), /concat: shapes \[2,3\], \[3,2\] differ outside dim 0/],
  ['stack', () => vg.stack([z(2), z(3)]), /stack: shapes \[2\], \[3\] differ/],
  ['split', () => z(5).split([2, 2]), /split: sizes \[2,2\] do not sum to dim 0 of \[5\]/],
  ['narrow', () => z(5).narrow(0, 3, 4), /narrow: \[3, 7\) is outside dim 0 of \[5\]/],
  ['pad', () => z(2).pad([1]), /pad: pads \[1\] must be non-negative \(before, after\) pairs for at most 1 dims/],
  ['gather', () => z(2, 3).gather(1, ids(3, 3)), /gather: index \[3,3\] does not fit x \[2,3\] outside dim 1/],
  ['scatterAdd', () => z(2, 3).scatterAdd(0, ids(2, 3), z(2, 2)), /scatterAdd: base \[2,3\], index \[2,3\], src \[2,2\]/],
  ['indexSelect 2-D index', () => z(4, 3).indexSelect(0, ids(2, 2)), /indexSelect: index must be 1-D, got \[2,2\]/],
  ['indexAdd', () => z(4, 3).indexAdd(0, ids(2), z(3, 3)), /indexAdd: base \[4,3\], index \[2\]: src must be \[2,3\], got \[3,3\]/],
  ['layerNorm', () => vg.layerNorm(z(2, 3), [4]), /layerNorm: normalizedShape \[4\] does not end \[2,3\]/],
  ['crossEntropy', () => vg.crossEntropy(z(2, 3), ids(3)), /crossEntropy: target \[3\] does not match logits \[2,3\]/],
  ['crossEntropy soft', () => vg.crossEntropy(z(2, 3), z(2, 4)), /crossEntropy: probability target \[2,4\] must match logits \[2,3\]/],
  ['tensor ragged', () => vg.tensor([[1, 2], [3]]), /tensor: ragged nested array at depth 1 \(expected length 2\)/],
  ['tensor shape', () => vg.tensor(new Float32Array(5), { shape: [2, 2] }), /tensor: shape \[2,2\] needs 4 values, got 5/],
  ['backward grad shape', () => z(2).requiresGrad_().mul(2).backward(z(3)), /backward: grad \[3\] does not match output \[2\]/],
  ['slice step', () => z(4).slice([[0, 4, 0]]), /slice: step must be a positive integer, got 0/],
  ['amax empty', () => z(0, 2).amax(0), /amax: cannot reduce the empty dim 0 of \[0,2\]/],
];

for (const [name, fn, re] of shapeCases) {
  t.test(`ShapeError: ${name}`, async (t) => {
    t.throws(fn, ShapeError);
    t.throws(fn, re);
  });
}

const dtypeCases: [string, () => unknown, RegExp][] = [
  ['int32 requiresGrad', () => ids(2).requiresGrad_(), /requiresGrad: only float tensors can require grad, got int32 \[2\]/],
  ['matmul int', () => ids(2, 2).matmul(ids(2, 2)), /matmul: \[2,2\] int32 @ \[2,2\] int32: float operands expected/],
  ['matmul mixed', () => z(2, 2).matmul(vg.zeros([2, 2], { dtype: 'float64' })), /matmul: \[2,2\] @ \[2,2\]: dtypes float32 and float64 differ/],
  ['gather float index', () => z(2).gather(0, z(2)), /gather: index must be int32, got float32 \[2\]/],
  ['embedding float ids', () => vg.embedding(z(3, 2), z(2)), /indexSelect: index must be int32, got float32 \[2\]/],
  ['oneHot', () => vg.oneHot(z(2), 3), /oneHot: ids must be int32, got float32/],
  ['gradcheck float32', () => vg.gradcheck((x) => x, [z(1).requiresGrad_()]), /gradcheck: input 0 \[1\] is float32; use float64/],
];

for (const [name, fn, re] of dtypeCases) {
  t.test(`DTypeError: ${name}`, async (t) => {
    t.throws(fn, DTypeError);
    t.throws(fn, re);
  });
}

t.test('out-of-range indices name the op and the bound', async (t) => {
  t.throws(() => z(3).gather(0, vg.tensor([3], { dtype: 'int32' })), /gather: index 3 is out of bounds for a dimension of size 3/);
  t.throws(() => vg.embedding(z(3, 2), vg.tensor([-1], { dtype: 'int32' })), /indexSelect: index -1 is out of bounds for a dimension of size 3/);
});
