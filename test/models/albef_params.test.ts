// Parameter counts against the reference model's (docs/reference.md, "ALBEF parameter counts") and the
// state-dict layout against the reference checkpoint names. albef-base is counted from its module tree
// on the meta device and from its layout, without allocating it; building it for real (about 1.7 GB
// with the momentum copy) runs only with VLGRAD_SLOW=1.
import t from 'tap';
import { Albef } from '../../models/albef/albef.js';
import { ALBEF_BASE, albefMicro, albefTiny, type AlbefConfig } from '../../models/albef/config.js';
import { countParameters } from '../../models/albef/count.js';
import { referenceLayout } from '../../models/albef/weights.js';

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
const partCount = (c: AlbefConfig, prefix: string): number =>
  referenceLayout(c)
    .filter((e) => e.name.startsWith(prefix) && !e.tiedTo)
    .reduce((n, e) => n + size(e.shape), 0);
/** Online and momentum counts from the reference layout (tied tensors once), for comparison with the module tree. */
const layoutCount = (c: AlbefConfig): { online: number; momentum: number } => ({
  online: referenceLayout(c)
    .filter((e) => e.kind === 'online' && !e.tiedTo)
    .reduce((n, e) => n + size(e.shape), 0),
  momentum: referenceLayout(c)
    .filter((e) => e.kind === 'momentum' && !e.tiedTo)
    .reduce((n, e) => n + size(e.shape), 0),
});

t.test('albef-base: 209,937,725 trainable online parameters, as the reference', async (t) => {
  const n = countParameters(ALBEF_BASE);
  t.same(
    { online: n.online, momentum: n.momentum },
    { online: 209_937_725, momentum: 209_936_186 },
    'module tree on the meta device',
  );
  t.same(layoutCount(ALBEF_BASE), { online: 209_937_725, momentum: 209_936_186 }, 'reference layout');
  t.equal(n.parts.visual_encoder, 85_844_736, 'module tree: ViT');
  t.equal(n.parts.text_encoder, 123_697_722, 'module tree: BERT');
  t.equal(partCount(ALBEF_BASE, 'visual_encoder.'), 85_844_736, 'ViT-B/16 at 256 px');
  t.equal(partCount(ALBEF_BASE, 'text_encoder.'), 123_697_722, 'BERT-base with 6 cross-attention layers, tied decoder');
  t.equal(
    ['vision_proj.', 'text_proj.', 'itm_head.', 'temp'].reduce((n, p) => n + partCount(ALBEF_BASE, p), 0),
    395_267,
    'heads + temp',
  );
  t.equal(
    partCount({ ...ALBEF_BASE, vision: { ...ALBEF_BASE.vision, imageSize: 224 } }, 'visual_encoder.'),
    85_798_656,
    "ViT at 224 px: the paper's 85.8M",
  );
});

t.test('albef-tiny (V = 1000): 422,955 online, 422,824 momentum, counted and built', async (t) => {
  const c = albefTiny(1000);
  const n = countParameters(c);
  t.same({ online: n.online, momentum: n.momentum }, { online: 422_955, momentum: 422_824 });
  t.same(layoutCount(c), { online: 422_955, momentum: 422_824 });
  t.equal(partCount(c, 'visual_encoder.'), 113_600, 'ViT 113,600');
  t.equal(partCount(c, 'text_encoder.'), 305_064, 'BERT 305,064');
  const model = new Albef(c);
  t.equal(model.numParameters({ trainableOnly: true }), 422_955, 'built: trainable');
  t.equal(model.numParameters() - model.numParameters({ trainableOnly: true }), 422_824, 'built: frozen momentum copy');
});

for (const c of [albefTiny(1000), albefMicro()]) {
  t.test(`${c.name}: state-dict keys and shapes are the reference layout`, async (t) => {
    const sd = new Albef(c).stateDict(),
      layout = referenceLayout(c);
    t.same(Object.keys(sd).sort(), layout.map((e) => e.name).sort(), 'same keys');
    t.same(
      layout.filter((e) => sd[e.name].shape.join() !== e.shape.join()).map((e) => e.name),
      [],
      'same shapes',
    );
    for (const key of [
      'visual_encoder.blocks.0.attn.qkv.weight',
      'text_encoder.bert.encoder.layer.0.attention.self.query.weight',
      `text_encoder.bert.encoder.layer.${c.text.fusionLayer}.crossattention.self.key.weight`,
      'text_encoder.cls.predictions.decoder.weight',
      'text_encoder_m.cls.predictions.bias',
      'image_queue',
      'queue_ptr',
      'temp',
    ])
      t.ok(key in sd, key);
    const model = new Albef(c),
      named = new Map(model.namedParameters());
    t.notOk(
      named.has('text_encoder.cls.predictions.decoder.weight'),
      'the tied decoder weight is one parameter (counted once)',
    );
  });
}

t.test(
  'albef-base built for real',
  { skip: process.env.VLGRAD_SLOW ? false : 'set VLGRAD_SLOW=1 to allocate albef-base (about 1.7 GB)' },
  async (t) => {
    const model = new Albef(ALBEF_BASE);
    t.equal(model.numParameters({ trainableOnly: true }), 209_937_725);
  },
);
