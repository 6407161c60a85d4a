import t from 'tap';
import fc from 'fast-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  basicTokenize,
  buildVocab,
  DataError,
  grammarVocab,
  makeDataset,
  Tokenizer,
  wordpiece,
} from '../../data/index.js';
import { DATASETS } from './helpers.js';

// HuggingFace's BERT tokenizer test vocabulary (tests/models/bert/test_tokenization_bert.py)
const HF_VOCAB = [
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[PAD]',
  '[MASK]',
  'want',
  '##want',
  '##ed',
  'wa',
  'un',
  'runn',
  '##ing',
  ',',
  'low',
  'lowest',
];

t.test('basic tokenization matches BERT (HF test cases)', async (t) => {
  t.same(
    basicTokenize(' \tHeLLo!how  \n Are yoU?  '),
    ['hello', '!', 'how', 'are', 'you', '?'],
    'lower-case, punctuation',
  );
  t.same(basicTokenize('H\u00E9llo'), ['hello'], 'accents stripped');
  t.same(
    basicTokenize(' \tHäLLo!how  \n Are yoU?  ', { lowercase: true, stripAccents: false }),
    ['hällo', '!', 'how', 'are', 'you', '?'],
    'accents kept',
  );
  t.same(
    basicTokenize(' \tHeLLo!how  \n Are yoU?  ', { lowercase: false }),
    ['HeLLo', '!', 'how', 'Are', 'yoU', '?'],
    'cased',
  );
  t.same(basicTokenize('ah\u535A\u63A8zz'), ['ah', '\u535A', '\u63A8', 'zz'], 'CJK characters are words');
  t.same(basicTokenize('a$b+c^d'), ['a', '$', 'b', '+', 'c', '^', 'd'], 'ASCII symbols split like punctuation');
  t.same(basicTokenize('x\u0000y\u200bz\ufffd w\u00a0v'), ['xyz', 'w', 'v'], 'control chars dropped, NBSP is a space');
});

t.test('WordPiece: greedy longest-match-first with ## pieces and [UNK] (HF test cases)', async (t) => {
  const vocab = new Set(['[UNK]', '[CLS]', '[SEP]', 'want', '##want', '##ed', 'wa', 'un', 'runn', '##ing']);
  const wp = (text: string) =>
    text
      .split(' ')
      .filter(Boolean)
      .flatMap((w) => wordpiece(w, (p) => vocab.has(p), '[UNK]'));
  t.same(wp(''), []);
  t.same(wp('unwanted running'), ['un', '##want', '##ed', 'runn', '##ing']);
  t.same(wp('unwantedX running'), ['[UNK]', 'runn', '##ing'], 'one unknown piece makes the whole word [UNK]');
  t.same(
    wordpiece('a'.repeat(101), () => true, '[UNK]'),
    ['[UNK]'],
    'words over 100 chars are [UNK]',
  );
  const tok = Tokenizer.fromVocab(HF_VOCAB);
  t.same(tok.tokenize('UNwant\u00E9d,running'), ['un', '##want', '##ed', ',', 'runn', '##ing']);
  t.same(
    Array.from(tok.encode('UNwant\u00E9d,running', { addSpecialTokens: false }).ids),
    [9, 6, 7, 12, 10, 11],
    'HF ids',
  );
  t.same(tok.tokenize('lowest low lower'), ['lowest', 'low', '[UNK]'], 'longest match, and no ## piece for "er"');
  t.same(tok.tokenize('want [MASK] wa'), ['want', '[MASK]', 'wa'], 'special tokens in text stay whole');
  t.same(
    [tok.padId, tok.unkId, tok.clsId, tok.sepId, tok.maskId],
    [3, 0, 1, 2, 4],
    'special ids come from the vocab file',
  );
});

