/**
 * Crash-safe file replacement: write a temp file in the same directory, fsync it, rename it over the
 * real name, fsync the directory. rename(2) within one directory is atomic, so a reader of the real
 * name sees the old file or the new one, never a prefix of the new one, whenever the writer dies.
 * The temp name carries the writer's pid and host, so the next write of the same name can remove the
 * temporaries of writers that died (kill -9) without touching a live writer's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstat, open, readdir, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
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

/** This machine, as 8 hex digits in temp names (a pid says nothing about a writer on another host). */
export const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/**
 * The temp name for `path`: `.NAME.<pid>.<host>.<random>.tmp`, hidden, unique, and never equal to any
 * real checkpoint name.
 */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${HOST_TAG}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Whether process `pid` exists on this machine (EPERM: it does, owned by another user). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A temp file whose writer cannot be checked (another host's, or an older vlgrad's name without a
 * pid), or whose pid may have been reused, is stale once unmodified this long: a live write keeps
 * touching its file until the rename, which follows the last write by one fsync.
 */
export const STALE_TEMP_MS = 60 * 60 * 1000;

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Removes the stale temporaries of earlier writes of `path`: `.NAME.<pid>.<host>.*.tmp` files whose
 * process is gone (same host), and any `.NAME.*.tmp` left unmodified for {@link STALE_TEMP_MS}. A live
 * writer's temp file (its pid alive, or recently modified) is never removed, nor another NAME's.
 * Best effort: a file that cannot be examined or removed is left. Returns what was removed.
 */
export async function removeStaleTemps(path: string, now = Date.now()): Promise<{ count: number; bytes: number }> {
  const dir = dirname(path),
    mine = new RegExp(`^\\.${escapeRe(basename(path))}\\.(?:(\\d+)\\.([0-9a-f]{8})\\.)?[0-9a-f]{12}\\.tmp$`);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return { count: 0, bytes: 0 }; // a missing directory: the write itself reports it
  }
  let count = 0,
    bytes = 0;
  for (const n of names) {
    const m = mine.exec(n);
    if (!m) continue;
    const p = join(dir, n),
      st = await lstat(p).catch(() => null);
    if (!st?.isFile()) continue;
    const pid = m[1] === undefined ? null : Number(m[1]),
      known = pid !== null && m[2] === HOST_TAG;
    if (pid === process.pid && known) continue; // this process's own write in flight
    const dead = known && !processAlive(pid);
    if (!dead && now - st.mtimeMs < STALE_TEMP_MS) continue;
    if (
      await rm(p).then(
        () => true,
        () => false,
      )
    ) {
      count++;
      bytes += st.size;
    }
  }
  return { count, bytes };
}

/**
 * Atomically replaces `path` with the concatenation of `parts`.
 *
 * After it resolves the new contents are durable (file and directory fsynced). If it rejects because
 * of an I/O error, the temp file is removed and `path` is untouched (or, if only the final directory
 * fsync failed, already replaced). A process killed mid-call can leave a `.NAME.*.tmp` file beside
 * `path`, but never a partial file under `path`; the next write of `path` removes it
 * ({@link removeStaleTemps}). On Windows the directory fsync is skipped (Node cannot open a directory there).
 */
export async function writeFileAtomic(
  path: string,
  parts: Uint8Array | readonly Uint8Array[],
  options: AtomicWriteOptions = {},
): Promise<void> {
  await removeStaleTemps(path);
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
