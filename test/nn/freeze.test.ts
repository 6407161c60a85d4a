/**
 * Freezing: after requiresGrad_(false) on a subtree, an optimizer step (AdamW, with weight decay)
 * leaves those parameters bit-identical and changes every other one.
 */
import t from 'tap';
import { Rng, tensor } from '../../engine/index.js';
import { Embedding, LayerNorm, Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { AdamW } from '../../nn/optim.js';
import { TransformerLayer } from '../../nn/transformer.js';

class Tiny extends Module {
  readonly emb: Embedding;
  readonly layer: TransformerLayer;
  readonly norm: LayerNorm;
  readonly head: Linear;
  constructor(rng: Rng) {
    super();
    this.emb = this.registerModule('emb', new Embedding(7, 8, { rng }));
    this.layer = this.registerModule(
      'layer',
      new TransformerLayer({ dim: 8, heads: 2, mlpDim: 16, norm: 'pre', layerScale: 0.1, rng }),
    );
    this.norm = this.registerModule('norm', new LayerNorm(8));
    this.head = this.registerModule('head', new Linear(8, 7, { rng }));
  }
}

t.test('frozen subtrees do not move; the rest does', (tt) => {
  const m = new Tiny(new Rng(0));
  // VLMo stage 2 style: freeze the shared attention and its norm, train the rest.
  m.layer.attn.requiresGrad_(false);
  m.layer.norm1.requiresGrad_(false);
  const frozen = new Set([...m.layer.attn.parameters(), ...m.layer.norm1.parameters()]);
  const before = new Map(m.namedParameters().map(([n, p]) => [n, Array.from(p.dataSync())]));
  const opt = new AdamW(m.parameters(), { lr: 1e-2, weightDecay: 0.1 });
  const ids = tensor(new Int32Array([1, 2, 3, 4, 5, 6]), { shape: [2, 3] });
  const logits = m.head.forward(m.norm.forward(m.layer.forward(m.emb.forward(ids))));
  logits.pow(2).mean().backward();
  opt.step();
  tt.equal(frozen.size, 10, 'attention (query, key, value, proj) and norm1 parameters');
  for (const [name, p] of m.namedParameters()) {
    const was = before.get(name)!,
      now = Array.from(p.dataSync());
    if (frozen.has(p)) {
      tt.equal(p.grad, null, `${name} has no gradient`);
      tt.same(now, was, `${name} is bit-identical`);
    } else {
      tt.ok(
        now.some((v, i) => v !== was[i]),
        `${name} changed`,
      );
    }
  }
  tt.equal(m.numParameters({ trainableOnly: true }), m.numParameters() - [...frozen].reduce((n, p) => n + p.size, 0));
  tt.end();
});
