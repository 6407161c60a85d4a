// The PyTorch parity tests' gate (test/helpers/torch.ts, issue 13 item 19): without PyTorch they skip
// with the reason, except under CI=true, where a missing PyTorch fails the run (as a missing lavapipe
// does), so CI cannot go green with the parity tests silently skipped.
import t from 'tap';

process.env.VLGRAD_PYTHON = '/nonexistent/vlgrad-python3'; // read when the helper loads
const { torchSkip } = await import('./helpers/torch.js');

t.test('a missing PyTorch skips with the reason, and fails under CI=true', async (t) => {
  const ci = process.env.CI;
  t.teardown(() => {
    if (ci === undefined) delete process.env.CI;
    else process.env.CI = ci;
  });
  const failures: string[] = [];
  const reporter = { fail: (m: string) => failures.push(m) };
  delete process.env.CI;
  t.match(torchSkip(reporter), /\/nonexistent\/vlgrad-python3 cannot run .*PyTorch is missing/, 'the skip reason');
  t.same(failures, [], 'not a failure outside CI');
  process.env.CI = 'true';
  t.ok(torchSkip(reporter), 'still skipped (nothing to run)');
  t.equal(failures.length, 1, 'but a failure under CI=true');
  t.match(failures[0], /required here: CI=true; .ci\/run installs python3-torch/);
});
