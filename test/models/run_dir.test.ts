// Run directories and resume (models/common/run_dir.ts, resume.ts, checkpoint.ts) through the real
// ALBEF trainer on a narrow config: a new run never mixes with an old one, a failed resume writes
// nothing, changed maths options are refused or recorded, an unreadable newest checkpoint is skipped
// (for --resume and eval), stale temporaries are removed, pruning never deletes the new checkpoint,
// and eval says what it wrote and which checkpoint it evaluated.
import { existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ALBEF_NARROW } from '../helpers/albef_narrow.js';
import { COMMANDS } from '../../bin/commands.js';
import { trainAlbef, TRAIN_DEFAULTS, type AlbefTrainOptions } from '../../models/albef/train.js';
import { listCheckpoints, loadCheckpoint, newestReadable, saveCheckpoint } from '../../models/common/checkpoint.js';
import { runCli } from '../../models/common/cli.js';
import { readJsonl } from '../../models/common/jsonl.js';
import { checkResumeOptions, cleanStaleTemporaries, openRunDir } from '../../models/common/run_dir.js';
import { Linear } from '../../nn/layers.js';
import { AdamW } from '../../nn/optim.js';

const options = (out: string, o: Partial<AlbefTrainOptions> = {}): AlbefTrainOptions => ({
  ...TRAIN_DEFAULTS,
  config: ALBEF_NARROW,
  dataset: 'shapes',
  trainSize: 32,
  steps: 8,
  batchSize: 4,
  warmupSteps: 2,
  checkpointEvery: 2,
  maxMinutes: 0,
  out,
  progress: false,
  ...o,
});
const snapshot = (dir: string): Record<string, string> => {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const n of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, n.name);
      if (n.isDirectory()) walk(p);
      else out[p.slice(dir.length)] = readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return out;
};
const sink = () => ({
  text: '',
  write(s: string) {
    this.text += s;
    return true;
  },
});

t.test(
  'a new run refuses a non-empty --out (item 1); --overwrite replaces a run, never a foreign directory',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'rundir-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const out = join(dir, 'x');
    await trainAlbef(options(out, { steps: 10 }));
    const before = snapshot(out);
    await t.rejects(
      trainAlbef(options(out, { steps: 8, checkpointEvery: 4, seed: 7 })),
      /--out .* is not empty .*--resume.*--overwrite/,
    );
    t.same(snapshot(out), before, 'the refused run changed nothing');
    await trainAlbef(options(out, { steps: 4, checkpointEvery: 4, seed: 7, overwrite: true }));
    t.same(await listCheckpoints(join(out, 'checkpoints')), [4], "only the new run's checkpoints remain");
    t.equal(readJsonl(join(out, 'log.jsonl')).length, 4, 'the log describes the new run');
    const foreign = join(dir, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), 'mine');
    t.throws(
      () => openRunDir(foreign, { resume: false, overwrite: true, command: 'train albef' }),
      /holds no vlgrad run/,
      '--overwrite never deletes a foreign directory',
    );
    t.throws(
      () => openRunDir(foreign, { resume: true, command: 'train albef' }),
      /holds no vlgrad run/,
      '--resume never writes into one',
    );
    t.throws(() => openRunDir(out, { resume: true, overwrite: true, command: 'train albef' }), /contradict/);
  },
);

t.test('pruning keeps the newest checkpoints up to the one written and never deletes it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'prune-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const m = new Linear(2, 2),
    opt = new AdamW(m.parameters(), { lr: 1e-3 });
  for (const step of [10, 15, 20]) await saveCheckpoint(dir, m, opt, { step, rngs: {}, extra: {} });
  for (const step of [4, 8]) await saveCheckpoint(dir, m, opt, { step, rngs: {}, extra: {} });
  const steps = await listCheckpoints(dir);
  t.ok(steps.includes(8) && steps.includes(4), `the checkpoints just written survive (${steps})`);
});

