/**
 * Work `startThreads` runs once per process, after the workers are ready: layers above kernels/
 * register here what their own first use would otherwise pay for (the engine runs two small
 * products through the Tensor API, engine/warm_up.ts, so V8 has compiled that JavaScript before
 * the first real op). kernels/ never imports those layers; they register themselves. No imports
 * here: the package's type declarations reach this file from the `vlgrad/kernels` entry.
 */
const startHooks: (() => void)[] = [];
let hooksRun = false;

/** Registers `hook` to run in the first `startThreads` (at once if that has already returned). */
export function onStartThreads(hook: () => void): void {
  startHooks.push(hook);
  if (hooksRun) hook();
}

/** Runs the registered hooks, once per process. A hook that throws does not stop the others; the
 * first error is rethrown once all have run (so `startThreads` rejects with it). */
export function runStartHooks(): void {
  if (hooksRun) return;
  hooksRun = true;
  const errors: unknown[] = [];
  for (const hook of startHooks) {
    try {
      hook();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length > 0) throw errors[0];
}
