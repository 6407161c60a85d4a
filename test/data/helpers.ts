/** Shared helpers for the data tests (not a test file itself). */
import { mnistSource, type DatasetName } from '../../data/index.js';

/** Why MNIST tests are skipped, or false when the optional `mnist` package loads. */
export const mnistSkip: string | false = (() => {
  try {
    mnistSource();
    return false;
  } catch (e) {
    return `optional mnist package unavailable: ${(e as Error).message.slice(0, 80)}`;
  }
})();

/** Every dataset with its skip reason (false = run). */
export const DATASETS: [DatasetName, string | false][] = [
  ['mnist-scenes', mnistSkip],
  ['shapes', false],
];

/** Swap the words left and right (what a horizontal flip does to a true caption). */
export function swapLeftRight(text: string): string {
  return text.replace(/\b(left|right)\b/g, (w) => (w === 'left' ? 'right' : 'left'));
}

/** Byte view of a typed array, for byte-identity checks. */
export function bytes(a: Float32Array | Int32Array | Uint8Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}
