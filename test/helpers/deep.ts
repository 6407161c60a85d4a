/**
 * The project's two test switches, read in one place:
 * - `VLGRAD_DEEP=1` runs the slow variants (more property cases, bigger shapes, the long fuzz runs);
 *   the default `npm test` runs reduced versions of them and says so.
 * - `VLGRAD_SEED=N` replays a property run: every property test draws a fresh seed per run, prints it,
 *   and uses N instead when it is set.
 * - Under `CI=true` without VLGRAD_SEED the seed is fixed (CI_SEED), so a submission's CI is
 *   reproducible and a latent bug found by exploring cannot block an unrelated change; local runs
 *   and `VLGRAD_DEEP=1` runs are where exploring happens.
 */
import { createHash, randomInt } from 'node:crypto';

/** True under `VLGRAD_DEEP=1`. */
export const DEEP = process.env.VLGRAD_DEEP === '1';

/** `normal` cases by default, `deep` under VLGRAD_DEEP=1. */
export function cases(normal: number, deep: number): number {
  return DEEP ? deep : normal;
}

/**
 * Says, in a reduced run, what VLGRAD_DEEP=1 adds to this test file (one line on stderr, which
 * tap's reporter shows beside the file's name); nothing in deep mode.
 */
export function deepAdds(what: string): void {
  if (DEEP || said.has(what)) return;
  said.add(what);
  process.stderr.write(`reduced run; VLGRAD_DEEP=1 adds: ${what}\n`);
}
const said = new Set<string>();

/** The seed of `CI=true` runs (any fixed value; this one was checked green with the whole suite). */
export const CI_SEED = 20261202;

function readSeed(): number {
  const raw = process.env.VLGRAD_SEED;
  if (raw === undefined || raw === '') return process.env.CI === 'true' ? CI_SEED : randomInt(0, 2 ** 31);
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`VLGRAD_SEED must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** This process's base seed: VLGRAD_SEED if set, else CI_SEED under CI=true, else drawn fresh. */
export const BASE_SEED = readSeed();

/**
 * A fast-check seed for one property, derived from the base seed and a label, so that each property
 * explores differently while one VLGRAD_SEED replays them all.
 */
export function seedFor(label: string): number {
  return createHash('sha256').update(`${BASE_SEED}:${label}`).digest().readInt32LE(0);
}

/** The line a test prints so that a failure can be replayed (and a reduced run is labelled as such). */
export function seedNote(what: string): string {
  const mode = DEEP ? 'deep mode' : 'reduced run (VLGRAD_DEEP=1 for the deep one)';
  return `${what}: seed ${BASE_SEED} (replay with VLGRAD_SEED=${BASE_SEED}), ${mode}`;
}
