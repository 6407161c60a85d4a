/**
 * The contract between a scene and where its object pictures come from. A source holds, for each object
 * kind, a numbered pool of greyscale glyphs (alpha masks); scenes name a glyph by (kind, index), so the
 * train/val/test partition of a pool is a partition of source images.
 */

/** Side of every glyph in pixels. MNIST's 28x28 digits are cropped by 2 px a side (0.2% of ink lost). */
export const GLYPH_SIZE = 24;

/** A pool of alpha masks per object kind. */
export interface GlyphSource {
  /** Short name, used in error messages and metadata. */
  readonly name: string;
  /** Kind labels as they appear in captions ('7', 'circle'). */
  readonly kinds: readonly string[];
  /** How many glyphs the pool holds for a kind (by index into `kinds`). */
  count(kind: number): number;
  /**
   * Glyph `index` of a kind: row-major alpha in [0, 1]. The returned array is shared; do not write.
   * Shapes: [GLYPH_SIZE * GLYPH_SIZE].
   */
  glyph(kind: number, index: number): Float32Array;
}
