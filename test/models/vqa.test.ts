// The shared VQA head (models/common/vqa.ts): data, answer vocabulary, head layout and loss, and a
// fine-tuning smoke run through both adapters (VLMo's pooled fusion [CLS], ALBEF's fusion [CLS]).
import t from 'tap';
import { binaryCrossEntropyWithLogits, randn, Rng, tensor } from '../../engine/index.js';
import { channelStats, grammarVocab, makeDataset, Tokenizer } from '../../data/index.js';
import { Albef } from '../../models/albef/albef.js';
import { albefTiny } from '../../models/albef/config.js';
import { readJsonl } from '../../models/common/jsonl.js';
import {
  answerVocab,
  evaluateVqa,
  finetuneVqa,
  VqaHead,
  vqaExamples,
  vqaLoss,
  type FusedClsModel,
  type VqaOptions,
} from '../../models/common/vqa.js';
import { albefVqaModel } from '../../models/albef/cli.js';
import { vlmoVqaModel } from '../../models/vlmo/cli.js';
import { vlmoTiny } from '../../models/vlmo/config.js';
import { Vlmo } from '../../models/vlmo/vlmo.js';
import type { TestT } from '../nn/nn_helpers.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tokenizer = Tokenizer.fromVocab(grammarVocab());

t.test('examples are the VQA-format questions; answers are ranked by frequency', async (t) => {
  const ds = makeDataset({ name: 'shapes', split: 'train', size: 20, seed: 3 });
  const ex = vqaExamples(ds);
  t.ok(ex.length >= 5 * 20, `${ex.length} questions for 20 scenes`);
  t.ok(
    ex.every((e) =>
      ds.questions(e.scene).some((q) => q.format === 'vqa' && q.text === e.question && q.answer === e.answer),
    ),
  );
  const answers = answerVocab(ex),
    count = (a: string): number => ex.filter((e) => e.answer === a).length;
  for (let i = 1; i < answers.length; i++)
    t.ok(count(answers[i - 1]) >= count(answers[i]), `${answers[i - 1]} before ${answers[i]}`);
  t.same(new Set(answers), new Set(ex.map((e) => e.answer)));
  t.ok(
    ex.every((e) => tokenizer.tokenize(e.question).every((w) => w !== '[UNK]')),
    'every question word is in the grammar vocabulary',
  );
});

t.test('head: the reference layout (vqa_classifier.0/1/3) and BCE × answers', async (t) => {
  const head = new VqaHead(8, 5, new Rng(0));
  t.same(Object.keys(head.stateDict()), [
    'vqa_classifier.0.weight',
    'vqa_classifier.0.bias',
    'vqa_classifier.1.weight',
    'vqa_classifier.1.bias',
    'vqa_classifier.3.weight',
    'vqa_classifier.3.bias',
  ]);
  const logits = head.forward(randn([3, 8], { rng: new Rng(1) }));
  t.same(logits.shape, [3, 5]);
  const target = tensor([
    [0, 1, 0, 0, 0],
    [1, 0, 0, 0, 0],
    [0, 0, 0, 0, 1],
  ]);
  t.ok(Math.abs(vqaLoss(logits, target).item() - binaryCrossEntropyWithLogits(logits, target).item() * 5) < 1e-5);
});

async function smoke(t: TestT, name: string, model: FusedClsModel, steps: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), `vqa-${name}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const train = makeDataset({ name: 'shapes', split: 'train', size: 64, seed: 5 });
  const o: VqaOptions = {
    dataset: 'shapes',
    normalize: channelStats(train, 64),
    trainSize: 64,
    testSize: 16,
    trainSeed: 5,
    testSeed: 1,
    steps,
    batchSize: 16,
    lr: 3e-4,
    headLrMult: 10,
    weightDecay: 0.01,
    seed: 0,
    log: join(dir, 'log.jsonl'),
  };
  const { report, answers } = await finetuneVqa(model, tokenizer, o);
  const log = readJsonl(join(dir, 'log.jsonl')).map((r) => r.vqa as number);
  t.equal(log.length, steps);
  if (steps >= 12)
    t.ok(
      log.slice(-3).reduce((a, b) => a + b) < log.slice(0, 3).reduce((a, b) => a + b),
      `${name}: loss ${log[0].toFixed(2)} -> ${log[steps - 1].toFixed(2)}`,
    );
  t.equal(report.answers, answers.length);
  t.equal(
    Object.values(report.byCategory).reduce((n, c) => n + c.questions, 0),
    report.questions,
    `${name}: every question has a type`,
  );
  t.ok(report.overall >= 0 && report.overall <= 100 && Number.isFinite(report.majorityBaseline));
}

t.test('fine-tuning through the VLMo adapter lowers the loss', async (t) => {
  const model = new Vlmo({ ...vlmoTiny(tokenizer.vocabSize), dim: 32, depth: 2, heads: 2, mlpDim: 64, vlffnStart: 1 });
  await smoke(t, 'vlmo', vlmoVqaModel(model), 12);
});

t.test('the same head runs on ALBEF (fusion [CLS])', async (t) => {
  const model = new Albef(albefTiny(tokenizer.vocabSize));
  await smoke(t, 'albef', albefVqaModel(model), 2);
});

t.test("evalSplit 'val' scores the validation scenes' questions, which hold no held-out compositions", async (t) => {
  const model = new Vlmo({ ...vlmoTiny(tokenizer.vocabSize), dim: 16, depth: 2, heads: 2, mlpDim: 32, vlffnStart: 1 });
  const fused = vlmoVqaModel(model),
    train = makeDataset({ name: 'shapes', split: 'train', size: 64, seed: 5 });
  const answers = answerVocab(vqaExamples(train)),
    head = new VqaHead(fused.dim, answers.length, new Rng(0));
  const o = (evalSplit: 'val' | 'test'): VqaOptions => ({
    dataset: 'shapes',
    normalize: channelStats(train, 64),
    trainSize: 64,
    testSize: 40,
    trainSeed: 5,
    testSeed: 1,
    evalSplit,
    steps: 1,
    batchSize: 16,
    lr: 1e-4,
    headLrMult: 10,
    weightDecay: 0.01,
    seed: 0,
  });
  for (const split of ['val', 'test'] as const) {
    const expected = vqaExamples(makeDataset({ name: 'shapes', split, size: 40, seed: 1 })).length;
    const r = evaluateVqa(fused, head, answers, tokenizer, o(split));
    t.equal(r.questions, expected, `${split}: every question of the ${split} split's 40 scenes is scored`);
    t.equal(Number.isNaN(r.heldOut), split === 'val', `${split}: held-out accuracy ${r.heldOut}`);
  }
});
