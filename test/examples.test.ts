/** The README's examples run and do what the README says. */
import { execFileSync } from 'node:child_process';
import t from 'tap';

t.test('examples/mlp.ts trains: the loss falls below 0.01', async (t) => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'examples/mlp.ts'], { encoding: 'utf8' });
  const losses = [...out.matchAll(/loss (\d+\.\d+)/g)].map((m) => Number(m[1]));
  t.ok(losses[0] > 0.1, `starts high (${losses[0]})`);
  t.ok(losses[losses.length - 1] < 0.01, `ends low (${losses[losses.length - 1]})`);
});
