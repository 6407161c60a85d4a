/**
 * The dependency-free fallback: procedurally drawn circles, squares and triangles. Each glyph is a pure
 * function of (kind, index), varied in size, aspect, rotation, offset and fill, so pools can be split
 * into disjoint train/val/test "source images" exactly as MNIST's are.
 */
import { GLYPH_SIZE, type GlyphSource } from './glyph_source.js';
import { SHAPE_KINDS } from './attributes.js';
import { rngFor, Stream } from './seeds.js';

/** Glyphs per shape kind; about MNIST's per-digit pool size, so split fractions behave alike. */
export const SHAPE_POOL_SIZE = 1000;

const SUPER = 3; // supersamples per axis: anti-aliased edges look like the soft MNIST strokes

type Inside = (x: number, y: number) => boolean;

function insideUnit(kind: number, inset: number): Inside {
  const k = 1 - inset;
  if (kind === 0) return (x, y) => x * x + y * y <= k * k;
  if (kind === 1) return (x, y) => Math.max(Math.abs(x), Math.abs(y)) <= 0.74 * k;
  // equilateral triangle, apex up, centroid at the origin: three half-planes
  return (x, y) => {
    const yy = y - 0.25; // centres the triangle's ink box (y in [-1, 0.5]) rather than its centroid
    return yy <= 0.5 * k && Math.sqrt(3) * x - yy <= k && -Math.sqrt(3) * x - yy <= k;
  };
}

function drawShape(kind: number, index: number): Float32Array {
  const rng = rngFor(Stream.shapeGlyph, kind, index);
  const radius = (GLYPH_SIZE / 2 - 2) * (0.78 + 0.22 * rng.uniform());
  const aspect = 0.94 + 0.12 * rng.uniform(); // u and v both scale, so width:height spans 0.88..1.12
  const theta = kind === 0 ? 0 : (rng.uniform() - 0.5) * (kind === 1 ? 0.5 : 0.4);
  const cx = GLYPH_SIZE / 2 + (rng.uniform() - 0.5) * 1.5,
    cy = GLYPH_SIZE / 2 + (rng.uniform() - 0.5) * 1.5;
  const outline = rng.uniform() < 0.25;
  const thickness = outline ? (2.4 + rng.uniform()) / radius : 0;
  const outer = insideUnit(kind, 0),
    inner = insideUnit(kind, thickness);
  const cos = Math.cos(theta),
    sin = Math.sin(theta);
  const out = new Float32Array(GLYPH_SIZE * GLYPH_SIZE);
  for (let py = 0; py < GLYPH_SIZE; py++) {
    for (let px = 0; px < GLYPH_SIZE; px++) {
      let hits = 0;
      for (let sy = 0; sy < SUPER; sy++) {
        for (let sx = 0; sx < SUPER; sx++) {
          const dx = px + (sx + 0.5) / SUPER - cx,
            dy = py + (sy + 0.5) / SUPER - cy;
          const u = (cos * dx + sin * dy) / (radius * aspect),
            v = (-sin * dx + cos * dy) / (radius / aspect);
          if (outer(u, v) && !(outline && inner(u, v))) hits++;
        }
      }
      out[py * GLYPH_SIZE + px] = hits / (SUPER * SUPER);
    }
  }
  return out;
}

const cache = new Map<number, Float32Array>();

/** The shapes glyph source (no dependencies; glyphs are drawn on first use and cached). */
export function shapesSource(): GlyphSource {
  return {
    name: 'shapes',
    kinds: SHAPE_KINDS,
    count: () => SHAPE_POOL_SIZE,
    glyph: (kind, index) => {
      if (!(kind >= 0 && kind < SHAPE_KINDS.length && index >= 0 && index < SHAPE_POOL_SIZE)) {
        throw new RangeError(`shapes: no glyph ${index} for kind ${kind}`);
      }
      const key = kind * SHAPE_POOL_SIZE + index;
      let g = cache.get(key);
      if (!g) {
        g = drawShape(kind, index);
        cache.set(key, g);
      }
      return g;
    },
  };
}
