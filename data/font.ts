/**
 * A 5x7 bitmap font (upper-case letters, digits, the caption grammar's punctuation) for labelling sample
 * grids without a font dependency. Lower-case text is drawn in capitals.
 */

/** Glyph cell: 5 px wide, 7 px tall, plus 1 px spacing each way. */
export const FONT_W = 5,
  FONT_H = 7,
  ADVANCE = 6,
  LINE = 9;

// One string per glyph: 7 rows of 5 columns separated by '/', '#' = ink.
const ROWS: Record<string, string> = {
  A: '.###./#...#/#...#/#####/#...#/#...#/#...#',
  B: '####./#...#/#...#/####./#...#/#...#/####.',
  C: '.###./#...#/#..../#..../#..../#...#/.###.',
  D: '####./#...#/#...#/#...#/#...#/#...#/####.',
  E: '#####/#..../#..../####./#..../#..../#####',
  F: '#####/#..../#..../####./#..../#..../#....',
  G: '.###./#...#/#..../#.###/#...#/#...#/.####',
  H: '#...#/#...#/#...#/#####/#...#/#...#/#...#',
  I: '.###./..#../..#../..#../..#../..#../.###.',
  J: '..###/...#./...#./...#./...#./#..#./.##..',
  K: '#...#/#..#./#.#../##.../#.#../#..#./#...#',
  L: '#..../#..../#..../#..../#..../#..../#####',
  M: '#...#/##.##/#.#.#/#.#.#/#...#/#...#/#...#',
  N: '#...#/#...#/##..#/#.#.#/#..##/#...#/#...#',
  O: '.###./#...#/#...#/#...#/#...#/#...#/.###.',
  P: '####./#...#/#...#/####./#..../#..../#....',
  Q: '.###./#...#/#...#/#...#/#.#.#/#..#./.##.#',
  R: '####./#...#/#...#/####./#.#../#..#./#...#',
  S: '.####/#..../#..../.###./....#/....#/####.',
  T: '#####/..#../..#../..#../..#../..#../..#..',
  U: '#...#/#...#/#...#/#...#/#...#/#...#/.###.',
  V: '#...#/#...#/#...#/#...#/#...#/.#.#./..#..',
  W: '#...#/#...#/#...#/#.#.#/#.#.#/#.#.#/.#.#.',
  X: '#...#/#...#/.#.#./..#../.#.#./#...#/#...#',
  Y: '#...#/#...#/.#.#./..#../..#../..#../..#..',
  Z: '#####/....#/...#./..#../.#.../#..../#####',
  0: '.###./#...#/#..##/#.#.#/##..#/#...#/.###.',
  1: '..#../.##../..#../..#../..#../..#../.###.',
  2: '.###./#...#/....#/...#./..#../.#.../#####',
  3: '#####/...#./..#../...#./....#/#...#/.###.',
  4: '...#./..##./.#.#./#..#./#####/...#./...#.',
  5: '#####/#..../####./....#/....#/#...#/.###.',
  6: '..##./.#.../#..../####./#...#/#...#/.###.',
  7: '#####/....#/...#./..#../.#.../.#.../.#...',
  8: '.###./#...#/#...#/.###./#...#/#...#/.###.',
  9: '.###./#...#/#...#/.####/....#/...#./.##..',
  ':': '...../.##../.##../...../.##../.##../.....',
  ',': '...../...../...../...../.##../..#../.#...',
  '?': '.###./#...#/....#/...#./..#../...../..#..',
  '.': '...../...../...../...../...../.##../.##..',
  '-': '...../...../...../#####/...../...../.....',
  "'": '..#../..#../.#.../...../...../...../.....',
  ' ': '...../...../...../...../...../...../.....',
};

const UNKNOWN = '#####/#####/#####/#####/#####/#####/#####';

/** Ink of one character: 35 chars, 7 rows of 5, row-major, '#' = ink (unknown characters are a solid box). */
export function glyphMask(ch: string): string {
  return (ROWS[ch.toUpperCase()] ?? UNKNOWN).replaceAll('/', '');
}

/**
 * Draw text into an RGB byte canvas with its top-left at (x, y), each font pixel a `scale` x `scale`
 * square. Shapes: canvas [height, width, 3].
 */
export function drawText(
  canvas: Uint8Array,
  width: number,
  height: number,
  text: string,
  x: number,
  y: number,
  scale: number,
  rgb: readonly [number, number, number],
): void {
  for (let i = 0; i < text.length; i++) {
    const mask = glyphMask(text[i]);
    for (let r = 0; r < FONT_H; r++) {
      for (let c = 0; c < FONT_W; c++) {
        if (mask[r * FONT_W + c] !== '#') continue;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const px = x + (i * ADVANCE + c) * scale + dx,
              py = y + r * scale + dy;
            if (px >= 0 && px < width && py >= 0 && py < height) canvas.set(rgb, (py * width + px) * 3);
          }
        }
      }
    }
  }
}

/** Greedy word wrap to at most `maxChars` per line. */
export function wrapText(text: string, maxChars: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > maxChars) {
      lines.push(line);
      line = '';
    }
    line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}
