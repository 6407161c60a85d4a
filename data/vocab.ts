/**
 * Vocabulary builders. `buildVocab` makes a word-level vocabulary from a corpus (optionally with every
 * character as a piece and a '##' piece, so no word of known characters is ever [UNK]); `grammarVocab`
 * is the closed vocabulary of the caption and question grammar, small enough for the tiny models.
 */
import {
  COLOURS,
  DIGIT_KINDS,
  NUMBER_WORDS,
  OBJECT_NOUN,
  RELATION_PHRASES,
  RELATIONS,
  SHAPE_KINDS,
  SIZE_WORDS,
} from './attributes.js';
import { check } from './errors.js';
import { basicTokenize } from './wordpiece.js';

/** Options of `buildVocab`. */
export interface BuildVocabOptions {
  /** Keep words seen at least this often (default 1). */
  minFrequency?: number;
  /** Cap on the vocabulary size, specials and characters included (the most frequent words are kept). */
  maxSize?: number;
  /** Add each character seen, alone and as a '##' continuation piece (default false). */
  characters?: boolean;
  /** Lower-case while counting (default true; must match the tokenizer's setting). */
  lowercase?: boolean;
}

/** The special tokens, in the order `buildVocab` gives them ids 0..4. */
export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

/**
 * A vocabulary (one token per entry, id = position): [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then
 * characters if asked, then words by falling frequency, ties in code-point order, so it is deterministic.
 */
export function buildVocab(corpus: Iterable<string>, opts: BuildVocabOptions = {}): string[] {
  const minFreq = opts.minFrequency ?? 1;
  check(Number.isInteger(minFreq) && minFreq >= 1, `minFrequency must be a positive integer, got ${minFreq}`);
  const counts = new Map<string, number>(),
    chars = new Set<string>();
  for (const text of corpus) {
    for (const w of basicTokenize(text, { lowercase: opts.lowercase ?? true })) {
      counts.set(w, (counts.get(w) ?? 0) + 1);
      if (opts.characters) for (const ch of w) chars.add(ch);
    }
  }
  const byCode = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  const charPieces = [...chars].sort(byCode).flatMap((c) => [c, `##${c}`]);
  const vocab: string[] = [...SPECIAL_TOKENS, ...charPieces];
  const seen = new Set(vocab);
  const words = [...counts]
    .filter(([w, n]) => n >= minFreq && !seen.has(w))
    .sort(([a, na], [b, nb]) => nb - na || byCode(a, b))
    .map(([w]) => w);
  if (opts.maxSize !== undefined) {
    check(
      Number.isInteger(opts.maxSize) && opts.maxSize >= vocab.length,
      `maxSize ${opts.maxSize} is smaller than the ${vocab.length} special and character tokens`,
    );
    return [...vocab, ...words.slice(0, opts.maxSize - vocab.length)];
  }
  return [...vocab, ...words];
}

/** Every word the caption, question and answer grammar can produce, for both datasets. */
export function grammarWords(): string[] {
  const nouns = Object.values(OBJECT_NOUN).flatMap((n) => [n, `${n}s`]);
  const phrases = RELATIONS.flatMap((r) => RELATION_PHRASES[r])
    .join(' ')
    .split(' ');
  const template = ['a', 'an', 'the', 'there', 'is', 'are', 'picture', 'of', 'and', 'it', ',', ':', '?'];
  const question = ['how', 'many', 'what', 'colour', 'color', 'size', 'which', 'or', 'yes', 'no', 'true', 'false'];
  return [
    ...COLOURS,
    ...Object.values(SIZE_WORDS).flat(),
    ...DIGIT_KINDS,
    ...SHAPE_KINDS,
    ...NUMBER_WORDS,
    ...nouns,
    ...phrases,
    ...template,
    ...question,
  ];
}

/** The grammar's word-level vocabulary (about 80 tokens): specials first, then the words in code-point order. */
export function grammarVocab(): string[] {
  return buildVocab([[...new Set(grammarWords())].join(' ')]);
}
