/**
 * Sample grids: scenes scaled up with nearest-neighbour pixels, each captioned underneath in the
 * built-in bitmap font, returned as RGB bytes ready for `encodePng`.
 */
import { ADVANCE, drawText, LINE, wrapText } from './font.js';
import { chwToRgb8 } from './png.js';

/** One grid cell: an image ([3, S, S] in [0, 1]) and the text to print under it. */
export interface GridCell {
  image: Float32Array;
  caption: string;
}

/** Layout of `renderGrid`. */
export interface GridOptions {
  imageSize: number;
  /** Cells per row (default 4). */
  cols?: number;
  /** Integer upscaling of each scene (default: to about 192 px). */
  scale?: number;
  /** Integer upscaling of the 5x7 font (default 2). */
  textScale?: number;
  /** Caption lines per cell; longer captions are cut with '...' (default 6). */
  maxLines?: number;
}

const PAD = 12,
  PAPER = 250,
  INK: readonly [number, number, number] = [25, 25, 35];

/** Lay out cells in a grid. Returns HWC bytes. */
export function renderGrid(
  cells: readonly GridCell[],
  opts: GridOptions,
): { width: number; height: number; rgb: Uint8Array } {
  const S = opts.imageSize,
    cols = Math.min(opts.cols ?? 4, Math.max(cells.length, 1));
  const scale = opts.scale ?? Math.max(1, Math.round(192 / S)),
    ts = opts.textScale ?? 2,
    maxLines = opts.maxLines ?? 6;
  const tileW = S * scale,
    charsPerLine = Math.floor((tileW + ts) / (ADVANCE * ts));
  const textH = maxLines * LINE * ts;
  const cellW = tileW + PAD,
    cellH = tileW + PAD / 2 + textH + PAD;
  const rows = Math.ceil(cells.length / cols);
  const width = cols * cellW + PAD,
    height = rows * cellH + PAD;
  const rgb = new Uint8Array(width * height * 3).fill(PAPER);
  cells.forEach((cell, k) => {
    const x0 = PAD + (k % cols) * cellW,
      y0 = PAD + Math.floor(k / cols) * cellH;
    const px = chwToRgb8(cell.image, S, S);
    for (let y = 0; y < tileW; y++) {
      for (let x = 0; x < tileW; x++) {
        const src = (Math.floor(y / scale) * S + Math.floor(x / scale)) * 3;
        rgb.set(px.subarray(src, src + 3), ((y0 + y) * width + x0 + x) * 3);
      }
    }
    let lines = wrapText(cell.caption, charsPerLine);
    if (lines.length > maxLines)
      lines = [...lines.slice(0, maxLines - 1), `${lines[maxLines - 1].slice(0, charsPerLine - 3)}...`];
    lines.forEach((line, l) => drawText(rgb, width, height, line, x0, y0 + tileW + PAD / 2 + l * LINE * ts, ts, INK));
  });
  return { width, height, rgb };
}
