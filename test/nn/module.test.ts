/** Module API: names, ties, state dicts and their errors, modes, freezing, dtype conversion. */
import fc from 'fast-check';
import t from 'tap';
import { noGrad, Rng, tensor, tidy, zeros, type Tensor } from '../../engine/index.js';
import { MultiHeadAttention } from '../../nn/attention.js';
import { Dropout, Embedding, GELU, LayerNorm, Linear, ModuleList, Sequential } from '../../nn/layers.js';
import { Module, StateDictError } from '../../nn/module.js';

/** A BERT-shaped skeleton: children registered under the reference implementation's names. */
class BertLike extends Module {
  readonly layers: ModuleList;
  constructor(n: number, rng: Rng) {
    super();
    const encoder = this.registerModule('encoder', new Module());
    this.layers = encoder.registerModule('layer', new ModuleList());
    for (let i = 0; i < n; i++) {
      const layer = new Module();
      const attention = layer.registerModule('attention', new Module());
      attention.registerModule('self', new MultiHeadAttention({ dim: 4, heads: 2, rng }));
      attention.registerModule('output', new Module()).registerModule('LayerNorm', new LayerNorm(4, 1e-12));
      this.layers.push(layer);
    }
  }
}

/** Word embeddings tied to the output decoder (BERT's MLM head); the decoder keeps its own bias. */
class Tied extends Module {
  readonly emb: Embedding;
  readonly decoder: Linear;
  constructor(rng: Rng) {
    super();
    this.emb = this.registerModule('emb', new Embedding(10, 4, { rng }));
    this.decoder = this.registerModule('decoder', new Linear(4, 10, { rng }));
    this.decoder.weight = this.emb.weight;
  }
  forward(ids: Tensor): Tensor {
    return this.decoder.forward(this.emb.forward(ids));
  }
}

t.test('namedParameters uses the registered names, dotted', (tt) => {
  const m = new BertLike(2, new Rng(0));
  const names = m.namedParameters().map(([n]) => n);
  tt.ok(names.includes('encoder.layer.0.attention.self.query.weight'));
  tt.ok(names.includes('encoder.layer.1.attention.output.LayerNorm.bias'));
  tt.equal(names.length, 2 * (8 + 2));
  tt.same(
    m
      .namedModules()
      .map(([n]) => n)
      .slice(0, 4),
    ['', 'encoder', 'encoder.layer', 'encoder.layer.0'],
  );
  tt.equal(m.getSubmodule('encoder.layer.1.attention.self'), m.layers.at(1).getSubmodule('attention.self'));
  tt.throws(() => m.getSubmodule('encoder.nope'), /no module 'encoder.nope'/);
  tt.throws(() => m.registerModule('a.b', new Module()), /invalid name/);
  tt.throws(() => new Module().registerParameter('w', zeros([2], { requiresGrad: true }).mul(2)), /leaf/);
  tt.end();
});

t.test('tied weights: one parameter, two state-dict names, one gradient', (tt) => {
  const m = new Tied(new Rng(1));
  tt.equal(m.parameters().length, 2, 'emb.weight (= decoder.weight) and decoder.bias');
  tt.equal(m.numParameters(), 10 * 4 + 10);
  tt.same(
    m.namedParameters().map(([n]) => n),
    ['emb.weight', 'decoder.bias'],
  );
  const sd = m.stateDict();
  tt.same(Object.keys(sd), ['emb.weight', 'decoder.weight', 'decoder.bias']);
  const ids = tensor(new Int32Array([1, 2, 3]));
  m.forward(ids).sum().backward();
  tt.ok(m.emb.weight.grad, 'both uses accumulate into the one tensor');
  // d/dW of sum(E[ids] W^T + b): row v gets Σ_t E[ids_t] (decoder use) plus, for looked-up rows, Σ_v W_v (embedding use)
  const W = m.emb.weight.toArray() as number[][],
    g = m.emb.weight.grad!.toArray() as number[][];
  const colSum = [0, 1, 2, 3].map((j) => W.reduce((a, r) => a + r[j], 0));
  const used = [1, 2, 3].map((i) => W[i]).reduce((a, r) => a.map((x, j) => x + r[j]), [0, 0, 0, 0]);
  const want = W.map((_, v) => used.map((x, j) => x + ([1, 2, 3].includes(v) ? colSum[j] : 0)));
  tt.ok(g.every((row, v) => row.every((x, j) => Math.abs(x - want[v][j]) < 1e-4)));
  tt.end();
});

