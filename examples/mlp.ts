// Train a 2-layer MLP on XOR-like data with nothing but the engine: tensors, autograd, noGrad.
import { manualSeed, noGrad, randn, tensor, zeros, type Tensor } from '../engine/index.js';

manualSeed(0);
const x = tensor([
  [0, 0],
  [0, 1],
  [1, 0],
  [1, 1],
]); // [4, 2]
const y = tensor([[0], [1], [1], [0]]); // [4, 1]
const params = [randn([2, 16]).mul(0.5), zeros([16]), randn([16, 1]).mul(0.5), zeros([1])].map((p) =>
  p.requiresGrad_(),
);
const [w1, b1, w2, b2] = params;
const forward = (inp: Tensor) => inp.matmul(w1).add(b1).tanh().matmul(w2).add(b2).sigmoid();

for (let step = 0; step <= 500; step++) {
  const loss = forward(x).sub(y).pow(2).mean();
  for (const p of params) p.grad = null;
  loss.backward();
  noGrad(() => {
    for (const p of params) p.assign(p.sub(p.grad!.mul(1.0)));
  }); // SGD, lr 1
  if (step % 100 === 0) console.log(`step ${step} loss ${loss.item().toFixed(4)}`);
}
console.log('predictions', forward(x).toArray());
