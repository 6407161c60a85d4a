/** Every ShapeError / DTypeError path names the op, the shapes or dims involved, and what was expected. */
import t from 'tap';
import * as vg from '../../engine/index.js';
import { ShapeError, DTypeError } from '../../engine/index.js';

const z = (...shape: number[]) => vg.zeros(shape);
const ids = (...shape: number[]) => vg.zeros(shape, { dtype: 'int32' });

const shapeCases: [string, () => unknown, RegExp][] = [
  ['matmul inner', () => z(2, 3).matmul(z(4, 5)), /^matmul: \[2,3\] @ \[4,5\]: inner dims 3 and 4 differ$/],
  [
    'matmul batch',
    () => z(2, 2, 3).matmul(z(3, 3, 4)),
    /matmul: \[2,2,3\] @ \[3,3,4\]: batch dims: shapes \[2\] and \[3\] cannot be broadcast/,
  ],
  ['matmul 0-d', () => vg.matmul(z(), z(2)), /matmul: \[\] @ \[2\]: 0-d operands/],
  [
    'add broadcast',
    () => z(2, 3).add(z(4, 3)),
    /^add: shapes \[2,3\] and \[4,3\] cannot be broadcast \(dim -2 is 2 vs 4\)$/,
  ],
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
  [
    'scatterAdd',
    () => z(2, 3).scatterAdd(0, ids(2, 3), z(2, 2)),
    /scatterAdd: base \[2,3\], index \[2,3\], src \[2,2\]/,
  ],
  ['indexSelect 2-D index', () => z(4, 3).indexSelect(0, ids(2, 2)), /indexSelect: index must be 1-D, got \[2,2\]/],
  [
    'indexAdd',
    () => z(4, 3).indexAdd(0, ids(2), z(3, 3)),
    /indexAdd: base \[4,3\], index \[2\]: src must be \[2,3\], got \[3,3\]/,
  ],
  ['layerNorm', () => vg.layerNorm(z(2, 3), [4]), /layerNorm: normalizedShape \[4\] does not end \[2,3\]/],
  ['crossEntropy', () => vg.crossEntropy(z(2, 3), ids(3)), /crossEntropy: target \[3\] does not match logits \[2,3\]/],
  [
    'crossEntropy soft',
    () => vg.crossEntropy(z(2, 3), z(2, 4)),
    /crossEntropy: probability target \[2,4\] must match logits \[2,3\]/,
  ],
  ['tensor ragged', () => vg.tensor([[1, 2], [3]]), /tensor: ragged nested array at depth 1 \(expected length 2\)/],
  [
    'tensor shape',
    () => vg.tensor(new Float32Array(5), { shape: [2, 2] }),
    /tensor: shape \[2,2\] needs 4 values, got 5/,
  ],
  [
    'backward grad shape',
    () => z(2).requiresGrad_().mul(2).backward(z(3)),
    /backward: grad \[3\] does not match output \[2\]/,
  ],
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
  [
    'int32 requiresGrad',
    () => ids(2).requiresGrad_(),
    /requiresGrad: only float tensors can require grad, got int32 \[2\]/,
  ],
  ['matmul int', () => ids(2, 2).matmul(ids(2, 2)), /matmul: \[2,2\] int32 @ \[2,2\] int32: float operands expected/],
  [
    'matmul mixed',
    () => z(2, 2).matmul(vg.zeros([2, 2], { dtype: 'float64' })),
    /matmul: \[2,2\] @ \[2,2\]: dtypes float32 and float64 differ/,
  ],
  ['gather float index', () => z(2).gather(0, z(2)), /gather: index must be int32, got float32 \[2\]/],
  ['embedding float ids', () => vg.embedding(z(3, 2), z(2)), /indexSelect: index must be int32, got float32 \[2\]/],
  ['oneHot', () => vg.oneHot(z(2), 3), /oneHot: ids must be int32, got float32/],
  [
    'gradcheck float32',
    () => vg.gradcheck((x) => x, [z(1).requiresGrad_()]),
    /gradcheck: input 0 \[1\] is float32; use float64/,
  ],
];

for (const [name, fn, re] of dtypeCases) {
  t.test(`DTypeError: ${name}`, async (t) => {
    t.throws(fn, DTypeError);
    t.throws(fn, re);
  });
}

t.test('out-of-range indices name the op and the bound', async (t) => {
  t.throws(
    () => z(3).gather(0, vg.tensor([3], { dtype: 'int32' })),
    /gather: index 3 is out of bounds for a dimension of size 3/,
  );
  t.throws(
    () => vg.embedding(z(3, 2), vg.tensor([-1], { dtype: 'int32' })),
    /indexSelect: index -1 is out of bounds for a dimension of size 3/,
  );
});

