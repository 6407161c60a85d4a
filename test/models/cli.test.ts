// The vlgrad command line (models/common/cli.ts, flags.ts, bin/commands.ts): every flag of every
// command is validated by its typed spec before anything runs, each command is registered once, and
// SIGINT/SIGTERM stop training after a checkpoint with a message saying how to resume (the SIGINT
// case in a child process running the real CLI).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { COMMANDS } from '../../bin/commands.js';
import { TRAIN_DEFAULTS } from '../../models/albef/train.js';
import { checkCommands, flag, parseArgs, resumeCommandLine, runCli, type Command } from '../../models/common/cli.js';
import { checkTrainSizeFits, trainLoop, TrainingInterrupted } from '../../models/common/trainer.js';

const sink = () => ({
  text: '',
  write(s: string) {
    this.text += s;
    return true;
  },
});
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = sink(),
    err = sink();
  const code = await runCli(argv, COMMANDS, out as never, err as never);
  return { code, out: out.text, err: err.text };
}

t.test('every command is registered once (vqa albef was registered twice)', async (t) => {
  const ids = COMMANDS.map((c) => `${c.verb} ${c.model}`);
  t.same(
    ids.filter((id, i) => ids.indexOf(id) !== i),
    [],
    ids.join(', '),
  );
  const help = await cli('--help');
  t.equal(help.out.split('\n').filter((l) => /^\s+vqa albef\s/.test(l)).length, 1, 'help lists vqa albef once');
  const dup: Command = { verb: 'vqa', model: 'albef', summary: '', flags: {}, async run() {} };
  t.throws(() => checkCommands([...COMMANDS, dup]), /'vqa albef' is registered twice/);
});

t.test(
  'numeric flags: integers, ranges; every train/eval/vqa/ground command refuses bad values up front',
  async (t) => {
    const cases: [string[], RegExp][] = [
      [['train', 'albef', '--steps', '1.5'], /--steps 1\.5: expected an integer >= 1/],
      [['train', 'albef', '--steps', '0'], /--steps 0: expected an integer >= 1/],
      [['train', 'albef', '--steps', '-5'], /--steps -5: expected an integer >= 1/],
      [['train', 'albef', '--batch-size', '0'], /--batch-size 0: expected an integer >= 1/],
      [['train', 'albef', '--lr', '0'], /--lr 0: expected a number > 0/],
      [['train', 'albef', '--noise', '1.5'], /--noise 1\.5: expected a number in \[0, 1\]/],
      [['train', 'vlmo', '--steps3', '2.5'], /--steps3 2\.5: expected an integer >= 1/],
      [['train', 'vlmo', '--warmup', '2'], /--warmup 2: expected a number in \[0, 1\]/],
      [['eval', 'albef', '--eval-size', '0'], /--eval-size 0: expected an integer >= 1/],
      [['eval', 'vlmo', '--eval-k', '-1'], /--eval-k -1: expected an integer >= 1/],
      [['vqa', 'vlmo', '--vqa-steps', '0'], /--vqa-steps 0: expected an integer >= 1/],
      [['ground', 'albef', '--index', '5000'], /--index 5000: expected an integer in \[0, 999\]/],
      [['count', 'vlmo', '--vocab-size', '-3'], /--vocab-size -3: expected an integer >= 0/],
    ];
    for (const [argv, want] of cases) {
      const r = await cli(...argv);
      t.equal(r.code, 1, argv.join(' '));
      t.match(r.err, want);
      t.notMatch(r.err, /Error|at |ensureStep|\.ts:/, 'no internal names or stack');
    }
  },
);

t.test(
  'enumerations: --device lists every device and how it starts; --config refuses untrainable configs with the reason',
  async (t) => {
    const dev = await cli('train', 'albef', '--device', 'tpu');
    for (const d of ['cpu', 'cpu-ref', 'webgpu', 'webasm', 'gpujs-cpu'])
      t.match(dev.err, new RegExp(`\\n  ${d}: `), `lists ${d}`);
    t.match(dev.err, /webgpu: .*webgpu/, 'says what webgpu needs');
    const micro = await cli('train', 'albef', '--config', 'albef-micro');
    t.match(micro.err, /--config albef-micro: its 8-pixel images cannot be trained here .*expected one of albef-tiny/);
    const vm = await cli('train', 'vlmo', '--config', 'vlmo-micro');
    t.match(vm.err, /--config vlmo-micro: its 8-pixel images/);
    const help = await cli('train', 'albef', '--help');
    t.match(
      help.out,
      /--config\s+model config \(albef-tiny; default albef-tiny\)/,
      'help lists only trainable configs',
    );
    t.match(
      help.out,
      new RegExp(`--steps\\s+optimizer steps \\(an integer >= 1; default ${TRAIN_DEFAULTS.steps}\\)`),
      'help shows the default (TRAIN_DEFAULTS, which the recipe changes)',
    );
  },
);

