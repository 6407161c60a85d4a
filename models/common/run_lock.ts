/**
 * One training process per run directory: `<out>/.vlgrad.lock` holds the pid, host, process start
 * and command of the process that trains into it. Two `train ... --resume` (or a train and a resume)
 * into one directory would otherwise interleave checkpoints, logs and run.json. A lock whose process
 * is gone (kill -9, a crash, a reboot) is stale and taken over; a live one is an error naming it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST_TAG, processAlive } from '../../nn/atomic_write.js';

/** The lock file's name inside a run directory. */
export const LOCK_NAME = '.vlgrad.lock';

/** Another process trains into the directory (or its lock cannot be read); the message names it. */
export class RunLockedError extends Error {
  override name = 'RunLockedError';
}

/** What the lock file holds. */
export interface LockInfo {
  pid: number;
  host: string;
  /** When the process started (ISO time), for the message. */
  started: string;
  /** Linux only: the process's start in clock ticks after boot, which tells a reused pid apart. */
  procStart?: number;
  command: string;
  /** Tells two runs of one process apart. */
  token: string;
}

/** A held lock. */
export interface RunLock {
  readonly path: string;
  /** Throws RunLockedError if the lock file is no longer this one (another process took it over). */
  verify(): void;
  /** Removes the lock file if it is still this one (idempotent). */
  release(): void;
}

/** Field 22 of /proc/PID/stat (start time in ticks after boot), or undefined off Linux. */
function procStart(pid: number | 'self'): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
    const v = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

const SELF_START = procStart('self');

/** Whether the process that wrote `info` is still running (a different host's is assumed to be). */
export function lockHolderAlive(info: LockInfo): boolean {
  if (info.host !== HOST_TAG) return true;
  if (info.pid <= 0) return false; // an unreadable lock (kill(0) would signal our own group)
  if (info.pid === process.pid) return true;
  if (!processAlive(info.pid)) return false;
  const now = procStart(info.pid);
  return info.procStart === undefined || now === undefined || now === info.procStart;
}

function readLock(path: string): LockInfo | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const info = JSON.parse(text) as LockInfo;
    if (Number.isSafeInteger(info.pid) && typeof info.token === 'string') return info;
  } catch {}
  // Not a lock this code writes (they appear complete, see createComplete): nobody holds it.
  return { pid: 0, host: HOST_TAG, started: '?', command: '?', token: '' };
}

function lockedError(dir: string, command: string, held: LockInfo): RunLockedError {
  const self = held.pid === process.pid;
  return new RunLockedError(
    `${command}: --out ${dir} is in use by ${self ? 'another run of this process' : `process ${held.pid}`} ` +
      `(${held.command}, started ${held.started}${held.host === HOST_TAG ? '' : ', on another host'}), which holds ${join(dir, LOCK_NAME)}. ` +
      `Wait for it to finish or stop it${self ? '' : ` (kill ${held.pid})`}; if that process is gone, delete the lock file`,
  );
}

/** Throws RunLockedError when a live process holds `dir`'s lock; takes nothing (a check ahead of slow work). */
export function checkUnlocked(dir: string, command: string): void {
  const held = readLock(join(dir, LOCK_NAME));
  if (held && lockHolderAlive(held)) throw lockedError(dir, command, held);
}

/**
 * Creates `path` with `text` unless it exists, atomically: written under a temp name and hard-linked
 * into place, so a reader never sees a lock file without its contents. False when `path` exists.
 */
function createComplete(path: string, text: string): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, text, { flag: 'wx' });
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return false;
  } finally {
    unlinkSync(tmp);
  }
}

/** Removes `dir` if it is empty. */
function rmdirQuiet(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {}
}

const releasers = new Set<() => void>();
let exitHook = false;

/**
 * Takes the lock of run directory `dir` for `command`, creating `dir` if needed (and removing it again
 * on release when it was created here and is left empty). Throws RunLockedError naming the process
 * that holds it; a lock whose process is gone is taken over, saying so.
 */
export function lockRunDir(dir: string, command: string): RunLock {
  const created = !existsSync(dir);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_NAME);
  const me: LockInfo = {
    pid: process.pid,
    host: HOST_TAG,
    started: new Date(Date.now() - process.uptime() * 1000).toISOString(),
    ...(SELF_START !== undefined ? { procStart: SELF_START } : {}),
    command,
    token: randomBytes(8).toString('hex'),
  };
  for (let attempt = 0; ; attempt++) {
    if (createComplete(path, `${JSON.stringify(me)}\n`)) break;
    const held = readLock(path);
    if (held && lockHolderAlive(held)) {
      if (created) rmdirQuiet(dir);
      throw lockedError(dir, command, held);
    }
    if (attempt > 2) throw new RunLockedError(`${command}: could not take ${path} (it keeps changing); try again`);
    if (held)
      console.log(`${command}: taking over the stale lock of process ${held.pid} (${held.command}, gone) in ${dir}`);
    // Two processes taking over one stale lock at once: both may create it, the later wins, and the
    // earlier one's verify() (before its first write) refuses.
    try {
      unlinkSync(path);
    } catch {}
  }
  let held = true;
  const lock: RunLock = {
    path,
    verify() {
      const now = readLock(path);
      if (now?.token !== me.token)
        throw new RunLockedError(
          `${command}: --out ${dir} was taken over by ${now ? `process ${now.pid} (${now.command})` : 'nobody (its lock vanished)'} while this run was starting; nothing was written`,
        );
    },
    release() {
      if (!held) return;
      held = false;
      releasers.delete(lock.release);
      if (readLock(path)?.token === me.token) unlinkSync(path);
      if (created) rmdirQuiet(dir); // only if empty: a run that failed before its first write leaves nothing
    },
  };
  releasers.add(lock.release);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const r of releasers) r(); // process.exit() skips finally blocks
    });
  }
  return lock;
}