t.test('a failed resume writes nothing (item 2); changed maths options are refused or recorded (item 3)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'resume-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'r'),
    o = options(out, { steps: 6 });
  await trainAlbef(o);
  const before = snapshot(out);
  await t.rejects(
    trainAlbef({ ...o, resume: true, steps: 9 }),
    /--steps 9 \(saved: 6\) differs .*--allow-change steps/,
  );
  t.same(snapshot(out), before, 'a refused option change writes nothing');
  await t.rejects(trainAlbef({ ...o, resume: true, queueSize: 8, allowChange: 'queue-size' }), /queue|shape|\[/);
  t.same(
    snapshot(out),
    before,
    'a resume that fails to load (queue shape) writes nothing: run.json, log and checkpoints intact',
  );
  const lines: string[] = [],
    log = console.log;
  console.log = (s: string) => {
    lines.push(String(s));
  };
  try {
    await trainAlbef({ ...o, resume: true, steps: 8, allowChange: 'steps' });
  } finally {
    console.log = log;
  }
  t.ok(
    lines.some((l) => /^resuming from step 6 \(checkpoint .*step-000006\)$/.test(l)),
    'ALBEF says where it resumes from',
  );
  const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
  t.equal(run.options.steps, 8);
  t.match(
    run.resumes,
    [{ step: 6, changed: { steps: { saved: 6, now: 8 } } }],
    'the accepted change is recorded in run.json',
  );
  t.throws(
    () => checkResumeOptions({ saved: { lr: 1 }, current: { lr: 2 }, keys: ['lr'], allow: ['stepz'], source: 's' }),
    /--allow-change stepz: not an option/,
  );
});

t.test(
  'an unreadable newest checkpoint: --resume and eval fall back to the newest readable one, saying so (item 4)',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'corrupt-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const out = join(dir, 'c'),
      o = options(out, { steps: 6 });
    await trainAlbef(o);
    truncateSync(join(out, 'checkpoints', 'step-000006', 'model.safetensors'), 50);
    const lines: string[] = [];
    const found = await newestReadable(
      join(out, 'checkpoints'),
      (p) => loadCheckpoint(p),
      (l) => lines.push(l),
    );
    t.match(found?.path, /step-000004$/);
    t.match(lines.join('\n'), /step-000006 is unreadable[\s\S]*falling back to .*step-000004/);
    const err = sink(),
      std = sink(),
      log = console.log;
    console.log = (s: string) => {
      std.write(`${s}\n`);
    };
    try {
      t.equal(
        await runCli(
          ['eval', 'albef', '--run', out, '--eval-size', '8', '--eval-k', '2', '--eval-batch', '8'],
          COMMANDS,
          std as never,
          err as never,
        ),
        0,
        err.text,
      );
    } finally {
      console.log = log;
    }
    const evalJson = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8'));
    t.match(
      evalJson,
      { checkpoint: /step-000004$/, step: 4 },
      'eval.json records the checkpoint and step evaluated (item 7)',
    );
    t.match(
      std.text,
      /falling back to[\s\S]*wrote .*eval\.json \(checkpoint .*step-000004\)/,
      'eval says it fell back and what it wrote',
    );
    await trainAlbef({ ...o, resume: true });
    t.equal(
      (await loadCheckpoint(join(out, 'checkpoints', 'step-000006'))).state.step,
      6,
      'training resumed from step 4 and rewrote step 6',
    );
    t.ok(
      existsSync(join(out, 'checkpoints', 'step-000006.unreadable')),
      'the unreadable checkpoint was moved aside, not deleted',
    );
    t.same(
      readJsonl(join(out, 'log.jsonl')).map((r) => r.step),
      [1, 2, 3, 4, 5, 6],
      'the log reads as one run',
    );
  },
);