t.test('encode: [CLS]/[SEP] framing, truncation, padding, attention masks; decode', async (t) => {
  const tok = Tokenizer.fromVocab(HF_VOCAB);
  const e = tok.encode('unwanted, running', { maxLength: 10, padding: 'max_length' });
  t.same(Array.from(e.ids), [1, 9, 6, 7, 12, 10, 11, 2, 3, 3]);
  t.same(Array.from(e.attentionMask), [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
  const cut = tok.encode('unwanted, running', { maxLength: 5, truncation: true, padding: 'max_length' });
  t.same(Array.from(cut.ids), [1, 9, 6, 7, 2], 'truncation keeps [SEP] last');
  t.same(Array.from(tok.encode('low').ids), [1, 13, 2], 'no padding by default');
  const b = tok.encodeBatch(['low', 'unwanted low'], { padding: 'longest' });
  t.same([b.batchSize, b.length], [2, 6]);
  t.same(Array.from(b.ids), [1, 13, 2, 3, 3, 3, 1, 9, 6, 7, 13, 2]);
  t.same(Array.from(b.attentionMask), [1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
  t.throws(() => tok.encodeBatch(['low', 'unwanted low']), DataError, 'ragged batch without padding');
  t.throws(() => tok.encodeBatch(['unwanted low low'], { maxLength: 4, padding: 'max_length' }), /truncation/);
  t.equal(tok.decode(e.ids), '[CLS] unwanted, running [SEP] [PAD] [PAD]', '## joined, space before comma removed');
  t.equal(tok.decode(e.ids, { skipSpecial: true }), 'unwanted, running');
  t.equal(tok.decode(tok.encode('lower').ids, { skipSpecial: true }), '', 'skipSpecial drops [UNK] too, as HF does');
});

t.test('encode/decode round trip (property, character-covering vocabulary)', async (t) => {
  const corpus = ['the quick brown fox jumps over the lazy dog, twice! really? yes.'];
  const tok = Tokenizer.build(corpus, { characters: true });
  const wordArb = fc.stringMatching(/^[a-z]{1,8}$/);
  const textArb = fc
    .array(fc.oneof(wordArb, fc.constantFrom(',', '.', '?', '!')), { maxLength: 12 })
    .map((ws) => ws.join(' '));
  fc.assert(
    fc.property(textArb, (text) => {
      const ids = tok.encode(text).ids;
      const back = tok.decode(ids, { skipSpecial: true });
      const again = tok.encode(back).ids;
      return (
        back === tok.decode(again, { skipSpecial: true }) &&
        Buffer.from(ids.buffer).equals(Buffer.from(again.buffer)) &&
        !ids.includes(tok.unkId)
      );
    }),
    { numRuns: 500 },
  );
  t.equal(tok.decode(tok.encode('the fox, twice!').ids, { skipSpecial: true }), 'the fox, twice!');
});

t.test('vocab.txt loading: ids are line numbers; CRLF and trailing newline tolerated', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vlgrad-vocab-'));
  const file = join(dir, 'vocab.txt');
  writeFileSync(file, `${HF_VOCAB.join('\r\n')}\r\n`);
  const tok = Tokenizer.fromFile(file);
  t.equal(tok.vocabSize, HF_VOCAB.length);
  t.same(tok.tokenize('unwanted'), ['un', '##want', '##ed']);
  t.equal(Tokenizer.fromVocab(tok.toVocabText()).vocabSize, HF_VOCAB.length, 'toVocabText round trip');
  t.throws(() => Tokenizer.fromVocab(['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'a']), /lacks the special token \[MASK\]/);
  t.throws(() => Tokenizer.fromVocab([]), DataError);
});

t.test('buildVocab: specials first, then words by frequency, deterministic', async (t) => {
  const v = buildVocab(['b a b c', 'c b! A'], { minFrequency: 1 });
  t.same(v, ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'b', 'a', 'c', '!']);
  t.same(buildVocab(['b a b c', 'c b! A'], { minFrequency: 2 }).slice(5), ['b', 'a', 'c']);
  t.same(buildVocab(['b a b c'], { maxSize: 6 }).slice(5), ['b']);
  t.same(buildVocab(['ab'], { characters: true }).slice(5), ['a', '##a', 'b', '##b', 'ab']);
  t.throws(() => buildVocab(['ab'], { characters: true, maxSize: 6 }), /maxSize/);
  const tok = Tokenizer.build(['b a b c']);
  t.same([tok.padId, tok.unkId, tok.clsId, tok.sepId, tok.maskId], [0, 1, 2, 3, 4], 'built vocab has [PAD]=0');
});

for (const [name, skip] of DATASETS) {
  t.test(
    `${name}: the grammar vocabulary covers every caption, question and answer in 16 tokens`,
    { skip },
    async (t) => {
      const tok = Tokenizer.fromVocab(grammarVocab());
      t.ok(tok.vocabSize < 1000, `grammar vocabulary has ${tok.vocabSize} tokens (< 1000)`);
      let unk = 0,
        longest = 0,
        texts = 0;
      for (const split of ['train', 'test'] as const) {
        const ds = makeDataset({ name, split, size: 800, seed: 6, noise: { fraction: 0.3 } });
        for (let i = 0; i < ds.length; i++) {
          const item = ds.get(i, { mirror: i % 3 === 0 });
          for (const text of [item.caption, ...item.questions.flatMap((q) => [q.text, q.answer])]) {
            const ids = tok.encode(text).ids;
            texts++;
            if (ids.includes(tok.unkId)) unk++;
            longest = Math.max(longest, ids.length);
          }
        }
      }
      t.equal(unk, 0, `no [UNK] in ${texts} texts`);
      t.ok(longest <= 16, `longest encoding ${longest} <= 16 with [CLS] and [SEP]`);
      const c = makeDataset({ name, split: 'train', size: 1, seed: 0 }).caption(0);
      t.equal(tok.decode(tok.encode(c).ids, { skipSpecial: true }).replace(' :', ':'), c, 'caption round trip');
    },
  );
}

t.test('maskIds: ALBEF excludes [PAD] and [CLS], VLMo all specials', async (t) => {
  const tok = Tokenizer.fromVocab(grammarVocab());
  t.same(tok.maskIds(), { maskId: 4, exclude: [0, 2] });
  t.same(tok.maskIds('vlmo'), { maskId: 4, exclude: [0, 1, 2, 3, 4] });
});

// Issue 13/14: option values that silently meant something else, and empty or non-string input.
t.test('encode/encodeBatch reject bad options and input with a message naming the call', async (t) => {
  const tok = Tokenizer.fromVocab(HF_VOCAB);
  const bad: [string, () => unknown, RegExp][] = [
    [
      'maxLength NaN',
      () => tok.encode('want', { maxLength: NaN, truncation: true }),
      /^encode: maxLength must be an integer >= 0, got NaN$/,
    ],
    [
      'maxLength NaN, padding',
      () => tok.encode('want', { maxLength: NaN, padding: 'max_length' }),
      /encode: maxLength must be an integer >= 0, got NaN/,
    ],
    [
      'maxLength 2.5',
      () => tok.encode('want', { maxLength: 2.5 }),
      /encode: maxLength must be an integer >= 0, got 2.5/,
    ],
    [
      'padding typo',
      () => tok.encode('want', { padding: 'max-length' as 'max_length' }),
      /^encode: padding must be 'max_length', 'longest' or false, got "max-length"$/,
    ],
    [
      'truncation string',
      () => tok.encode('want', { truncation: 'yes' as unknown as boolean }),
      /encode: truncation must be a boolean, got "yes"/,
    ],
    ['non-string text', () => tok.encode(42 as unknown as string), /^encode: expected a string, got number$/],
    ['tokenize null', () => tok.tokenize(null as unknown as string), /^tokenize: expected a string, got null$/],
    [
      'encodeBatch([])',
      () => tok.encodeBatch([], { maxLength: 8, padding: 'max_length' }),
      /^encodeBatch: expected at least one text, got an empty list/,
    ],
    [
      'encodeBatch non-string',
      () => tok.encodeBatch(['want', 7 as unknown as string]),
      /^encodeBatch: text 1 is number, expected a string$/,
    ],
    [
      'encodeBatch maxLength NaN',
      () => tok.encodeBatch(['want'], { maxLength: NaN, padding: 'max_length' }),
      /^encodeBatch: maxLength must be an integer >= 0, got NaN$/,
    ],
  ];
  for (const [name, fn, re] of bad) {
    t.throws(fn, DataError, name);
    t.throws(fn, re, name);
  }
});
