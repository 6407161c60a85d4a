/**
 * The stack learns: a 2-layer pre-LN transformer trained from scratch to reverse 8-token sequences
 * (vocabulary 10) must reach >= 99% token accuracy on held-out sequences within a fixed budget of
 * AdamW steps, on a fixed seed. Reversal needs attention: output t copies input T-1-t.
 */
import t from 'tap';
import { crossEntropy, noGrad, Rng, tensor, type Tensor } from '../../engine/index.js';
import { Embedding, LayerNorm, Linear, ModuleList } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { AdamW } from '../../nn/optim.js';
import { TransformerLayer } from '../../nn/transformer.js';

const V = 10,
  T = 8,
  C = 32,
  HEADS = 4,
  LAYERS = 2,
  BATCH = 32,
  STEPS = 40,
  LR = 1e-2;

class Reverser extends Module {
  readonly tok: Embedding;
  readonly pos: Embedding;
  readonly layers: ModuleList<TransformerLayer>;
  readonly norm: LayerNorm;
  readonly head: Linear;
  constructor(rng: Rng) {
    super();
    this.tok = this.registerModule('tok', new Embedding(V, C, { rng }));
    this.pos = this.registerModule('pos', new Embedding(T, C, { rng }));
    const layers = Array.from(
      { length: LAYERS },
      () => new TransformerLayer({ dim: C, heads: HEADS, mlpDim: 2 * C, norm: 'pre', fusedQkv: true, rng }),
    );
    this.layers = this.registerModule('layers', new ModuleList(layers));
    this.norm = this.registerModule('norm', new LayerNorm(C));
    this.head = this.registerModule('head', new Linear(C, V, { rng }));
  }
  /** ids [B, T] -> logits [B, T, V] */
  forward(ids: Tensor): Tensor {
    const positions = tensor(Int32Array.from({ length: T }, (_, i) => i));
    let x = this.tok.forward(ids).add(this.pos.forward(positions)); // [B, T, C] + [T, C]
    for (const layer of this.layers) x = layer.forward(x);
    return this.head.forward(this.norm.forward(x));
  }
}

/** B random sequences and their reversals, as [B, T] int32 each. */
function batch(B: number, rng: Rng): { x: Tensor; y: Tensor; keys: string[] } {
  const x = Int32Array.from({ length: B * T }, () => rng.int(0, V));
  const y = x.map((_, i) => x[i - (i % T) + T - 1 - (i % T)]);
  const keys = Array.from({ length: B }, (_, b) => x.slice(b * T, (b + 1) * T).join(''));
  return { x: tensor(x, { shape: [B, T] }), y: tensor(y, { shape: [B, T] }), keys };
}

t.test('a 2-layer transformer learns to reverse sequences', (tt) => {
  const started = performance.now();
  const model = new Reverser(new Rng(0));
  const opt = new AdamW(model.parameters(), { lr: LR });
  const data = new Rng(1),
    seen = new Set<string>();
  let loss = NaN;
  for (let step = 0; step < STEPS; step++) {
    const { x, y, keys } = batch(BATCH, data);
    keys.forEach((k) => seen.add(k));
    const l = crossEntropy(model.forward(x).reshape([-1, V]), y.reshape([-1]));
    opt.zeroGrad();
    l.backward();
    opt.step();
    loss = l.item();
  }
  const trainSeconds = (performance.now() - started) / 1000;
  const test = batch(512, new Rng(2));
  tt.ok(test.keys.filter((k) => seen.has(k)).length <= 1, 'held-out sequences are (almost all) unseen');
  const acc = noGrad(() => model.eval().forward(test.x).argmax(-1).eq(test.y).to('float32').mean().item());
  tt.comment(
    `${STEPS} steps of batch ${BATCH} (C=${C}, ${LAYERS} layers, ${model.numParameters()} params): ` +
      `final loss ${loss.toFixed(4)}, held-out token accuracy ${(100 * acc).toFixed(2)}%, train ${trainSeconds.toFixed(1)} s`,
  );
  tt.ok(acc >= 0.99, `held-out token accuracy ${acc} >= 0.99`);
  tt.end();
});
