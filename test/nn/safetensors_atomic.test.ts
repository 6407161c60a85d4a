// Atomic save: an interrupted save never leaves a corrupt file under the real name.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { HOST_TAG, removeStaleTemps, writeFileAtomic } from '../../nn/atomic_write.js';
import { CheckpointError, load, save, serialize, SimulatedCrash, type StateDict } from '../../nn/safetensors_node.js';
import { diffStateDicts } from '../fixtures/safetensors/records.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function version(v: number): StateDict {
  return {
    w: { dtype: 'float32', shape: [4, 8], data: new Float32Array(32).fill(v) },
    step: { dtype: 'int32', shape: [], data: new Int32Array([v]) },
  };
}

/** A fresh temp directory, removed when test `t` ends. */
async function scratch(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vlgrad-st-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a save interrupted at any byte leaves the previous checkpoint intact', async (t) => {
  const dir = await scratch(t);
  const path = join(dir, 'm.safetensors');
  await save(path, version(1), { v: '1' });
  const total = serialize(version(2), { v: '2' }).length;
  const header = total - 32 * 4 - 4;
  for (const failAfterBytes of [0, 1, 7, 8, 9, header - 1, header, header + 50, total - 1, total, total + 5]) {
    await t.rejects(
      save(path, version(2), { v: '2' }, { failAfterBytes }),
      SimulatedCrash,
      `crash after ${failAfterBytes} bytes`,
    );
    const { tensors, metadata } = await load(path);
    t.equal(diffStateDicts(tensors, version(1)), '', `still version 1 after crash at ${failAfterBytes}`);
    t.same(metadata, { v: '1' });
  }
  // The crashes left temp files beside it, as a real crash would; they are hidden, never the real
  // name, and the partial ones are not even valid checkpoints.
  const names = (await readdir(dir)).sort();
  const temps = names.filter((n) => n !== 'm.safetensors');
  t.equal(temps.length, 11);
  t.ok(
    temps.every((n) => new RegExp(`^\\.m\\.safetensors\\.${process.pid}\\.${HOST_TAG}\\.[0-9a-f]{12}\\.tmp$`).test(n)),
    'temp names are hidden, distinct and name their writer',
  );
  let partial = 0;
  for (const n of temps) {
    await load(join(dir, n)).catch((e: unknown) => {
      if (e instanceof CheckpointError) partial++;
    });
  }
  t.equal(partial, 9, 'every temp cut short before the end is refused by load');

  await save(path, version(3), { v: '3' });
  t.equal(diffStateDicts((await load(path)).tensors, version(3)), '', 'the next save goes through');
  t.equal((await readdir(dir)).length, 12, "this live process's own temps are never taken for stale");
});

t.test("the next save of a name removes its dead writers' temps, never a live writer's", async (t) => {
  const dir = await scratch(t);
  const path = join(dir, 'm.safetensors');
  const dead = await deadPid(),
    live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.teardown(() => void live.kill('SIGKILL'));
  const hour = 60 * 60;
  const fakes: [name: string, ageSeconds: number, removed: boolean][] = [
    [`.m.safetensors.${dead}.${HOST_TAG}.0123456789ab.tmp`, 0, true], // writer killed
    [`.m.safetensors.${live.pid}.${HOST_TAG}.0123456789ac.tmp`, 0, false], // writer still saving
    [`.m.safetensors.${live.pid}.${HOST_TAG}.0123456789ad.tmp`, 2 * hour, true], // pid reused long after
    [`.m.safetensors.${dead}.0badc0de.0123456789ae.tmp`, 0, false], // another host's: cannot tell yet
    [`.m.safetensors.${dead}.0badc0de.0123456789af.tmp`, 2 * hour, true],
    ['.m.safetensors.0123456789b0.tmp', 2 * hour, true], // an older version's name, abandoned
    ['.m.safetensors.0123456789b1.tmp', 60, false],
    [`.other.safetensors.${dead}.${HOST_TAG}.0123456789b2.tmp`, 2 * hour, false], // another NAME
    ['.m.safetensors.notes.tmp', 2 * hour, false], // not a temp name of ours
  ];
  const now = Date.now() / 1000;
  for (const [name, age] of fakes) {
    await writeFile(join(dir, name), 'partial');
    await utimes(join(dir, name), now - age, now - age);
  }
  await save(path, version(1));
  t.equal(diffStateDicts((await load(path)).tensors, version(1)), '');
  const left = new Set(await readdir(dir));
  for (const [name, age, removed] of fakes)
    t.equal(left.has(name), !removed, `${removed ? 'removed' : 'kept'}: ${name} (${age} s old)`);
  t.equal(left.size, 1 + fakes.filter((f) => !f[2]).length, 'nothing else left');
  t.same(await removeStaleTemps(join(dir, 'missing', 'x')), { count: 0, bytes: 0 }, 'a missing directory is no error');
});

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

t.test('a crash during the very first save leaves no file under the real name', async (t) => {
  const dir = await scratch(t);
  const path = join(dir, 'first.safetensors');
  await t.rejects(save(path, version(1), {}, { failAfterBytes: 20 }), SimulatedCrash);
  await t.rejects(load(path), { code: 'ENOENT' });
});

t.test('a real I/O error removes the temp file and keeps the old contents', async (t) => {
  const dir = await scratch(t);
  // rename(2) cannot replace a non-empty directory: the failure comes after the temp was written.
  const target = join(dir, 'taken');
  await mkdir(join(target, 'inside'), { recursive: true });
  await t.rejects(writeFileAtomic(target, new Uint8Array(64)), /EISDIR|ENOTEMPTY|EEXIST|EPERM/);
  t.same((await readdir(dir)).sort(), ['taken'], 'no temp file left behind');
  t.same(await readdir(target), ['inside']);
  await t.rejects(save(join(dir, 'no', 'such', 'dir.safetensors'), version(1)), { code: 'ENOENT' });
});

t.test('SIGKILL at random moments of a save loop never corrupts the checkpoint', async (t) => {
  const dir = await scratch(t);
  const path = join(dir, 'loop.safetensors');
  const script = join(ROOT, 'test', 'fixtures', 'safetensors', 'save_loop.ts');
  const seen = new Set<number>();
  for (const delayMs of [10, 80, 170]) {
    const child = spawn(process.execPath, ['--import', 'tsx', script, path, '4'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.teardown(() => void child.kill('SIGKILL'));
    // Wait until generation 0 is on disk, then kill at an arbitrary point of a later save.
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`save loop exited early (${code})`)));
    });
    await new Promise((r) => setTimeout(r, delayMs));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const { tensors, metadata } = await load(path);
    const gen = Number(metadata.gen);
    const a = tensors.a!.data,
      b = tensors.b!.data;
    t.ok(
      a.length === b.length && a.every((x) => x === gen) && b.every((x) => x === gen),
      `complete generation ${gen} after kill at +${delayMs} ms`,
    );
    seen.add(gen);
  }
  t.comment(
    `generations seen after kills: ${[...seen].join(', ')}; leftover temps: ${(await readdir(dir)).length - 1}`,
  );
  await save(path, version(5));
  t.same(await readdir(dir), ['loop.safetensors'], "the next save removed every killed writer's temp");
});
