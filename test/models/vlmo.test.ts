// VLMo: routing of tokens to experts, stagewise freezing, relative-position indices on a hand-computed
// grid, parameter counts of all configs (from the real module tree, on the meta device), and the
// reference state-dict names.
import fc from 'fast-check';
import t from 'tap';
import { noGrad, ones, randint, randn, Rng, tensor, type Tensor } from '../../engine/index.js';
import { AdamW, paramGroups } from '../../nn/optim.js';
import { VLMO_BASE, VLMO_LARGE, vlmoMicro, vlmoTiny } from '../../models/vlmo/config.js';
import { countParameters } from '../../models/vlmo/count.js';
import { mimObjective, textMlmObjective, vlObjective } from '../../models/vlmo/objectives.js';
import { fusedRelPosIndex, imageRelPosIndex, relPosLayout, textRelPosIndex } from '../../models/vlmo/relpos.js';
import {
  freezeForStage,
  LANGUAGE_STAGE_KEYS,
  loadPreviousStage,
  stageConfig,
  vlmoNoDecay,
  type Stage,
} from '../../models/vlmo/stages.js';
import { Vlmo } from '../../models/vlmo/vlmo.js';
import { fromReference, fromReferenceKey, toReference, toReferenceKey } from '../../models/vlmo/weights.js';
import { microSetup } from './vlmo_fixtures.js';

const EXPERTS = {
  text: /\.(mlp_text|norm2_text)\./,
  imag: /\.(mlp_imag|norm2_imag)\./,
  vl: /\.(mlp_vl|norm2_vl)\./,
} as const;

/** Which expert families of block i received a gradient. */
function expertsWithGrad(model: Vlmo, block: number): Set<keyof typeof EXPERTS> {
  const got = new Set<keyof typeof EXPERTS>();
  for (const [name, p] of model.namedParameters()) {
    if (!name.startsWith(`transformer.blocks.${block}.`) || !p.grad) continue;
    const nonzero = p.grad.abs().sum().item() > 0;
    for (const [k, re] of Object.entries(EXPERTS)) if (re.test(name) && nonzero) got.add(k as keyof typeof EXPERTS);
  }
  return got;
}

t.test('routing: gradients reach exactly the expert of the input, in every block', async (t) => {
  const { model, batch } = microSetup(1, { dtype: 'float32' });
  const depth = model.config.depth,
    start = model.vlffnStart,
    rng = new Rng(3);
  // A random projection of the outputs (a plain sum of LayerNorm outputs has zero gradient).
  const project = (x: Tensor): Tensor => x.mul(randn(x.shape, { rng })).sum();
  const check = (what: string, loss: () => Tensor, want: (i: number) => (keyof typeof EXPERTS)[]): void => {
    model.zeroGrad();
    loss().backward();
    for (let i = 0; i < depth; i++)
      t.same([...expertsWithGrad(model, i)].sort(), want(i).sort(), `${what}: block ${i}`);
  };
  check(
    'image-only',
    () => project(model.encodeImage(batch.images).hidden),
    () => ['imag'],
  );
  check(
    'text-only',
    () => project(model.encodeText(batch.ids, batch.attentionMask).hidden),
    () => ['text'],
  );
  check(
    'fused',
    () => project(model.fuse(batch.ids, batch.attentionMask, batch.images)),
    (i) => (i < start ? ['imag', 'text'] : ['vl']),
  );
  check(
    'image-only + VL branch (ITC b)',
    () => project(model.encodeImage(batch.images, { vlBranch: true }).vlFeat!),
    (i) => (i < start ? ['imag'] : ['vl']),
  );
  t.equal(start, 2, 'the micro config has split-routed blocks 0-1 and a VL-FFN block 2');
});

