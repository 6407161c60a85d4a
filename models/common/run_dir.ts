/**
 * Run directories: the rules that keep one `--out` directory describing one training run.
 *
 * - A new run refuses a non-empty directory (its checkpoints would mix with the old run's); `--resume`
 *   continues it and `--overwrite` replaces it (only a directory that holds a vlgrad run).
 * - Nothing in the directory changes until a resume has validated: the caller loads the checkpoint into
 *   its model first and calls `commit()` afterwards, which is the first write.
 * - Options that change the run's maths must equal the saved ones, or be named in `--allow-change`;
 *   accepted changes are recorded in run.json's `resumes`.
 * - Temporaries left by a killed save (`.NAME.*.tmp` files, `.tmp-step-*` directories) are removed
 *   when a run commits into the directory.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '../../nn/atomic_write.js';
import { checkUnlocked, LOCK_NAME, lockRunDir } from './run_lock.js';

/** A run directory that cannot be used as asked; the message says what to do instead. */
export class RunDirError extends Error {
  override name = 'RunDirError';
}

/** What a run directory's run.json holds: the options the run was started with, and its resumes. */
export interface RunJson {
  options: Record<string, unknown>;
  resumes?: ResumeRecord[];
  [key: string]: unknown;
}

/** One resume of a run: when, the step and checkpoint it continued from (or the stages run), options changed on purpose, unreadable checkpoints skipped. */
export interface ResumeRecord {
  time: string;
  step?: number;
  checkpoint?: string;
  stages?: string;
  changed?: Record<string, { saved: unknown; now: unknown }>;
  skipped?: string[];
}

/** Reads `<dir>/run.json`, or null when there is none. A file that does not parse is an error naming it. */
export function readRunJson(dir: string): RunJson | null {
  const path = join(dir, 'run.json');
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as RunJson;
  } catch (e) {
    throw new RunDirError(`${path} is not valid JSON (${(e as Error).message}); it is not a usable run directory`);
  }
}

/** run.json of a run that evaluation commands read; a clear error when `dir` holds no run. */
export function requireRunJson<T>(dir: string, trainCommand: string): T {
  const info = readRunJson(dir);
  if (!info) {
    const why = existsSync(dir) ? `${dir} holds no run.json` : `${dir} does not exist`;
    throw new RunDirError(
      `--run ${dir}: ${why}; train first (vlgrad ${trainCommand} --out ${dir}) or pass the run directory with --run`,
    );
  }
  return info as T;
}

/** A directory's entries, less the run lock. */
const entries = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith(LOCK_NAME)) : []; // less the lock (and its link source)

/** How a training command may use its `--out` directory. */
export interface RunDirOptions {
  resume: boolean;
  overwrite?: boolean;
  /** e.g. 'train albef', for messages. */
  command: string;
  /** Take the directory's lock (run_lock.ts) until `release()`; default true. False: only refuse a live lock. */
  lock?: boolean;
}

/**
 * Opens `dir` as a training run (checked and locked as `openRunDir` does, nothing else written),
 * runs `train` with it and releases the lock however `train` ends.
 */
export async function withRunDir<T>(dir: string, o: RunDirOptions, train: (run: OpenRun) => Promise<T>): Promise<T> {
  const run = openRunDir(dir, o);
  try {
    return await train(run);
  } finally {
    run.release();
  }
}

/** The result of `openRunDir`: whether there is something to resume, and the commit step. */
export interface OpenRun {
  readonly dir: string;
  /** True when --resume was given and the directory holds a run (run.json or checkpoints). */
  readonly resuming: boolean;
  /** run.json as it was before this run (null for a new directory). */
  readonly saved: RunJson | null;
  /**
   * The first write: clears the directory for --overwrite, removes stale temporaries, then writes
   * run.json (`info` plus the resume history, with `resume` appended when given).
   */
  commit(info: object, resume?: ResumeRecord): void;
  /** Releases the directory's lock (call it in a `finally`; idempotent). */
  release(): void;
}

/**
 * Checks that `dir` may be used as asked, changing nothing but its lock: another live process
 * training into `dir` is refused (RunLockedError). A directory with entries is refused unless resumed
 * or overwritten; --overwrite refuses a directory that holds no vlgrad run (it would delete files
 * that are not a run's).
 */
