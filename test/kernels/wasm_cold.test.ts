// The first matmuls of a fresh process, on 1 and 2 threads: right after import (the workers
// still booting, warming up and faulting in heap pages next to the call's staging copies) and
// after `await startThreads()`. Each run is a child process (test/helpers/cold_start.ts).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../helpers/cold_start.ts', import.meta.url));

interface Result {
  m: number;
  maxErr: number;
  repeatSame: boolean;
}

for (const mode of ['lazy', 'start']) {
  for (const threads of [1, 2]) {
    t.test(`first calls of a fresh process, ${threads} thread(s), ${mode}`, async (t) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', script, String(threads), mode], {
        timeout: 120_000,
        encoding: 'utf8',
      });
      t.equal(r.signal, null, 'not killed by the timeout');
      t.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
        threads: number;
        results: Result[];
        heapIntact: boolean;
      };
      t.equal(out.threads, threads);
      t.ok(out.heapIntact, 'a heap array allocated before start-up kept its values');
      for (const { m, maxErr, repeatSame } of out.results) {
        // Sums of 512-517 products of values in [-1, 1): float32 rounding differs by ~1e-5.
        t.ok(maxErr < 2e-3, `m=${m}: the first call matches the TS fallback (max |error| ${maxErr})`);
        t.ok(repeatSame, `m=${m}: a second call gives the same bits`);
      }
    });
  }
}