t.test('stateDict / loadStateDict round trip copies values', (tt) => {
  const a = new BertLike(2, new Rng(2)),
    b = new BertLike(2, new Rng(3));
  const x = tensor(
    new Rng(4).permutation(24).map((v) => v / 24),
    { shape: [2, 3, 4] },
  );
  const run = (m: BertLike) =>
    noGrad(() => (m.getSubmodule('encoder.layer.0.attention.self') as MultiHeadAttention).forward(x).toArray());
  tt.notSame(run(a), run(b));
  const res = b.loadStateDict(a.stateDict());
  tt.same(res, { missing: [], unexpected: [] });
  tt.same(run(a), run(b));
  const p = a.parameters()[0];
  p.assign(zeros(p.shape));
  tt.notSame(b.parameters()[0].toArray(), p.toArray(), 'loaded storage is a copy');
  const f64 = Object.fromEntries(Object.entries(a.stateDict()).map(([k, v]) => [k, v.to('float64')]));
  b.loadStateDict(f64);
  tt.equal(b.parameters()[0].dtype, 'float32', 'values are converted to the module dtype');
  tt.end();
});

t.test('strict loading lists every missing, unexpected and mis-shaped key', (tt) => {
  const m = new Sequential(new Linear(3, 2), new GELU(), new Linear(2, 1));
  const sd = m.stateDict();
  delete sd['0.bias'];
  delete sd['2.weight'];
  sd['9.weight'] = zeros([1]);
  sd['0.weight'] = zeros([3, 2]);
  const err = (() => {
    try {
      m.loadStateDict(sd);
    } catch (e) {
      return e;
    }
  })() as StateDictError;
  tt.ok(err instanceof StateDictError);
  tt.same(err.missing, ['0.bias', '2.weight']);
  tt.same(err.unexpected, ['9.weight']);
  tt.same(err.mismatched, ['0.weight: checkpoint [3,2] vs module [2,3]']);
  tt.match(err.message, /missing keys: 0.bias, 2.weight \| unexpected keys: 9.weight \| shape mismatches: 0.weight/);
  delete sd['0.weight'];
  const res = m.loadStateDict(sd, { strict: false });
  tt.same(
    res,
    { missing: ['0.weight', '0.bias', '2.weight'], unexpected: ['9.weight'] },
    'non-strict returns the lists',
  );
  sd['2.bias'] = zeros([5]);
  tt.throws(
    () => m.loadStateDict(sd, { strict: false }),
    /shape mismatches: 2.bias/,
    'shapes are checked even when not strict',
  );
  tt.end();
});

t.test('buffers: persistent ones are saved, all are listed', (tt) => {
  const m = new Module();
  m.registerBuffer('index', tensor(new Int32Array([0, 1])));
  m.registerBuffer('cache', zeros([2]), { persistent: false });
  m.registerModule('lin', new Linear(2, 2));
  tt.same(
    m.namedBuffers().map(([n]) => n),
    ['index', 'cache'],
  );
  tt.same(Object.keys(m.stateDict()), ['index', 'lin.weight', 'lin.bias'], 'own state before children, as PyTorch');
  tt.throws(() => m.registerParameter('index', zeros([1])), /already registered/);
  m.to('float64');
  tt.equal(m.buffers()[0].dtype, 'int32', 'int buffers keep their dtype');
  tt.equal(m.buffers()[1].dtype, 'float64');
  tt.end();
});

