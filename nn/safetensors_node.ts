/**
 * Safetensors files on disk (Node only): `save` writes atomically, `load` reads the header first and
 * then each tensor straight into its own array. The byte format and every check live in
 * safetensors.ts, which runs anywhere; this module adds the file system.
 */
import { open } from 'node:fs/promises';
import { type AtomicWriteOptions, writeFileAtomic } from './atomic_write.js';
import { CheckpointError } from './checkpoint_error.js';
import {
  decodeEntry,
  encodeParts,
  requireLittleEndian,
  type Checkpoint,
  type Metadata,
  type StateDict,
} from './safetensors.js';
import { parseHeader, readHeaderLength, setOwn } from './safetensors_header.js';

export { SimulatedCrash, type AtomicWriteOptions } from './atomic_write.js';
export * from './safetensors.js';

/**
 * Saves a state dict to `path` as a safetensors file, atomically (see {@link writeFileAtomic}): after
 * a crash at any moment `path` holds either the previous file or the complete new one.
 *
 * The records' arrays are written from in place, so do not modify them until the promise settles.
 * `options` is a test seam (`failAfterBytes`); leave it out in real use.
 */
export async function save(
  path: string,
  sd: StateDict,
  metadata: Metadata = {},
  options: AtomicWriteOptions = {},
): Promise<void> {
  await writeFileAtomic(path, encodeParts(sd, metadata, path), options);
}

/**
 * Loads a safetensors file: the length prefix and header are read and validated first, then each
 * tensor is read straight into its own freshly allocated array.
 *
 * Throws {@link CheckpointError} naming the file (and tensor) for any malformed content; file system
 * errors such as ENOENT are passed through unchanged.
 */
export async function load(path: string): Promise<Checkpoint> {
  requireLittleEndian(path);
  const fh = await open(path, 'r');
  try {
    const stat = await fh.stat();
    if (!stat.isFile()) throw new CheckpointError(path, undefined, 'is not a regular file');
    const n = readHeaderLength(await readExact(fh, 0, Math.min(8, stat.size), path), stat.size, path);
    const header = parseHeader(await readExact(fh, 8, n, path), stat.size - 8 - n, path);
    const tensors: StateDict = {};
    for (const e of header.entries) {
      const raw = await readExact(fh, 8 + n + e.begin, e.end - e.begin, path, e.name);
      setOwn(tensors, e.name, decodeEntry(e, raw, true, path));
    }
    return { tensors, metadata: header.metadata };
  } finally {
    await fh.close();
  }
}

type Handle = Awaited<ReturnType<typeof open>>;
const MAX_READ = 1 << 30;

/** Reads exactly `len` bytes at `pos` into a fresh buffer; a short file is a CheckpointError. */
async function readExact(fh: Handle, pos: number, len: number, file: string, tensor?: string): Promise<Uint8Array> {
  let buf: Uint8Array;
  try {
    buf = new Uint8Array(len);
  } catch (err) {
    throw new CheckpointError(file, tensor, `cannot allocate ${len} bytes (${(err as Error).message})`);
  }
  for (let off = 0; off < len; ) {
    const { bytesRead } = await fh.read(buf, off, Math.min(len - off, MAX_READ), pos + off);
    if (bytesRead === 0) {
      throw new CheckpointError(
        file,
        tensor,
        `file ended at byte ${pos + off} while reading; was it truncated during load?`,
      );
    }
    off += bytesRead;
  }
  return buf;
}
