/**
 * Scene renderer: metadata + glyph source -> a CHW float image in [0, 1]. Plain loops over typed arrays;
 * glyphs are resampled with an area (box) filter, which keeps thin pen strokes when a 24 px glyph
 * shrinks to a 9 px "small" digit, where bilinear sampling would drop them.
 */
import { Rng } from '../engine/random.js';
import { COLOUR_RGB } from './attributes.js';
import { GLYPH_SIZE, type GlyphSource } from './glyph_source.js';
import type { Background, SceneMeta } from './scene.js';

/**
 * Area-resampling weights from GLYPH_SIZE source pixels to `box` target pixels, stored sparsely: target
 * t averages source pixels start[t] .. start[t] + len[t] - 1 with weights w[t * TAPS ..]. A dense
 * [box, 24] matrix would be 90% zeros, and this is the renderer's inner loop.
 */
interface AreaWeights {
  start: Int32Array;
  len: Int32Array;
  w: Float32Array;
}
const TAPS = 4; // a target pixel overlaps at most ceil(24 / 9) + 1 = 4 source pixels (boxes >= 9 px)
const weightCache = new Map<number, AreaWeights>();

function areaWeights(box: number): AreaWeights {
  let aw = weightCache.get(box);
  if (aw) return aw;
  aw = { start: new Int32Array(box), len: new Int32Array(box), w: new Float32Array(box * TAPS) };
  const scale = GLYPH_SIZE / box;
  for (let t = 0; t < box; t++) {
    const lo = t * scale,
      hi = (t + 1) * scale,
      s0 = Math.floor(lo),
      s1 = Math.min(GLYPH_SIZE, Math.ceil(hi - 1e-9));
    if (s1 - s0 > TAPS) throw new Error(`render: box ${box} px is too small for ${GLYPH_SIZE} px glyphs`);
    aw.start[t] = s0;
    aw.len[t] = s1 - s0;
    for (let s = s0; s < s1; s++) aw.w[t * TAPS + s - s0] = (Math.min(hi, s + 1) - Math.max(lo, s)) / scale;
  }
  weightCache.set(box, aw);
  return aw;
}

/** Resample a glyph to box x box: out = W · G · Wᵀ with the sparse W. Shapes: [24, 24] -> [box, box]. */
function resample(glyph: Float32Array, box: number, tmp: Float32Array, out: Float32Array): void {
  const { start, len, w } = areaWeights(box),
    G = GLYPH_SIZE;
  for (let sy = 0; sy < G; sy++) {
    // tmp[sy, tx] = Σ_sx G[sy, sx] W[tx, sx]
    for (let tx = 0; tx < box; tx++) {
      let acc = 0;
      const s0 = sy * G + start[tx];
      for (let k = 0; k < len[tx]; k++) acc += glyph[s0 + k] * w[tx * TAPS + k];
      tmp[sy * box + tx] = acc;
    }
  }
  for (let ty = 0; ty < box; ty++) {
    // out[ty, tx] = Σ_sy W[ty, sy] tmp[sy, tx]
    for (let tx = 0; tx < box; tx++) {
      let acc = 0;
      for (let k = 0; k < len[ty]; k++) acc += w[ty * TAPS + k] * tmp[(start[ty] + k) * box + tx];
      out[ty * box + tx] = acc > 1 ? 1 : acc;
    }
  }
}

const MAX_SIDE = 64;
// Scratch planes reused across calls (rendering is synchronous): texture, resample temp, glyph alpha.
const texture = new Float32Array(MAX_SIDE * MAX_SIDE);
const tmp = new Float32Array(GLYPH_SIZE * MAX_SIDE);
const alpha = new Float32Array(MAX_SIDE * MAX_SIDE);

/** The grey texture offset of every pixel into `texture`, in raster order of the unmirrored image. */
function paintTexture(bg: Background, S: number): void {
  const n = S * S,
    amp = bg.amplitude;
  if (bg.texture === 'plain') texture.fill(0, 0, n);
  else if (bg.texture === 'noise') {
    const rng = new Rng(bg.seed);
    for (let p = 0; p < n; p++) texture[p] = (rng.nextU32() / 2147483648 - 1) * amp;
  } else if (bg.texture === 'checker') {
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++)
        texture[y * S + x] = (Math.floor(x / bg.period) + Math.floor(y / bg.period)) & 1 ? amp : -amp;
    }
  } else {
    // sin(a + b) = sin a cos b + cos a sin b: one table per axis instead of a sin per pixel
    const k = (2 * Math.PI) / bg.period,
      cx = k * Math.cos(bg.angle),
      cy = k * Math.sin(bg.angle);
    for (let y = 0; y < S; y++) {
      const sy = Math.sin(cy * y),
        cyy = Math.cos(cy * y);
      for (let x = 0; x < S; x++) texture[y * S + x] = amp * (Math.sin(cx * x) * cyy + Math.cos(cx * x) * sy);
    }
  }
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

/** Fill the three planes of `out` (at `offset`) with the background, mirrored if asked. */
function paintBackground(bg: Background, S: number, mirrored: boolean, out: Float32Array, offset: number): void {
  const plane = S * S;
  const b0 = bg.level + bg.tint[0],
    b1 = bg.level + bg.tint[1],
    b2 = bg.level + bg.tint[2];
  if (bg.texture === 'plain') {
    out.fill(clamp01(b0), offset, offset + plane);
    out.fill(clamp01(b1), offset + plane, offset + 2 * plane);
    out.fill(clamp01(b2), offset + 2 * plane, offset + 3 * plane);
    return;
  }
  paintTexture(bg, S);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const t = texture[y * S + (mirrored ? S - 1 - x : x)],
        p = offset + y * S + x;
      out[p] = clamp01(b0 + t);
      out[p + plane] = clamp01(b1 + t);
      out[p + 2 * plane] = clamp01(b2 + t);
    }
  }
}

/**
 * Render a scene. Writes [3, S, S] floats in [0, 1] into `out` at `offset` (a fresh array if omitted)
 * and returns `out`. Pixel = background·(1 − α) + colour·shade·α, with α the resampled glyph.
 */
export function renderScene(meta: SceneMeta, source: GlyphSource, out?: Float32Array, offset = 0): Float32Array {
  const S = meta.imageSize,
    plane = S * S;
  if (S > MAX_SIDE) throw new RangeError(`renderScene: image side ${S} > ${MAX_SIDE}`);
  const img = out ?? new Float32Array(3 * plane);
  paintBackground(meta.background, S, meta.mirrored, img, offset);
  for (const o of meta.objects) {
    resample(source.glyph(source.kinds.indexOf(o.kind), o.source), o.box, tmp, alpha);
    const rgb = COLOUR_RGB[o.colour],
      r = rgb[0] * o.shade,
      g = rgb[1] * o.shade,
      b = rgb[2] * o.shade;
    for (let ty = 0; ty < o.box; ty++) {
      for (let tx = 0; tx < o.box; tx++) {
        const a = alpha[ty * o.box + tx];
        if (a <= 0) continue;
        const p = offset + (o.y + ty) * S + o.x + tx;
        img[p] += (r - img[p]) * a;
        img[p + plane] += (g - img[p + plane]) * a;
        img[p + 2 * plane] += (b - img[p + 2 * plane]) * a;
      }
    }
  }
  return img;
}