t.test('train/eval propagate; Dropout is seeded and off in eval', (tt) => {
  const m = new Sequential(
    new Linear(4, 4),
    new Dropout(0.5, new Rng(5)),
    new Sequential(new Dropout(0.25, new Rng(6))),
  );
  m.eval();
  tt.ok(m.modules().every((x) => !x.training));
  const x = tensor(new Float32Array(64).fill(1), { shape: [16, 4] });
  const d = m.layers[1];
  tt.same(d.forward(x).toArray(), x.toArray(), 'identity in eval');
  m.train();
  tt.ok(m.modules().every((x) => x.training));
  const y = d.forward(x).dataSync();
  tt.ok(
    [...y].every((v) => v === 0 || v === 2),
    'kept values scaled by 1/(1-p)',
  );
  const zerosFrac = [...y].filter((v) => v === 0).length / y.length;
  tt.ok(zerosFrac > 0.3 && zerosFrac < 0.7, `about half dropped (${zerosFrac})`);
  tt.same([...new Dropout(0.5, new Rng(5)).forward(x).dataSync()], [...y], 'same seed, same mask');
  tt.end();
});

t.test('zeroGrad, requiresGrad_ on a subtree, apply order, to(float64) keeps ties', (tt) => {
  const m = new Tied(new Rng(7));
  m.forward(tensor(new Int32Array([1])))
    .sum()
    .backward();
  tt.ok(m.parameters().every((p) => p.grad));
  m.zeroGrad();
  tt.ok(m.parameters().every((p) => p.grad === null));
  m.decoder.requiresGrad_(false);
  tt.equal(m.numParameters({ trainableOnly: true }), 0, 'the tied weight is frozen through the decoder too');
  m.requiresGrad_(true);
  const order: string[] = [];
  new Sequential(new Sequential(new GELU()), new LayerNorm(2)).apply((x) => order.push(x.constructor.name));
  tt.same(order, ['GELU', 'Sequential', 'LayerNorm', 'Sequential'], 'children before parents');
  m.to('float64');
  tt.ok(m.parameters().every((p) => p.dtype === 'float64' && p.requiresGrad));
  tt.equal(m.decoder.weight, m.emb.weight, 'still tied after the dtype change');
  tt.equal(m.forward(tensor(new Int32Array([1]))).dtype, 'float64');
  tt.end();
});

t.test('parameters created inside tidy() survive it', (tt) => {
  const m = tidy(() => new Linear(2, 2));
  tt.notOk(m.weight.isDisposed);
  tt.equal(m.forward(zeros([1, 2])).shape.join(), '1,2');
  tt.end();
});

/** Random trees of Linear / LayerNorm / nested lists, for the round-trip property. */
type Spec =
  | { kind: 'linear'; i: number; o: number; bias: boolean }
  | { kind: 'norm'; d: number }
  | { kind: 'list'; items: Spec[] };
const spec: fc.Arbitrary<Spec> = fc.letrec<{ node: Spec }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({
      kind: fc.constant('linear' as const),
      i: fc.integer({ min: 1, max: 4 }),
      o: fc.integer({ min: 1, max: 4 }),
      bias: fc.boolean(),
    }),
    fc.record({ kind: fc.constant('norm' as const), d: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ kind: fc.constant('list' as const), items: fc.array(tie('node'), { maxLength: 3 }) }),
  ),
})).node;
function build(s: Spec, rng: Rng): Module {
  switch (s.kind) {
    case 'linear':
      return new Linear(s.i, s.o, { bias: s.bias, rng });
    case 'norm':
      return new LayerNorm(s.d);
    case 'list':
      return new ModuleList(s.items.map((x) => build(x, rng)));
  }
}

t.test('property: any module tree round-trips through its state dict', (tt) => {
  fc.assert(
    fc.property(spec, fc.integer(), (s, seed) => {
      const a = build(s, new Rng(seed)),
        b = build(s, new Rng(seed + 1));
      const sd = a.stateDict();
      const count = Object.values(sd).reduce((n, v) => n + v.size, 0);
      if (count !== a.numParameters()) return false;
      b.loadStateDict(sd);
      const sb = b.stateDict();
      return (
        Object.keys(sd).join() === Object.keys(sb).join() &&
        Object.keys(sd).every((k) => sd[k].toArray().toString() === sb[k].toArray().toString())
      );
    }),
    { numRuns: 100 },
  );
  tt.pass('round trip holds');
  tt.end();
});