export function openRunDir(dir: string, o: RunDirOptions): OpenRun {
  if (o.lock === false) checkUnlocked(dir, o.command);
  const lock = o.lock === false ? null : lockRunDir(dir, o.command);
  try {
    return checkRunDir(dir, o, lock);
  } catch (e) {
    lock?.release();
    throw e;
  }
}

function checkRunDir(dir: string, o: RunDirOptions, lock: ReturnType<typeof lockRunDir> | null): OpenRun {
  const names = entries(dir),
    saved = readRunJson(dir);
  const isRun = saved !== null || names.includes('checkpoints') || names.some((n) => /^stage\d$/.test(n));
  if (o.resume && o.overwrite)
    throw new RunDirError(
      '--resume and --overwrite contradict each other: resume continues the run in --out, overwrite deletes it',
    );
  if (names.length > 0 && !isRun) {
    throw new RunDirError(
      `--out ${dir} is not empty (${describe(names)}) and holds no vlgrad run (no run.json, checkpoints/ or stage<n>/); pick an empty or new --out`,
    );
  }
  if (names.length > 0 && !o.resume) {
    if (!o.overwrite) {
      throw new RunDirError(
        `--out ${dir} is not empty (${describe(names)}); a new run there would mix with what it holds. ` +
          `Continue that run with --resume, replace it with --overwrite, or pick another --out`,
      );
    }
  }
  const resuming = o.resume && isRun;
  if (o.resume && !isRun) console.log(`--resume: ${dir} holds no run yet; starting a new one`);
  return {
    dir,
    resuming,
    saved,
    commit(info, resume) {
      lock?.verify();
      if (o.overwrite && names.length > 0) {
        for (const n of entries(dir)) rmSync(join(dir, n), { recursive: true, force: true });
        console.log(`--overwrite: removed the previous run in ${dir}`);
      }
      mkdirSync(dir, { recursive: true });
      const removed = cleanStaleTemporaries(dir);
      if (removed.count)
        console.log(
          `removed ${removed.count} stale temporar${removed.count === 1 ? 'y' : 'ies'} (${formatBytes(removed.bytes)}) left in ${dir} by an interrupted save`,
        );
      const resumes = [...(resuming ? (saved?.resumes ?? []) : []), ...(resume ? [resume] : [])];
      writeFileSync(
        join(dir, 'run.json'),
        `${JSON.stringify({ ...info, ...(resumes.length ? { resumes } : {}) }, null, 2)}\n`,
      );
    },
    release: () => lock?.release(),
  };
}

function describe(names: string[]): string {
  const shown = names.slice(0, 4).join(', ');
  return names.length > 4 ? `${shown} and ${names.length - 4} more` : shown;
}

const TMP_STEP = /^\.tmp-step-\d+-(\d+)$/,
  TMP_FILE = /^\..+\.tmp$/;

function sizeOf(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((s, n) => s + sizeOf(join(path, n)), 0);
}

/**
 * Removes what killed saves leave under `dir` (recursively): `.tmp-step-*-PID` checkpoint directories
 * whose process is gone, and `.NAME.*.tmp` files of atomic writes. Call it only on a directory this
 * process owns (a run that has committed), since a `.tmp` file's writer cannot be told from its name.
 * `recursive: false` looks at `dir` alone.
 */
export function cleanStaleTemporaries(dir: string, recursive = true): { count: number; bytes: number } {
  let count = 0,
    bytes = 0;
  for (const n of entries(dir)) {
    const path = join(dir, n),
      step = TMP_STEP.exec(n);
    const stale = step ? !processAlive(Number(step[1])) : TMP_FILE.test(n);
    if (stale) {
      bytes += sizeOf(path);
      count++;
      rmSync(path, { recursive: true, force: true });
    } else if (recursive && !n.startsWith('.') && statSync(path, { throwIfNoEntry: false })?.isDirectory()) {
      const r = cleanStaleTemporaries(path);
      count += r.count;
      bytes += r.bytes;
    }
  }
  return { count, bytes };
}

function formatBytes(b: number): string {
  return b >= 1e9
    ? `${(b / 1e9).toFixed(1)} GB`
    : b >= 1e6
      ? `${(b / 1e6).toFixed(1)} MB`
      : b >= 1e3
        ? `${(b / 1e3).toFixed(1)} kB`
        : `${b} B`;
}

