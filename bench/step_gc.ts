// Garbage collections during TransformerLayer train steps (the bench/step_cpu.ts layer): how many
// of each kind and their summed pause, over --steps steps after 2 warm-up steps. GC counts do not
// depend on machine load the way times do, so they show allocation pressure on a busy machine.
//
//   VLGRAD_THREADS=1 npx tsx bench/step_gc.ts [--steps 10]     # prints one JSON line
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { layerStep, stepsArg } from './layer_step.js';

const STEPS = stepsArg(10);
const { step } = layerStep();
step();
step();
const KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };
const gcs: Record<string, { count: number; ms: number }> = {};
let counting = true;
const obs = new PerformanceObserver((list) => {
  if (!counting) return;
  for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
    const kind = KINDS[e.detail?.kind ?? 0] ?? String(e.detail?.kind);
    const s = (gcs[kind] ??= { count: 0, ms: 0 });
    s.count++;
    s.ms += e.duration;
  }
});
obs.observe({ entryTypes: ['gc'] });
for (let s = 0; s < STEPS; s++) step();
await new Promise((r) => setTimeout(r, 50)); // the observer is called asynchronously
counting = false;
obs.disconnect();
for (const s of Object.values(gcs)) s.ms = +s.ms.toFixed(1);
console.log(JSON.stringify({ steps: STEPS, gcs }));
