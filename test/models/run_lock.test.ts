// One training process per run directory (models/common/run_lock.ts, issue 13): a live holder of
// `<out>/.vlgrad.lock` (another process, or another run of this one) is refused with its pid and
// command and nothing in the directory changes; a lock whose process is gone, or whose pid now belongs
// to a newer process, is taken over; the lock goes away when the run ends, however it ends.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ALBEF_NARROW } from '../helpers/albef_narrow.js';
import { trainAlbef, TRAIN_DEFAULTS, type AlbefTrainOptions } from '../../models/albef/train.js';
import { openRunDir } from '../../models/common/run_dir.js';
import { LOCK_NAME, lockRunDir, RunLockedError, type LockInfo } from '../../models/common/run_lock.js';
import { HOST_TAG } from '../../nn/atomic_write.js';

const options = (out: string, o: Partial<AlbefTrainOptions> = {}): AlbefTrainOptions => ({
  ...TRAIN_DEFAULTS,
  config: ALBEF_NARROW,
  dataset: 'shapes',
  trainSize: 16,
  steps: 2,
  batchSize: 4,
  warmupSteps: 1,
  checkpointEvery: 2,
  maxMinutes: 0,
  out,
  progress: false,
  ...o,
});
/** Every file under `dir` (dot files included) with its bytes. */
const snapshot = (dir: string): Record<string, string> =>
  Object.fromEntries(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => [join(e.parentPath, e.name).slice(dir.length), readFileSync(join(e.parentPath, e.name), 'base64')]),
  );
const fakeLock = (dir: string, o: Partial<LockInfo>): void =>
  writeFileSync(
    join(dir, LOCK_NAME),
    JSON.stringify({
      pid: 1,
      host: HOST_TAG,
      started: '2026-01-01T00:00:00.000Z',
      command: 'train albef',
      token: 'x',
      ...o,
    }),
  );
/** A process that stays alive until the test ends. */
function sleeper(t: { teardown(fn: () => unknown): void }): number {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)'], { stdio: 'ignore' });
  t.teardown(() => void child.kill('SIGKILL'));
  return child.pid!;
}
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

t.test('a second run into a directory another live process trains into is refused and changes nothing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'x');
  await trainAlbef(options(out));
  t.notOk(existsSync(join(out, LOCK_NAME)), 'a finished run leaves no lock');
  const pid = sleeper(t);
  fakeLock(out, { pid, command: 'train albef --resume' });
  const before = snapshot(out);
  await t.rejects(
    trainAlbef(options(out, { resume: true, steps: 4, allowChange: 'steps' })),
    new RegExp(`--out .*x is in use by process ${pid} \\(train albef --resume, started 2026-01-01.*kill ${pid}`),
  );
  await t.rejects(trainAlbef(options(out, { overwrite: true })), RunLockedError, '--overwrite is refused too');
  t.throws(
    () => openRunDir(out, { resume: true, command: 'train albef', lock: false }),
    RunLockedError,
    'so is the early check',
  );
  t.same(snapshot(out), before, 'nothing in the directory changed, the live lock included');
  fakeLock(out, { pid, host: '0badc0de' });
  t.throws(() => lockRunDir(out, 'train albef'), /on another host/, "another host's lock counts as live");
});

t.test("a dead process's lock, or one whose pid was reused, is taken over and released", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'x');
  await trainAlbef(options(out));
  fakeLock(out, { pid: await deadPid() });
  await trainAlbef(options(out, { resume: true, steps: 4, allowChange: 'steps' }));
  t.notOk(existsSync(join(out, LOCK_NAME)), 'the stale lock was taken over, then released');
  t.ok(existsSync(join(out, 'checkpoints', 'step-000004')), 'and the resume trained');
  if (existsSync('/proc/self/stat')) {
    fakeLock(out, { pid: sleeper(t), procStart: 1 }); // the pid is alive but started at another time
    const lock = lockRunDir(out, 'train albef');
    t.equal(JSON.parse(readFileSync(lock.path, 'utf8')).pid, process.pid, 'a reused pid does not hold the lock');
    lock.release();
  } else t.comment('no /proc: the pid-reuse check is Linux only');
  writeFileSync(join(out, LOCK_NAME), ''); // not a lock this code writes
  lockRunDir(out, 'train albef').release();
  t.notOk(existsSync(join(out, LOCK_NAME)));
});

t.test('two runs of one process into one directory: the second is refused, the first is unharmed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'x');
  const first = trainAlbef(options(out, { steps: 4 })); // takes the lock before its first await
  await t.rejects(trainAlbef(options(out, { resume: true })), /in use by another run of this process/);
  await first;
  t.same(readdirSync(join(out, 'checkpoints')), ['step-000002', 'step-000004'], 'the first run trained to the end');
  t.notOk(existsSync(join(out, LOCK_NAME)));
  const fresh = join(dir, 'never');
  await t.rejects(trainAlbef(options(fresh, { warmupSteps: 5 })), /warmupSteps must be/);
  t.notOk(existsSync(fresh), 'a run that fails before its first write leaves no directory behind');
});

t.test('a lock taken over by another process before the first write stops this run', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const run = openRunDir(join(dir, 'x'), { resume: false, command: 'train albef' });
  fakeLock(join(dir, 'x'), { pid: sleeper(t) });
  t.throws(() => run.commit({ options: {} }), /was taken over by process \d+ .*nothing was written/);
  t.same(readdirSync(join(dir, 'x')), [LOCK_NAME], 'nothing was written');
  run.release();
  t.ok(existsSync(join(dir, 'x', LOCK_NAME)), "release leaves the other process's lock alone");
});
