import t from 'tap';
import fc from 'fast-check';
import {
  answerQuestion,
  factsOf,
  holds,
  makeDataset,
  MAX_CAPTION_TOKENS,
  parseText,
  sameFacts,
  sceneFacts,
} from '../../data/index.js';
import { words } from '../../data/caption_parser.js';
import { DATASETS, swapLeftRight } from './helpers.js';

const seedArb = fc.integer({ min: 0, max: 0xffffffff });
const splitArb = fc.constantFrom('train' as const, 'val' as const, 'test' as const);

for (const [name, skip] of DATASETS) {
  t.test(`${name}: every caption parses back to the scene's metadata (property over seeds)`, { skip }, async (t) => {
    fc.assert(
      fc.property(seedArb, fc.integer({ min: 0, max: 499 }), splitArb, fc.boolean(), (seed, i, split, mirror) => {
        const item = makeDataset({ name, split, size: 500, seed }).get(i, { mirror });
        const parsed = parseText(item.caption);
        return (
          sameFacts(factsOf(parsed), sceneFacts(item.meta)) &&
          holds(parsed, item.meta) &&
          words(item.caption).length <= MAX_CAPTION_TOKENS
        );
      }),
      { numRuns: 400 },
    );
    t.pass('400 random (seed, split, index, mirror) scenes');
  });

  t.test(`${name}: every question's answer matches the metadata (property over seeds)`, { skip }, async (t) => {
    fc.assert(
      fc.property(seedArb, fc.integer({ min: 0, max: 499 }), splitArb, (seed, i, split) => {
        const item = makeDataset({ name, split, size: 500, seed }).get(i);
        return item.questions.length >= 8 && item.questions.every((q) => answerQuestion(q, item.meta) === q.answer);
      }),
      { numRuns: 300 },
    );
    t.pass('300 random scenes');
  });

  t.test(
    `${name}: a horizontal flip swaps left and right in every caption and keeps questions true`,
    { skip },
    async (t) => {
      const ds = makeDataset({ name, split: 'train', size: 300, seed: 11, noise: { fraction: 0.3 } });
      let ok = 0,
        flipsWords = 0;
      for (let i = 0; i < ds.length; i++) {
        const a = ds.get(i),
          b = ds.get(i, { mirror: true });
        if (
          b.caption === swapLeftRight(a.caption) &&
          b.cleanCaption === swapLeftRight(a.cleanCaption) &&
          b.questions.every((q) => answerQuestion(q, b.meta) === q.answer)
        )
          ok++;
        if (/left|right/.test(a.caption)) flipsWords++;
      }
      t.equal(ok, ds.length, 'mirror caption = caption with left/right swapped, noisy ones included');
      t.ok(flipsWords > 50, `many captions mention left/right (${flipsWords})`);
    },
  );

  t.test(`${name}: noisy pairs are exactly the requested fraction, flagged, and false`, { skip }, async (t) => {
    for (const [fraction, kind] of [
      [0, 'mixed'],
      [0.1, 'swap'],
      [0.25, 'corrupt'],
      [0.5, 'mixed'],
      [1, 'mixed'],
    ] as const) {
      const size = 200;
      const ds = makeDataset({ name, split: 'train', size, seed: 5, noise: { fraction, kind } });
      const counts = { swap: 0, corrupt: 0 };
      let wrong = 0;
      for (let i = 0; i < size; i++) {
        const item = ds.get(i);
        if (item.noiseKind) counts[item.noiseKind]++;
        const matches = sameFacts(factsOf(parseText(item.caption)), sceneFacts(item.meta));
        if (matches === item.noisy || item.noisy !== (item.noiseKind !== null)) wrong++;
        if (!item.noisy && item.caption !== item.cleanCaption) wrong++;
      }
      const want = Math.round(fraction * size);
      t.equal(counts.swap + counts.corrupt, want, `fraction ${fraction}: ${want} noisy items`);
      if (kind === 'mixed') t.equal(counts.swap, Math.ceil(want / 2), 'mixed: half swapped (rounded up)');
      else t.equal(counts[kind], want, `all ${kind}`);
      t.equal(wrong, 0, 'noisy captions are false for their image, clean ones true');
    }
  });

  t.test(`${name}: the grammar's paraphrases all occur`, { skip }, async (t) => {
    const ds = makeDataset({ name, split: 'train', size: 1500, seed: 2 });
    const text = Array.from({ length: ds.length }, (_, i) => ds.caption(i)).join('\n');
    for (const re of [
      /^one \w+: /m,
      /^two \w+s: /m,
      /^there is /m,
      /^a picture of /m,
      /^the .* is /m,
      / it$/m,
      /, /,
      / and /,
      /to the left of/,
      /on the right of/,
      / over /,
      / beneath /,
      /little/,
      /big/,
    ]) {
      t.match(text, re, `some caption matches ${re}`);
    }
    const paraphrases =
      ds.cleanCaption(0, false, 1) !== ds.cleanCaption(0) || ds.cleanCaption(1, false, 1) !== ds.cleanCaption(1);
    t.ok(paraphrases, 'caption variants paraphrase the same scene');
    t.ok(
      sameFacts(factsOf(parseText(ds.cleanCaption(0, false, 3))), sceneFacts(ds.meta(0))),
      'a variant is still true',
    );
  });

  t.test(`${name}: NLVR statements are balanced and VQA answers are short`, { skip }, async (t) => {
    const ds = makeDataset({ name, split: 'val', size: 400, seed: 9 });
    let trues = 0,
      statements = 0,
      long = 0;
    const categories = new Set<string>();
    for (let i = 0; i < ds.length; i++) {
      for (const q of ds.questions(i)) {
        categories.add(`${q.format}:${q.category}`);
        if (q.format === 'nlvr') {
          statements++;
          if (q.answer === 'true') trues++;
        } else if (q.answer.split(' ').length !== 1) long++;
      }
    }
    t.ok(Math.abs(trues / statements - 0.5) < 0.06, `true fraction ${(trues / statements).toFixed(3)} near 0.5`);
    t.equal(long, 0, 'every VQA answer is one word');
    t.equal(categories.size, 11, `all 6 VQA and 5 NLVR categories occur: ${[...categories].join(' ')}`);
  });
}
