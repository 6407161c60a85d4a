import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { COLOURS, encodePng, makeDataset, renderGrid, type SceneMeta } from '../../data/index.js';
import { COLOUR_RGB } from '../../data/attributes.js';
import { crc32 } from '../../data/png.js';
import { glyphMask, wrapText } from '../../data/font.js';
import { main } from '../../data/cli.js';
import { DATASETS } from './helpers.js';

/** The colour name nearest to a pixel colour, after removing brightness. */
function colourName(rgb: number[]): string {
  const norm = (v: readonly number[]) => {
    const m = Math.max(...v);
    return v.map((x) => x / m);
  };
  const p = norm(rgb);
  let best = '',
    dist = Infinity;
  for (const c of COLOURS) {
    const q = norm(COLOUR_RGB[c]),
      d = q.reduce((s, x, k) => s + (x - p[k]) ** 2, 0);
    if (d < dist) {
      dist = d;
      best = c;
    }
  }
  return best;
}

/** Check a rendered image against its metadata: ink of the right colour in each box, plain background elsewhere. */
function imageMatches(img: Float32Array, meta: SceneMeta): string | null {
  const S = meta.imageSize,
    plane = S * S,
    bg = meta.background;
  const px = (x: number, y: number) => [0, 1, 2].map((c) => img[c * plane + y * S + x]);
  const base = [0, 1, 2].map((c) => bg.level + bg.tint[c]);
  const inBox = (x: number, y: number) =>
    meta.objects.some((o) => x >= o.x && x < o.x + o.box && y >= o.y && y < o.y + o.box);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      if (inBox(x, y)) continue;
      const dev = Math.max(...px(x, y).map((v, c) => Math.abs(v - Math.max(0, base[c]))));
      if (dev > bg.amplitude + 1e-5) return `background pixel (${x}, ${y}) deviates by ${dev}`;
    }
  }
  for (const o of meta.objects) {
    const ink: [number, number[]][] = [];
    for (let y = o.y; y < o.y + o.box; y++) {
      for (let x = o.x; x < o.x + o.box; x++) {
        const v = px(x, y);
        ink.push([v.reduce((s, c, k) => s + Math.abs(c - base[k]), 0), v]);
      }
    }
    ink.sort((a, b) => b[0] - a[0]);
    // the strongest pixel must show at least half the contrast of fully opaque ink
    const full = COLOUR_RGB[o.colour].reduce((s, v, k) => s + Math.abs(v * o.shade - base[k]), 0);
    if (ink[0][0] < 0.5 * full) return `faint ink for the ${o.kind}: ${ink[0][0].toFixed(2)} of ${full.toFixed(2)}`;
    const top = ink.slice(0, 5).map(([, v]) => v);
    const mean = [0, 1, 2].map((c) => top.reduce((s, v) => s + v[c], 0) / top.length);
    if (colourName(mean) !== o.colour) return `the ${o.colour} ${o.kind} looks ${colourName(mean)}`;
  }
  return null;
}

for (const [name, skip] of DATASETS) {
  t.test(`${name}: images show what the metadata says`, { skip }, async (t) => {
    for (const imageSize of [32, 64] as const) {
      const ds = makeDataset({ name, split: 'train', size: 150, imageSize, seed: 21 });
      const problems: string[] = [];
      for (let i = 0; i < ds.length; i++) {
        for (const mirror of [false, true]) {
          const img = ds.image(i, mirror);
          if (img.length !== 3 * imageSize * imageSize || img.some((v) => !(v >= 0 && v <= 1)))
            problems.push(`${i}: bad range`);
          const why = imageMatches(img, ds.meta(i, mirror));
          if (why) problems.push(`${i}${mirror ? ' mirrored' : ''}: ${why}`);
        }
      }
      t.same(problems, [], `${imageSize}x${imageSize}: ${ds.length} scenes and their mirrors`);
    }
  });
}