t.test('--train-size that cannot fit in memory is refused before anything is built', async (t) => {
  t.throws(() => checkTrainSizeFits(1e12, 0, 4 * 2 ** 30), /--train-size 1000000000000: .*use at most \d+ scenes/);
  t.throws(() => checkTrainSizeFits(3e8, 0, 4 * 2 ** 30), /--train-size 300000000: .*2\.8 GiB/);
  t.doesNotThrow(() => checkTrainSizeFits(8192, 0.2, 4 * 2 ** 30));
  const r = await cli('train', 'albef', '--train-size', '1e12', '--out', join(tmpdir(), 'never-created'));
  t.match(r.err, /--train-size 1000000000000: the data loader keeps/);
  t.notOk(existsSync(join(tmpdir(), 'never-created')));
});

t.test('a missing --run or --checkpoint says what is missing (no raw ENOENT)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const r1 = await cli('eval', 'albef', '--run', join(dir, 'nope'));
  t.match(r1.err, /--run .*nope: .*does not exist; train first \(vlgrad train albef --out/);
  const r2 = await cli('vqa', 'vlmo', '--run', dir);
  t.match(r2.err, /holds no run\.json; train first \(vlgrad train vlmo/);
  t.notMatch(r1.err + r2.err, /ENOENT/);
});

t.test('flag schema: typed values, which flags were given, the resume line', async (t) => {
  const s = {
    steps: flag.int(10, 'steps', { min: 1 }),
    lr: flag.num(1e-3, 'lr', { above: 0 }),
    device: flag.choice('cpu', 'device', ['cpu', 'cpu-ref']),
    resume: flag.bool(false, ''),
    out: 'runs/x',
  };
  const { values, given } = parseArgs(['--steps=3', '--device', 'cpu-ref', '--no-resume'], s);
  t.same(values, { steps: 3, lr: 1e-3, device: 'cpu-ref', resume: false, out: 'runs/x' });
  t.same([...given].sort(), ['device', 'resume', 'steps']);
  t.throws(() => parseArgs(['--steps', '1e400'], s), /--steps 1e400: expected an integer >= 1/);
  t.throws(() => parseArgs(['--resume', 'maybe'], s), /unexpected argument 'maybe'/);
  t.equal(
    resumeCommandLine(['train', 'albef', '--overwrite', '--steps', '20', '--out', 'my runs/x']),
    "vlgrad train albef --steps 20 --out 'my runs/x' --resume",
  );
});

t.test('SIGTERM in trainLoop: a checkpoint at the next step boundary, then TrainingInterrupted', async (t) => {
  const saved: number[] = [],
    listeners = process.listenerCount('SIGTERM');
  const p = trainLoop({
    startStep: 0,
    totalSteps: 1000,
    checkpointEvery: 100,
    step: async (s) => {
      if (s === 3) setImmediate(() => process.emit('SIGTERM', 'SIGTERM'));
      return { losses: { l: 1 }, samples: 1 };
    },
    checkpoint: async (s) => {
      saved.push(s);
      return `ck-${s}`;
    },
  });
  const e = await p.catch((x: unknown) => x);
  t.ok(e instanceof TrainingInterrupted, String(e));
  t.match(e, { signal: 'SIGTERM', step: 3, checkpoint: 'ck-3', exitCode: 143 });
  t.same(saved, [3]);
  t.equal(process.listenerCount('SIGTERM'), listeners, 'the handlers are removed afterwards');
});

t.test(
  'SIGINT to the real CLI: checkpoint at the step reached, exit 130, and the command that resumes',
  { timeout: 240_000 },
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'sigint-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const out = join(dir, 'run');
    const child = spawn(
      process.execPath,
      [
        'bin/vlgrad.mjs',
        'train',
        'albef',
        '--steps',
        '5000',
        '--checkpoint-every',
        '1000',
        '--train-size',
        '64',
        '--batch-size',
        '4',
        '--queue-size',
        '16',
        '--eval',
        'false',
        '--init-vision',
        'none', // the 1,000-step warm start is not what this test is about (and took most of its time)
        '--no-progress',
        '--out',
        out,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const log = join(out, 'log.jsonl');
    const deadline = Date.now() + 180_000;
    while (!(existsSync(log) && readFileSync(log, 'utf8').split('\n').length > 3) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGINT');
    const code = await exited;
    t.equal(code, 130, stderr);
    const steps = readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).step as number),
      last = steps[steps.length - 1];
    const ck = join(out, 'checkpoints', `step-${String(last).padStart(6, '0')}`);
    t.ok(existsSync(join(ck, 'trainer.safetensors')), `checkpoint of the last logged step ${last}`);
    t.match(stderr, new RegExp(`interrupted by SIGINT after step ${last}; saved checkpoint .*step-0*${last}`));
    t.match(stderr, /continue with: vlgrad train albef --steps 5000 .*--resume/);
  },
);
