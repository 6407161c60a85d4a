// The GEMM thread pool's protocol under stress, each run in a child process (test/helpers/
// pool_stress.ts) bounded by a timeout, so a hang fails this test instead of stopping the runner.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../helpers/pool_stress.ts', import.meta.url));

function child(mode: string, arg: string, timeoutMs: number): { out: Record<string, unknown>; note: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, mode, arg], {
    timeout: timeoutMs,
    encoding: 'utf8',
  });
  if (r.signal) throw new Error(`pool ${mode}: no result within ${timeoutMs / 1000} s (hung?); stderr: ${r.stderr}`);
  if (r.status !== 0) throw new Error(`pool ${mode} failed (exit ${r.status}): ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return { out: JSON.parse(line) as Record<string, unknown>, note: line };
}

t.test('many small and odd-sized jobs, random thread counts, pauses and pool restarts: every unit once', async (t) => {
  // 600 jobs on an oversubscribed pool (2-6 threads); the child checks every job's units.
  const { out, note } = child('stress', '600', 240_000);
  t.equal(out.jobs, 600, `ran ${out.jobs} jobs on ${out.pools} pools`);
  t.same(out.reports, [], `the watchdog never fired: ${note}`);
});

t.test('watchdog: a worker asleep inside its chunk is reported and its chunk done by the caller', async (t) => {
  // Stall limit 5 s: the job returns complete (the child checks each unit once), the report
  // names worker 1 and its units, and a new pool works afterwards.
  const { out, note } = child('stall', '5', 180_000);
  const reports = out.reports as string[];
  t.equal(reports.length, 1, note);
  t.match(reports[0], /worker\(s\) 1 \(inside units \[\d+, \d+\)\) made no progress for \d+\.\d s on job \d+/);
  t.match(reports[0], /finishing the job on the calling thread/);
  t.ok(out.retired, 'the stalled pool was retired');
});