/** Options whose value changes a run's maths: compared on --resume. */
export interface ResumeCheck {
  /** The options the checkpoint was trained with. */
  saved: Record<string, unknown>;
  current: Record<string, unknown>;
  /** The keys that matter (camelCase, written --kebab-case in messages). */
  keys: readonly string[];
  /** Keys the user allowed to change (--allow-change). */
  allow: readonly string[];
  /** Where the saved values come from, for the message. */
  source: string;
}

const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const show = (v: unknown): string =>
  typeof v === 'object' && v !== null ? ((v as { name?: string }).name ?? 'a custom object') : String(v);

/**
 * Compares the maths options of a resume with the saved ones. Returns the changes the user allowed;
 * throws a RunDirError naming every other difference. Keys absent from the saved options (older runs)
 * are not compared.
 */
export function checkResumeOptions(c: ResumeCheck): Record<string, { saved: unknown; now: unknown }> {
  for (const a of c.allow) {
    if (!c.keys.includes(a))
      throw new RunDirError(
        `--allow-change ${kebab(a)}: not an option that resume compares (${c.keys.map(kebab).join(', ')})`,
      );
  }
  const changed: Record<string, { saved: unknown; now: unknown }> = {},
    refused: string[] = [];
  for (const k of c.keys) {
    if (!(k in c.saved)) continue;
    const a = c.saved[k],
      b = c.current[k];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    if (c.allow.includes(k)) changed[k] = { saved: a ?? null, now: b ?? null };
    else refused.push(`--${kebab(k)} ${show(b)} (saved: ${show(a)})`);
  }
  if (refused.length) {
    throw new RunDirError(
      `--resume: ${refused.join(', ')} ${refused.length === 1 ? 'differs' : 'differ'} from the run being resumed (${c.source}); they change the run's maths. ` +
        `Resume with the saved values (omit those flags: --resume reuses them), or accept the change with --allow-change ${refused.map((r) => r.split(' ')[0].slice(2)).join(',')}`,
    );
  }
  for (const [k, v] of Object.entries(changed))
    console.log(
      `--resume: --${kebab(k)} changed from ${show(v.saved)} to ${show(v.now)} (--allow-change; recorded in run.json)`,
    );
  return changed;
}

/** The options a checkpoint records (`extra.options`): the maths keys only, so a resumed run writes the same bytes. */
export function pickOptions(options: object, keys: readonly string[]): Record<string, unknown> {
  const o = options as Record<string, unknown>;
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

/** Parses `--allow-change a,b-c` into camelCase keys. */
export function parseAllowChange(s: string | undefined): string[] {
  return (s ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map((x) => x.replace(/-([a-z0-9])/g, (_, ch: string) => ch.toUpperCase()));
}

/**
 * For `--resume` from the command line: options the user did not give are taken from the saved run,
 * so `train albef --resume --out runs/x` continues runs/x as it was started.
 */
export function withSavedOptions<T extends Record<string, unknown>>(
  flags: T,
  given: ReadonlySet<string>,
  out: string,
  keys: readonly string[],
): T {
  const saved = readRunJson(out)?.options;
  if (!saved) return flags;
  const merged: Record<string, unknown> = { ...flags };
  for (const k of keys) if (!given.has(k) && k in saved && typeof saved[k] !== 'object') merged[k] = saved[k];
  return merged as T;
}

/** Moves checkpoint directories aside (`step-N` -> `step-N.unreadable`) so pruning and resumes skip them. */
export function setAsideCheckpoints(paths: readonly string[]): void {
  for (const p of paths) {
    const to = existsSync(`${p}.unreadable`) ? `${p}.unreadable-${Date.now()}` : `${p}.unreadable`;
    renameSync(p, to);
    console.log(`moved the unreadable checkpoint ${p} to ${to}`);
  }
}

/** "wrote" or "replaced" (when `path` exists already), for the lines that say what a command wrote. */
export const wroteVerb = (path: string): string => (existsSync(path) ? 'replaced' : 'wrote');

/** The step of a checkpoint directory named step-NNNNNN (null for other names). */
export function checkpointStep(dir: string): number | null {
  const m = /step-(\d+)[/\\]?$/.exec(dir);
  return m ? Number(m[1]) : null;
}