t.test('routing (property): outputs do not depend on the experts a path must not use', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 3 }), (seed, B) => {
      const model = new Vlmo(vlmoMicro(12), { seed });
      const rng = new Rng(seed),
        c = model.config;
      const images = randn([B, 3, c.imageSize, c.imageSize], { rng });
      const ids = randint(5, 12, [B, c.maxTextLen], { rng });
      const mask = tensor(
        Int32Array.from({ length: B * c.maxTextLen }, (_, i) => (i % c.maxTextLen < 3 + (i % 2) ? 1 : 0)),
        { shape: [B, c.maxTextLen] },
      );
      const run = (): number[][] =>
        noGrad(() => [
          Array.from(model.encodeImage(images).hidden.dataSync()),
          Array.from(model.encodeText(ids, mask).hidden.dataSync()),
          Array.from(model.fuse(ids, mask, images).dataSync()),
        ]);
      const before = run();
      const perturb = (re: RegExp): void =>
        noGrad(() => {
          for (const [n, p] of model.namedParameters()) if (re.test(n)) p.assign(p.add(randn(p.shape, { rng })));
        });
      // Text and VL experts cannot change the image-only pass; image and VL experts cannot change text-only.
      perturb(/mlp_text|norm2_text|mlp_vl|norm2_vl/);
      const afterText = run();
      perturb(
        new RegExp(
          `blocks\\.(${Array.from({ length: c.depth - c.vlffnStart }, (_, i) => c.vlffnStart + i).join('|')})\\.(mlp_imag|norm2_imag)`,
        ),
      );
      const afterTopImag = run();
      return (
        JSON.stringify(afterText[0]) === JSON.stringify(before[0]) &&
        JSON.stringify(afterTopImag[1]) === JSON.stringify(afterText[1]) && // top-block V-FFN: not in text-only ...
        JSON.stringify(afterTopImag[2]) === JSON.stringify(afterText[2])
      ); // ... nor in fusion (VL-FFN there)
    }),
    { numRuns: 6 },
  );
  t.pass("image-only ignores L/VL experts; text-only and fusion ignore the top blocks' V-FFN");
});

t.test(
  'padded text keys are masked: padding content never reaches real tokens (a key mask only, as the reference)',
  async (t) => {
    const { model, batch } = microSetup(1, { dtype: 'float32' });
    const ids2 = tensor(
      Int32Array.from(batch.ids.dataSync()).map((v, i) => (batch.attentionMask.dataSync()[i] ? v : 7)),
      { shape: batch.ids.shape },
    );
    const a = noGrad(() => model.fuse(batch.ids, batch.attentionMask, batch.images)).dataSync();
    const b = noGrad(() => model.fuse(ids2, batch.attentionMask, batch.images)).dataSync();
    const C = model.config.dim,
      n = a.length / (3 * C),
      keep = batch.attentionMask.dataSync();
    let same = true;
    for (let r = 0; r < 3; r++)
      for (let i = 0; i < n; i++) {
        if (i < model.config.maxTextLen && !keep[r * model.config.maxTextLen + i]) continue;
        for (let c = 0; c < C; c++) if (a[(r * n + i) * C + c] !== b[(r * n + i) * C + c]) same = false;
      }
    t.ok(same, 'changing the ids under padding leaves every unpadded token bit-identical');
  },
);

t.test('relative position indices match a hand-computed 2x2 grid with 3-token texts', async (t) => {
  const layout = relPosLayout(2, 3);
  t.same(layout, { imageRows: 12, textRows: 6, total: 20 });
  // Image: (Δr+1)·3 + (Δc+1), Δ = query − key; [CLS] row 9, column 10, corner 11.
  t.same(
    Array.from(imageRelPosIndex(2)),
    [11, 9, 9, 9, 9, 10, 4, 3, 1, 0, 10, 5, 4, 2, 1, 10, 7, 6, 4, 3, 10, 8, 7, 5, 4],
  );
  // Text: (j − i) + (T0 − 2) + 14; [CLS] row 17, column 18, corner 19.
  t.same(Array.from(textRelPosIndex(3, layout)), [19, 17, 17, 18, 15, 16, 18, 14, 15]);
  // Fused [text ; image]: text -> image is row 12, image -> text row 13.
  t.same(
    Array.from(fusedRelPosIndex(3, 2, layout)),
    [
      19, 17, 17, 12, 12, 12, 12, 12, 18, 15, 16, 12, 12, 12, 12, 12, 18, 14, 15, 12, 12, 12, 12, 12, 13, 13, 13, 11, 9,
      9, 9, 9, 13, 13, 13, 10, 4, 3, 1, 0, 13, 13, 13, 10, 5, 4, 2, 1, 13, 13, 13, 10, 7, 6, 4, 3, 13, 13, 13, 10, 8, 7,
      5, 4,
    ],
  );
  // The reference's Base numbers (docs/reference.md#vlmo-embeddings-and-relative-position-bias): 732 image rows, text rows from 734, [CLS] rows 1123-1125.
  const base = relPosLayout(14, 196),
    text = textRelPosIndex(40, base);
  t.same(
    [base.imageRows, base.total, imageRelPosIndex(14)[0], imageRelPosIndex(14)[197], text[0], text[40], text[1]],
    [732, 1126, 731, 730, 1125, 1124, 1123],
  );
  t.equal(text[40 + 1], 734 + 194, 'token 1 -> token 1: offset 0 + (T0 − 2) + 734');
});