// Issue 13: inputs that used to give silently wrong results now throw, naming the op and the value.
const i32 = (d: vg.NestedArray) => vg.tensor(d, { dtype: 'int32' });
const disposed = () => {
  const x = vg.tensor([1]);
  x.dispose();
  return x;
};
const valueCases: [string, () => unknown, RegExp][] = [
  ['eye(-1)', () => vg.eye(-1), /^eye: n and m must be integers >= 0, got n=-1, m=-1$/],
  ['eye(2, 1.5)', () => vg.eye(2, 1.5), /eye: .*got n=2, m=1.5/],
  ['arange(0, NaN)', () => vg.arange(0, NaN), /^arange: start 0, end NaN and step 1 must be finite numbers$/],
  ['arange(0, Infinity)', () => vg.arange(0, Infinity), /arange: .*end Infinity.*finite/],
  // torch.arange(0, 5, -1) raises too ("upper bound and larger bound inconsistent with step sign")
  ['arange step sign', () => vg.arange(0, 5, -1), /arange: step -1 points away from end 5 \(start 0\)/],
  ['linspace steps', () => vg.linspace(0, 1, -1), /^linspace: steps must be an integer >= 0, got -1$/],
  [
    'oneHot id = C',
    () => vg.oneHot(i32([0, 3]), 3),
    /^oneHot: class id 3 at index 1 of \[2\] is out of range for numClasses 3 \(expected 0 to 2\)$/,
  ],
  ['oneHot id -1', () => vg.oneHot(i32([-1]), 3), /oneHot: class id -1 at index 0 of \[1\] is out of range/],
  ['oneHot numClasses', () => vg.oneHot(i32([0]), 2.5), /oneHot: numClasses must be an integer >= 0, got 2.5/],
  [
    'argmax of empty',
    () => vg.zeros([0]).argmax(),
    /^argmax: the tensor \[0\] is empty; there is no maximum to index$/,
  ],
  ['argmin of empty', () => vg.zeros([2, 0]).argmin(), /argmin: the tensor \[2,0\] is empty; there is no minimum/],
  ['amin of empty', () => vg.zeros([0, 2]).amin(0), /^amin: cannot reduce the empty dim 0 of \[0,2\]$/],
  ['randint past int32', () => vg.randint(0, 2 ** 33, [4]), /^randint: \[0, 8589934592\) does not fit int32/],
  ['randint empty range', () => vg.randint(3, 3, [2]), /randint: expected integers low < high, got low=3, high=3/],
  [
    'tensor 3e9 int32',
    () => vg.tensor([3e9], { dtype: 'int32' }),
    /^tensor: value 3000000000 at index 0 does not fit int32 \(expected a number in \[-2147483648, 2147483647\]/,
  ],
  [
    'tensor NaN int32',
    () => vg.tensor([1, NaN], { dtype: 'int32' }),
    /tensor: value NaN at index 1 does not fit int32/,
  ],
  [
    'typed array to int32',
    () => vg.tensor(new Float64Array([-3e9]), { dtype: 'int32' }),
    /tensor: value -3000000000 at index 0 does not fit int32/,
  ],
  [
    'full 3e9 int32',
    () => vg.full([2], 3e9, { dtype: 'int32' }),
    /full: value 3000000000 at index 0 does not fit int32/,
  ],
  [
    'int32 tensor + 3e9',
    () => i32([1]).add(3e9),
    /add: the number operand: value 3000000000 at index 0 does not fit int32/,
  ],
  [
    'NaN to int32',
    () => vg.tensor([0.5, NaN]).to('int32'),
    /^cast \[2\] float32 to int32: value NaN at index 1 does not fit int32/,
  ],
  [
    '3e9 to int32',
    () => vg.tensor([3e9], { dtype: 'float64' }).to('int32'),
    /cast \[1\] float64 to int32: value 3000000000 at index 0/,
  ],
  [
    'dataSync after dispose',
    () => disposed().dataSync(),
    /^dataSync: the tensor \[1\] float32 on cpu was disposed; it cannot be used any more$/,
  ],
  ['item after dispose', () => disposed().item(), /^item: the tensor \[1\] float32 on cpu was disposed/],
  ['toArray after dispose', () => disposed().toArray(), /dataSync: the tensor \[1\] float32 on cpu was disposed/],
  ['to after dispose', () => disposed().to('cpu-ref'), /^to: the tensor \[1\] float32 on cpu was disposed/],
  [
    'assign into disposed',
    () => disposed().assign(vg.tensor([2])),
    /^assign: the tensor \[1\] float32 on cpu was disposed/,
  ],
  [
    'assign from disposed',
    () => vg.tensor([2]).assign(disposed()),
    /^assign \(the value\): the tensor \[1\] float32 on cpu was disposed/,
  ],
  [
    'labelSmoothing 2',
    () => vg.crossEntropy(z(2, 3), ids(2), { labelSmoothing: 2 }),
    /^crossEntropy: labelSmoothing must be in \[0, 1\], got 2$/,
  ],
  [
    'labelSmoothing NaN',
    () => vg.crossEntropy(z(2, 3), ids(2), { labelSmoothing: NaN }),
    /labelSmoothing must be in \[0, 1\], got NaN/,
  ],
  [
    'reduction typo',
    () => vg.crossEntropy(z(2, 3), ids(2), { reduction: 'avg' as 'mean' }),
    /^crossEntropy: reduction "avg" is not one of mean, sum, none$/,
  ],
  [
    'mseLoss reduction',
    () => vg.mseLoss(z(2), z(2), 'avg' as 'mean'),
    /mseLoss: reduction "avg" is not one of mean, sum, none/,
  ],
  ["add('1')", () => z(2).add('1' as unknown as number), /^add: expected a Tensor or a number, got string "1"$/],
  ['mul(null)', () => z(2).mul(null as unknown as number), /^mul: expected a Tensor or a number, got object null$/],
  ['add(1, 2)', () => vg.add(1, 2), /^add: expected at least one Tensor operand, got number and number$/],
  [
    'where with a string',
    () => z(2).where(ids(2), 'x' as unknown as number),
    /where: expected a Tensor or a number, got string "x"/,
  ],
];

for (const [name, fn, re] of valueCases) {
  t.test(`bad value: ${name}`, async (t) => {
    t.throws(fn, re);
  });
}

t.test('data() and itemAsync() after dispose reject with the op named', async (t) => {
  await t.rejects(disposed().data(), /^data: the tensor \[1\] float32 on cpu was disposed/);
  await t.rejects(disposed().itemAsync(), /^itemAsync: the tensor \[1\] float32 on cpu was disposed/);
});

t.test('PyTorch behaviour kept where it is well defined', async (t) => {
  // torch.tensor([1.9, -1.9], dtype=torch.int32) truncates toward zero; so do tensor() and to().
  t.same(vg.tensor([1.9, -1.9], { dtype: 'int32' }).toArray(), [1, -1]);
  t.same(
    vg.tensor([2147483647.5, -2147483648.5], { dtype: 'float64' }).to('int32').toArray(),
    [2147483647, -2147483648],
  );
  t.same(vg.randint(-(2 ** 31), 2 ** 31, [3]).shape, [3], 'the full int32 range is allowed');
  t.same(vg.arange(5, 0, -2).toArray(), [5, 3, 1]);
  t.same(vg.arange(3, 3).shape, [0], 'an empty range is fine');
  t.same(vg.oneHot(i32([2, 0]), 3).toArray(), [
    [0, 0, 1],
    [1, 0, 0],
  ]);
  t.same(vg.eye(0).shape, [0, 0]);
});

// Issue 14: messages that named internals now say what was wrong.
const messageCases: [string, () => unknown, RegExp][] = [
  [
    'tensor float16',
    () => vg.tensor([1], { dtype: 'float16' as 'float32' }),
    /^tensor: unknown dtype "float16"; expected one of float32, float64, int32$/,
  ],
  ['zeros float16', () => vg.zeros([1], { dtype: 'float16' as 'float32' }), /^zeros: unknown dtype "float16"/],
  ['randn float16', () => vg.randn([1], { dtype: 'float16' as 'float32' }), /^randn: unknown dtype "float16"/],
  ['cast float16', () => vg.to(z(1), 'float16' as 'float32'), /^cast: unknown dtype "float16"/],
  [
    "to('float16')",
    () => z(1).to('float16'),
    /^to: 'float16' is not a dtype \(float32, float64, int32\); as a device: unknown device 'float16'; registered: cpu, cpu-ref/,
  ],
  ['split(0)', () => z(4).split(0), /^split: split size 0 for dim 0 of \[4\]: expected a positive integer$/],
  ['split(1.5)', () => z(4).split(1.5), /split: split size 1.5 for dim 0 of \[4\]/],
  [
    'split negative sizes',
    () => z(4).split([5, -1]),
    /^split: sizes \[5,-1\] for dim 0 of \[4\]: expected integers >= 0$/,
  ],
  ['chunk(0)', () => z(4).chunk(0), /^chunk: chunks must be an integer > 0, got 0 \(for \[4\]\)$/],
  [
    'tensor shape vs nested',
    () => vg.tensor([1, 2], { shape: [3] }),
    /^tensor: shape \[3\] needs 3 values, got 2 \(\[2\]\)$/,
  ],
  ['zeros bad shape', () => vg.zeros([2, -1]), /^zeros: invalid shape \[2,-1\] \(expected integers >= 0\)$/],
];

for (const [name, fn, re] of messageCases) {
  t.test(`message: ${name}`, async (t) => {
    t.throws(fn, re);
  });
}
