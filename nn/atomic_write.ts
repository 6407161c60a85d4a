/**
 * Crash-safe file replacement: write a temp file in the same directory, fsync it, rename it over the
 * real name, fsync the directory. rename(2) within one directory is atomic, so a reader of the real
 * name sees the old file or the new one, never a prefix of the new one, whenever the writer dies.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /**
   * Test seam: act as if the process died once this many bytes have reached the temp file, or, if the
   * data is no longer than that, once all of it was written but before fsync and rename. Nothing is
   * cleaned up, just as after a real crash, and a {@link SimulatedCrash} is thrown.
   */
  failAfterBytes?: number;
}

/** Thrown by the `failAfterBytes` test seam in place of a process death. */
export class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash';
}

// One write(2) moves at most ~2 GiB on Linux; stay well below so large tensors go in several calls.
const MAX_CHUNK = 1 << 30;

/** The temp name for `path`: hidden, random, and never equal to any real checkpoint name. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Atomically replaces `path` with the concatenation of `parts`.
 *
 * After it resolves the new contents are durable (file and directory fsynced). If it rejects because
 * of an I/O error, the temp file is removed and `path` is untouched (or, if only the final directory
 * fsync failed, already replaced). A process killed mid-call can leave a `.NAME.*.tmp` file beside
 * `path`, but never a partial file under `path`. On Windows the directory fsync is skipped (Node cannot
 * open a directory there).
 */
export async function writeFileAtomic(
  path: string,
  parts: Uint8Array | readonly Uint8Array[],
  options: AtomicWriteOptions = {},
): Promise<void> {
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'wx'); // exclusive: never reuse someone else's file
  let closed = false;
  try {
    await writeAll(fh, parts instanceof Uint8Array ? [parts] : parts, options.failAfterBytes);
    await fh.sync();
    await fh.close();
    closed = true;
    await rename(tmp, path);
    await syncDir(dirname(path));
  } catch (e) {
    if (!closed) await fh.close().catch(() => undefined);
    // A simulated crash leaves its debris like a real one, so tests can show it is harmless.
    if (!(e instanceof SimulatedCrash)) await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

type Handle = Awaited<ReturnType<typeof open>>;

async function writeAll(fh: Handle, parts: readonly Uint8Array[], failAfter = Infinity): Promise<void> {
  let position = 0;
  for (const part of parts) {
    let off = 0;
    while (off < part.length) {
      const len = Math.min(part.length - off, MAX_CHUNK, failAfter - position);
      if (len <= 0) throw new SimulatedCrash(`simulated crash after ${position} bytes`);
      const { bytesWritten } = await fh.write(part, off, len, position);
      off += bytesWritten;
      position += bytesWritten;
    }
  }
  if (failAfter !== Infinity)
    throw new SimulatedCrash(`simulated crash after all ${position} bytes, before fsync and rename`);
}

/** Makes the rename itself durable: without this a power loss can bring the old directory entry back. */
async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