t.test(
  'parameter counts of all configs match the reference counts exactly (meta device, no weights allocated)',
  async (t) => {
    const tiny = countParameters(vlmoTiny(1000));
    t.same([tiny.backbone, tiny.total], [445_600, 535_564], 'vlmo-tiny (V = 1000)');
    const base = countParameters(VLMO_BASE);
    t.same([base.backbone, base.total], [175_430_496, 202_445_470], 'vlmo-base');
    t.same(
      [base.parts.transformer, base.parts.relative_position_bias_table, base.parts.text_embeddings],
      [151_792_128, 162_144, 23_474_688],
    );
    const large = countParameters(VLMO_LARGE);
    t.same([large.backbone, large.total], [561_544_448, 599_127_102], 'vlmo-large');
    // The count is the real tree: the same numbers a built model reports.
    const built = new Vlmo(vlmoTiny(1000));
    t.equal(built.numParameters(), tiny.total);
    t.equal(
      built.backboneParameters().reduce((n, p) => n + p.size, 0),
      tiny.backbone,
    );
  },
);

t.test('state-dict keys are the reference names; weights.ts maps the rest both ways', async (t) => {
  const model = new Vlmo(vlmoMicro(12), { mim: true });
  const keys = Object.keys(toReference(model.stateDict()));
  for (const k of [
    'transformer.patch_embed.proj.weight',
    'transformer.cls_token',
    'transformer.blocks.0.attn.q_bias',
    'transformer.blocks.0.attn.v_bias',
    'transformer.blocks.0.attn.qkv.weight',
    'transformer.blocks.2.mlp_vl.fc1.weight',
    'transformer.blocks.2.norm2_vl.bias',
    'transformer.blocks.1.gamma_2',
    'transformer.norm.weight',
    'relative_position_bias_table',
    'text_embeddings.word_embeddings.weight',
    'text_embeddings.LayerNorm.bias',
    'token_type_embeddings.weight',
    'pooler.dense.weight',
    'mlm_score.transform.LayerNorm.weight',
    'mlm_score.decoder.weight',
    'mlm_score.bias',
    'itm_score.fc.weight',
    'itc_vl_image_proj.fc.weight',
    'logit_vl_scale',
  ])
    t.ok(keys.includes(k), k);
  t.notOk(
    keys.some((k) => k.includes('attn.k_bias') || k.includes('qBias') || k.includes('itc_text_proj.fc.bias')),
    'no k bias, no ITC bias',
  );
  for (const k of keys) t.equal(toReferenceKey(fromReferenceKey(k)), k);
  const round = fromReference(toReference(model.stateDict()));
  t.same(Object.keys(round), Object.keys(model.stateDict()));
  model.loadStateDict(round);
});

/** Runs one AdamW step of a stage objective and reports which parameters moved. */
function stageStep(stage: Stage): {
  model: Vlmo;
  before: Map<string, Float32Array>;
  moved: Set<string>;
  frozen: string[];
  trainable: string[];
} {
  const config = stageConfig(vlmoMicro(12), stage);
  const model = new Vlmo(config, { seed: 5, mim: stage === 1 });
  const { batch, mimMask, codes } = microSetup(5, { dtype: 'float32' });
  const { trainable, frozen } = freezeForStage(model, stage);
  const before = new Map(model.namedParameters().map(([n, p]) => [n, Float32Array.from(p.dataSync())]));
  const opt = new AdamW(
    paramGroups(
      model.namedParameters().filter(([, p]) => p.requiresGrad),
      { weightDecay: 0.01, noDecay: vlmoNoDecay },
    ),
    { lr: 1e-3, betas: [0.9, 0.98] },
  );
  const loss =
    stage === 1
      ? mimObjective(model, { images: batch.images, mimMask, codes }).loss
      : stage === 2
        ? textMlmObjective(model, batch).loss
        : vlObjective(model, batch, {
            negatives: { imageForText: Int32Array.from([1, 2, 0]), textForImage: Int32Array.from([2, 0, 1]) },
          }).total;
  opt.zeroGrad();
  loss.backward();
  opt.step();
  const moved = new Set(
    model
      .namedParameters()
      .filter(([n, p]) => p.dataSync().some((v, i) => v !== before.get(n)![i]))
      .map(([n]) => n),
  );
  return { model, before, moved, frozen, trainable };
}

