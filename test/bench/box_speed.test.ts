// The benches' box-speed gauge (bench/box_speed.ts): its module is valid WebAssembly that computes
// the bounded recurrence it claims, and the gauge reports one positive reading per thread.
import t from 'tap';
import { boxSpeed, peakModule } from '../../bench/box_speed.js';

t.test('peak computes acc = acc * 0.999 + 0.001 on 12 chains and stays finite', (t) => {
  const bytes = peakModule();
  t.ok(WebAssembly.validate(bytes), 'validates');
  const peak = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports['peak'] as (n: number) => number;
  // Lane 0 of the sum of the chains: chain c starts at c / 12 and moves toward 1.
  const expected = (n: number): number => {
    let sum = 0;
    for (let c = 0; c < 12; c++) {
      let a = Math.fround(c / 12);
      for (let i = 0; i < n; i++) a = Math.fround(Math.fround(a * Math.fround(0.999)) + Math.fround(0.001));
      sum = Math.fround(sum + a);
    }
    return sum;
  };
  for (const n of [0, 1, 7, 1000]) t.equal(peak(n), expected(n), `${n} iterations`);
  t.ok(Math.abs(peak(1_000_000) - 12) < 0.01, 'converges to 12 (every chain to 1), no overflow');
  t.end();
});

t.test('boxSpeed gives one positive, finite GFLOP/s reading per thread', async (t) => {
  const readings = await boxSpeed(2, 30);
  t.equal(readings.length, 2);
  t.ok(
    readings.every((g) => Number.isFinite(g) && g > 0),
    `readings ${readings.map((g) => g.toFixed(1)).join(', ')}`,
  );
});
