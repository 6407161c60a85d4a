/**
 * PyTorch as the live oracle of the parity tests. Without it those tests are skipped with the reason,
 * except under CI=true, where `.ci/run` installs python3-torch, so a missing PyTorch is a failure
 * (as a missing lavapipe is for the webgpu tests).
 */
import { spawnSync } from 'node:child_process';

/** The interpreter the parity tests run: VLGRAD_PYTHON, else the system Python that Debian's torch is for. */
export const PYTHON = process.env.VLGRAD_PYTHON ?? '/usr/bin/python3';

/** Why PyTorch cannot run here, or false. find_spec, not import: importing torch costs seconds. */
export function torchProblem(): string | false {
  const probe = 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is None)';
  const r = spawnSync(PYTHON, ['-c', probe], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} cannot run (${r.error.message}), so PyTorch is missing`;
  return r.status === 0 ? false : `PyTorch is not installed for ${PYTHON}`;
}

/** Minimal part of tap's Test used here. */
interface Reporter {
  fail(message: string): unknown;
}

/**
 * The skip option for a PyTorch test: false when it can run. Under CI=true a missing PyTorch also
 * fails `t`, so the run cannot go green with the parity tests silently skipped.
 */
export function torchSkip(t: Reporter): string | false {
  const problem = torchProblem();
  if (problem && process.env.CI === 'true') {
    t.fail(`${problem} (required here: CI=true; .ci/run installs python3-torch, or set VLGRAD_PYTHON)`);
  }
  return problem;
}