t.test('PNG encoder writes valid chunks and the exact pixels', async (t) => {
  t.equal(crc32(Buffer.from('IEND')), 0xae426082, 'CRC-32 of "IEND" (every PNG ends with it)');
  const w = 3,
    h = 2,
    rgb = Uint8Array.from({ length: w * h * 3 }, (_, k) => (k * 37) % 256);
  const png = Buffer.from(encodePng(w, h, rgb)); // Buffer for its readers; encodePng returns a Uint8Array
  t.same([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'signature');
  const chunks: { type: string; data: Buffer }[] = [];
  for (let p = 8; p < png.length; ) {
    const len = png.readUInt32BE(p),
      type = png.toString('ascii', p + 4, p + 8),
      data = png.subarray(p + 8, p + 8 + len);
    t.equal(png.readUInt32BE(p + 8 + len), crc32(png.subarray(p + 4, p + 8 + len)), `${type} CRC`);
    chunks.push({ type, data });
    p += 12 + len;
  }
  t.same(
    chunks.map((c) => c.type),
    ['IHDR', 'IDAT', 'IEND'],
  );
  t.same(
    [chunks[0].data.readUInt32BE(0), chunks[0].data.readUInt32BE(4), chunks[0].data[8], chunks[0].data[9]],
    [3, 2, 8, 2],
  );
  const raw = inflateSync(chunks[1].data);
  t.same([...raw], [0, ...rgb.subarray(0, 9), 0, ...rgb.subarray(9)], 'filter byte 0 then the row bytes');
  t.throws(() => encodePng(2, 2, new Uint8Array(5)), RangeError);
});

t.test('bitmap font and grid layout', async (t) => {
  const chars = "abcdefghijklmnopqrstuvwxyz0123456789:,?.-' ";
  t.ok(
    [...chars].every((c) => glyphMask(c).length === 35 && /^[#.]+$/.test(glyphMask(c))),
    'every glyph is 7x5',
  );
  t.equal(
    new Set([...'abcdefghijklmnopqrstuvwxyz0123456789'].map(glyphMask)).size,
    36,
    'letters and digits are distinct',
  );
  t.same(wrapText('a small red 3 left of a big blue 7', 12), ['a small red', '3 left of a', 'big blue 7']);
  const cell = { image: new Float32Array(3 * 32 * 32).fill(0.5), caption: 'a small red 3' };
  const g = renderGrid([cell, cell, cell], { imageSize: 32, cols: 2 });
  t.equal(g.rgb.length, g.width * g.height * 3);
  t.equal(g.width, 2 * (32 * 6 + 12) + 12, '2 columns of 192 px scenes');
  t.ok(g.rgb.includes(128) && g.rgb.includes(25), 'scene pixels and ink are drawn');
});

t.test('the grid command writes a PNG and reports bad input', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vlgrad-grid-'));
  const out = join(dir, 'g.png'),
    log: string[] = [];
  const code = main(
    ['grid', '--out', out, '--dataset', 'shapes', '--count', '5', '--image-size', '32', '--cols', '3'],
    (s) => log.push(s),
  );
  t.equal(code, 0, log.join('\n'));
  const png = readFileSync(out);
  t.equal(png.toString('ascii', 1, 4), 'PNG');
  t.equal(png.readUInt32BE(16), 3 * (32 * 6 + 12) + 12, 'IHDR width for 3 columns');
  t.equal(
    main(['grid'], () => {}),
    2,
    'missing --out is a usage error',
  );
  t.equal(
    main(['draw'], () => {}),
    2,
    'unknown command',
  );
  t.equal(
    main([], () => {}),
    0,
    'no command prints usage',
  );
  const errs: string[] = [];
  t.equal(
    main(['grid', '--out', out, '--dataset', 'nope'], (s) => errs.push(s)),
    1,
  );
  t.match(errs.join(), /unknown dataset 'nope'/);
  t.equal(
    main(['vocab', '--out', join(dir, 'vocab.txt')], () => {}),
    0,
  );
  t.match(readFileSync(join(dir, 'vocab.txt'), 'utf8'), /^\[PAD\]\n\[UNK\]\n\[CLS\]\n\[SEP\]\n\[MASK\]\n/);
});
