/**
 * A minimal PNG encoder (8-bit RGB, no filtering; deflate from node:zlib under Node, stored blocks
 * in a browser), enough to write sample grids without an image dependency.
 */
import { nodeBuiltin } from '../kernels/platform.js';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309, as PNG chunks use) of a byte range. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A PNG chunk: length, type, data, CRC of type + data. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length),
    view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Adler-32 (RFC 1950), the zlib stream's checksum. */
function adler32(bytes: Uint8Array): number {
  let a = 1,
    b = 0;
  for (let i = 0; i < bytes.length; ) {
    for (const end = Math.min(bytes.length, i + 5552); i < end; i++) {
      a += bytes[i]!;
      b += a;
    } // 5552: no overflow before the modulo
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/**
 * A zlib stream of stored (uncompressed) deflate blocks: valid for every PNG reader, bigger than
 * compressed. Used where node:zlib is not available (a browser).
 */
export function zlibStored(raw: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(raw.length / 65535));
  const out = new Uint8Array(2 + 5 * blocks + raw.length + 4),
    view = new DataView(out.buffer);
  out[0] = 0x78;
  out[1] = 0x01; // deflate, 32K window, no dictionary
  let o = 2;
  for (let b = 0; b < blocks; b++) {
    const part = raw.subarray(b * 65535, Math.min(raw.length, (b + 1) * 65535));
    out[o] = b === blocks - 1 ? 1 : 0; // BFINAL, BTYPE 00 (stored)
    view.setUint16(o + 1, part.length, true);
    view.setUint16(o + 3, ~part.length & 0xffff, true);
    out.set(part, o + 5);
    o += 5 + part.length;
  }
  view.setUint32(o, adler32(raw));
  return out;
}

interface Zlib {
  deflateSync(b: Uint8Array, o: { level: number }): Uint8Array;
}

/** Encode an RGB image as PNG bytes (compressed with node:zlib under Node, stored elsewhere). Shapes: rgb [height, width, 3] row-major bytes. */
export function encodePng(width: number, height: number, rgb: Uint8Array): Uint8Array {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`encodePng: bad size ${width}x${height}`);
  }
  if (rgb.length !== width * height * 3)
    throw new RangeError(`encodePng: expected ${width * height * 3} bytes, got ${rgb.length}`);
  const ihdr = new Uint8Array(13),
    view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8); // bit depth 8, colour type 2 (RGB), deflate, no filter, no interlace
  const raw = new Uint8Array(height * (1 + width * 3)); // each scanline starts with filter type 0
  for (let y = 0; y < height; y++) raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (1 + width * 3) + 1);
  const zlib = nodeBuiltin<Zlib>('node:zlib');
  const parts = [
    Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib ? zlib.deflateSync(raw, { level: 9 }) : zlibStored(raw)),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => {
    out.set(p, at);
    return at + p.length;
  }, 0);
  return out;
}

/** Convert a CHW float image in [0, 1] to HWC bytes. Shapes: [3, H, W] -> [H, W, 3]. */
export function chwToRgb8(image: Float32Array, height: number, width: number): Uint8Array {
  const plane = height * width,
    out = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const v = image[c * plane + p];
      out[p * 3 + c] = Math.round(255 * (v < 0 ? 0 : v > 1 ? 1 : v));
    }
  }
  return out;
}