t.test('stale temporaries of killed saves are removed on the next save or resume (item 6)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stale-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 's'),
    o = options(out, { steps: 4 });
  await trainAlbef(o);
  const ck = join(out, 'checkpoints');
  mkdirSync(join(ck, '.tmp-step-000002-999999'));
  writeFileSync(join(ck, '.tmp-step-000002-999999', 'model.safetensors'), 'partial');
  writeFileSync(join(ck, '.trainer.safetensors.0a1b2c.tmp'), 'partial');
  writeFileSync(join(out, '.run.json.3c4d5e.tmp'), 'partial');
  mkdirSync(join(ck, `.tmp-step-000009-${process.pid}-live`)); // not a killed save's name: left alone
  await trainAlbef({ ...o, resume: true, steps: 6, allowChange: 'steps' });
  t.same(
    readdirSync(ck).filter((n) => n.startsWith('.')),
    [`.tmp-step-000009-${process.pid}-live`],
    'checkpoint temporaries removed',
  );
  t.notOk(existsSync(join(out, '.run.json.3c4d5e.tmp')), 'run-directory temporaries removed');
  const m = new Linear(2, 2),
    opt = new AdamW(m.parameters(), { lr: 1e-3 });
  mkdirSync(join(ck, '.tmp-step-000007-999998'));
  await saveCheckpoint(ck, m, opt, { step: 7, rngs: {}, extra: {} });
  t.notOk(
    existsSync(join(ck, '.tmp-step-000007-999998')),
    "saveCheckpoint removes a dead process's temporary directory",
  );
  t.same(cleanStaleTemporaries(join(dir, 'missing')), { count: 0, bytes: 0 });
});

t.test('ground and vqa say what they wrote; vqa.json records the checkpoint (item 7)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'outputs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'o');
  await trainAlbef(options(out, { steps: 2, warmupSteps: 1 })); // warm-up must be shorter than the run
  const lines: string[] = [],
    log = console.log,
    err = sink();
  console.log = (s: string) => {
    lines.push(String(s));
  };
  try {
    for (let i = 0; i < 2; i++)
      t.equal(
        await runCli(['ground', 'albef', '--run', out, '--index', '3'], COMMANDS, sink() as never, err as never),
        0,
        err.text,
      );
    t.equal(
      await runCli(
        ['ground', 'albef', '--run', out, '--index', '1', '--method', 'itm', '--stats', '3'],
        COMMANDS,
        sink() as never,
        err as never,
      ),
      0,
      err.text,
    );
    t.equal(
      await runCli(
        [
          'vqa',
          'albef',
          '--run',
          out,
          '--vqa-steps',
          '1',
          '--vqa-train-size',
          '8',
          '--vqa-test-size',
          '8',
          '--vqa-batch',
          '4',
        ],
        COMMANDS,
        sink() as never,
        err as never,
      ),
      0,
      err.text,
    );
  } finally {
    console.log = log;
  }
  const text = lines.join('\n');
  t.match(text, /wrote .*grounding-3\.png: "/, 'ground: wrote');
  t.match(text, /replaced .*grounding-3\.png: "/, 'ground again: replaced');
  t.match(
    text,
    /grounding \(itm Grad-CAM, fusion layer 0, 3 test scenes\): .* words .*most of a scene's words hit in \d+ of 3 scenes/,
  );
  t.match(text, /wrote .*grounding-1\.png: ".*" \(itm Grad-CAM, fusion layer 0; ITM p\(match\)/, 'ground --method itm');
  const stats = JSON.parse(readFileSync(join(out, 'grounding-stats.json'), 'utf8'));
  t.same(Object.keys(stats.byMethod), ['itm'], 'grounding-stats.json holds the method asked for');
  t.match(stats, { scenes: 3, layer: 0, byMethod: { itm: { words: Number, hits: Number, scenes: 3 } } });
  const bad = sink();
  t.equal(await runCli(['ground', 'albef', '--run', out, '--method', 'x'], COMMANDS, sink() as never, bad as never), 1);
  t.match(bad.text, /--method/, 'an unknown --method is refused by name');
  t.match(text, /wrote .*vqa\.json and .*vqa\.log\.jsonl \(backbone from .*step-000002\)/);
  t.match(JSON.parse(readFileSync(join(out, 'vqa.json'), 'utf8')), { checkpoint: /step-000002$/ });
  for (const [path, want] of [
    [join(out, 'nope'), /--checkpoint .*nope: no such directory/],
    [out, /--checkpoint .*: not a checkpoint directory \(no model\.safetensors/],
  ] as const) {
    const e = sink();
    t.equal(
      await runCli(['eval', 'albef', '--run', out, '--checkpoint', path], COMMANDS, sink() as never, e as never),
      1,
    );
    t.match(e.text, want, 'a bad --checkpoint is named, no raw ENOENT');
  }
});