t.test('stage 2 freezes exactly the reference set; frozen tensors stay bit-identical, trained ones move', async (t) => {
  const { model, before, moved, frozen, trainable } = stageStep(2);
  t.notOk(
    model.namedParameters().some(([n]) => /mlp_vl|norm2_vl/.test(n)),
    'no VL-FFN exists in stage 2',
  );
  t.ok(
    trainable.every((n) => LANGUAGE_STAGE_KEYS.some((k) => toReferenceKey(n).includes(k))),
    'trained: only the reference keys',
  );
  for (const n of [
    'transformer.blocks.0.attn.qkv.weight',
    'transformer.blocks.0.attn.qBias',
    'transformer.blocks.0.norm1.weight',
    'transformer.blocks.1.gamma_1',
    'transformer.blocks.1.mlp_imag.fc1.weight',
    'transformer.blocks.1.norm2_imag.weight',
    'transformer.patch_embed.proj.weight',
    'transformer.cls_token',
    'pooler.dense.weight',
  ]) {
    t.ok(frozen.includes(n), `${n} is frozen`);
  }
  t.same(
    frozen.filter((n) => moved.has(n)),
    [],
    'every frozen parameter is bit-identical',
  );
  // Trained but never used: BERT's absolute position table (rel_pos mode adds no absolute positions).
  t.same(
    trainable.filter((n) => !moved.has(n)),
    ['text_embeddings.position_embeddings.weight'],
    'every other trained parameter moved',
  );
  // The relative-position table trains as one tensor, but only its text rows get gradient (and it is not decayed).
  const rows = relPosLayout(2, 5),
    table = model.relPosTable.dataSync(),
    cols = table.length / rows.total,
    old = before.get('relative_position_bias_table')!;
  const changed = (lo: number, hi: number): boolean =>
    table.slice(lo * cols, hi * cols).some((v, i) => v !== old[lo * cols + i]);
  t.notOk(changed(0, rows.imageRows + 2), 'image and cross-modal rows of the table are bit-identical');
  t.ok(changed(rows.imageRows + 2, rows.total), 'text rows moved');
});

t.test('stage 1 trains the vision set only; stage 3 trains everything', async (t) => {
  const s1 = stageStep(1);
  t.same(
    s1.frozen.filter((n) => s1.moved.has(n)),
    [],
    'stage 1: frozen parameters are bit-identical',
  );
  t.same(
    s1.trainable.filter((n) => !s1.moved.has(n)),
    [],
    'stage 1: every trained parameter moved',
  );
  t.ok(
    s1.frozen.some((n) => n.includes('mlp_text')) && s1.frozen.includes('text_embeddings.word_embeddings.weight'),
    'stage 1: text side frozen',
  );
  const s3 = stageStep(3);
  t.same(s3.frozen, [], 'stage 3: nothing is frozen');
  t.same(
    s3.trainable.filter((n) => !s3.moved.has(n)),
    ['text_embeddings.position_embeddings.weight'],
    'stage 3: everything used moved',
  );
});

t.test('stage transitions: what carries over, what is fresh, what is dropped', async (t) => {
  const s1 = new Vlmo(stageConfig(vlmoMicro(12), 1), { seed: 1, mim: true });
  const s2 = new Vlmo(stageConfig(vlmoMicro(12), 2), { seed: 2 });
  t.same(loadPreviousStage(s2, s1.stateDict(), 2), {
    fresh: [],
    dropped: ['mask_token', 'mim_head.norm.weight', 'mim_head.norm.bias', 'mim_head.fc.weight', 'mim_head.fc.bias'],
  });
  const s3 = new Vlmo(vlmoMicro(12), { seed: 3 });
  const vl = s3
    .namedParameters()
    .filter(([n]) => /mlp_vl|norm2_vl/.test(n))
    .map(([n, p]) => [n, Array.from(p.dataSync())] as const);
  const r = loadPreviousStage(s3, s2.stateDict(), 3);
  t.same(
    r.fresh,
    vl.map(([n]) => n),
    'entering stage 3 only the VL-FFN is new',
  );
  for (const [n, v] of vl)
    t.same(
      Array.from(
        s3
          .namedParameters()
          .find(([m]) => m === n)![1]
          .dataSync(),
      ),
      v,
      `${n} keeps its fresh init`,
    );
  t.same(Array.from(s3.relPosTable.dataSync()), Array.from(s2.relPosTable.dataSync()), 'the rest comes from stage 2');
  t.throws(
    () => loadPreviousStage(new Vlmo(vlmoMicro(12)), s1.stateDict(), 2),
    /does not fit/,
    'a stage-1 checkpoint cannot enter a VL-FFN model as stage 2',
  );
});

t.test('inputs are checked: texts must be padded to exactly maxTextLen', async (t) => {
  const model = new Vlmo(vlmoMicro(12));
  const short = tensor(Int32Array.from([2, 5, 3, 2, 6, 3]), { shape: [2, 3] });
  t.throws(() => model.encodeText(short, ones([2, 3], { dtype: 'int32' })), /expected \[B, 5\]/);
  t.throws(() => new Vlmo({ ...vlmoMicro(12), vlffnStart: 0 }), /vlffnStart/);
});
