/**
 * A BERT-compatible WordPiece tokenizer: the same tokens and ids as HuggingFace's `BertTokenizer` for a
 * given `vocab.txt`, with [CLS] text [SEP] framing, truncation, padding and attention masks.
 */
import { nodeBuiltin } from '../kernels/platform.js';
import { check, DataError } from './errors.js';
import { buildVocab, SPECIAL_TOKENS, type BuildVocabOptions } from './vocab.js';
import { basicTokenize, wordpiece, type BasicOptions } from './wordpiece.js';

/** Options of `encode` / `encodeBatch`. Defaults follow HuggingFace: no padding, no truncation. */
export interface EncodeOptions {
  /** Length limit for truncation and for 'max_length' padding (counting [CLS] and [SEP]). */
  maxLength?: number;
  /** 'max_length': pad to `maxLength`; 'longest': pad a batch to its longest; false: no padding. */
  padding?: 'max_length' | 'longest' | false;
  /** Cut to `maxLength`, keeping [SEP] last. */
  truncation?: boolean;
  /** Frame with [CLS] ... [SEP] (default true). */
  addSpecialTokens?: boolean;
}

/** One encoded text. Shapes: ids, attentionMask [L]. */
export interface Encoding {
  ids: Int32Array;
  attentionMask: Int32Array;
  tokens: string[];
}

/** A batch of encoded texts, row-major. Shapes: ids, attentionMask [B, L]. */
export interface BatchEncoding {
  ids: Int32Array;
  attentionMask: Int32Array;
  batchSize: number;
  length: number;
}

/** Which ids MLM masking may not touch, and the [MASK] id (see `maskTokens`). */
export interface MaskIds {
  maskId: number;
  exclude: number[];
}

/** Rejects option values that would silently mean something else (maxLength NaN gave no limit). */
function checkEncodeOptions(op: string, opts: EncodeOptions): void {
  const { maxLength, padding, truncation, addSpecialTokens } = opts;
  check(
    maxLength === undefined || (Number.isInteger(maxLength) && maxLength >= 0),
    `${op}: maxLength must be an integer >= 0, got ${maxLength}`,
  );
  check(
    padding === undefined || padding === false || padding === 'max_length' || padding === 'longest',
    `${op}: padding must be 'max_length', 'longest' or false, got ${JSON.stringify(padding)}`,
  );
  check(
    truncation === undefined || typeof truncation === 'boolean',
    `${op}: truncation must be a boolean, got ${JSON.stringify(truncation)}`,
  );
  check(
    addSpecialTokens === undefined || typeof addSpecialTokens === 'boolean',
    `${op}: addSpecialTokens must be a boolean, got ${JSON.stringify(addSpecialTokens)}`,
  );
}

/** WordPiece tokenizer over a fixed vocabulary. */
export class Tokenizer {
  readonly padId: number;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly maskId: number;
  private readonly index = new Map<string, number>();
  private readonly specials: RegExp;

  /** Use `fromVocab`, `fromFile` or `build`. */
  private constructor(
    readonly vocab: readonly string[],
    private readonly basic: BasicOptions,
  ) {
    vocab.forEach((tok, id) => this.index.set(tok, id)); // a repeated token keeps its last id, as in HF
    const id = (tok: string): number => {
      const v = this.index.get(tok);
      if (v === undefined)
        throw new DataError(`vocabulary lacks the special token ${tok} (needs ${SPECIAL_TOKENS.join(' ')})`);
      return v;
    };
    [this.padId, this.unkId, this.clsId, this.sepId, this.maskId] = SPECIAL_TOKENS.map(id);
    this.specials = new RegExp(`(${SPECIAL_TOKENS.map((t) => t.replace(/[[\]]/g, '\\$&')).join('|')})`);
  }

  /** A tokenizer over vocabulary lines (one token per line, id = line number), e.g. BERT's vocab.txt. */
  static fromVocab(lines: string | readonly string[], opts: BasicOptions = {}): Tokenizer {
    let toks = typeof lines === 'string' ? lines.split('\n') : [...lines];
    if (typeof lines === 'string' && toks[toks.length - 1] === '') toks.pop(); // trailing newline
    toks = toks.map((t) => t.replace(/\r$/, ''));
    check(toks.length > 0, 'empty vocabulary');
    return new Tokenizer(toks, opts);
  }

  /** Load a `vocab.txt` file (Node only; in a browser, fetch the text and use `fromVocab`). */
  static fromFile(path: string, opts: BasicOptions = {}): Tokenizer {
    const fs = nodeBuiltin<{ readFileSync(p: string, enc: 'utf8'): string }>('node:fs');
    if (!fs)
      throw new DataError(
        `Tokenizer.fromFile('${path}'): no file system here (Node >= 20.16 has one); pass the file's text to Tokenizer.fromVocab`,
      );
    return Tokenizer.fromVocab(fs.readFileSync(path, 'utf8'), opts);
  }

  /** Build a vocabulary from a corpus (see `buildVocab`) and tokenize with it. */
  static build(corpus: Iterable<string>, opts: BuildVocabOptions = {}): Tokenizer {
    return Tokenizer.fromVocab(buildVocab(corpus, opts), { lowercase: opts.lowercase ?? true });
  }

  /** Number of ids. */
  get vocabSize(): number {
    return this.vocab.length;
  }

  /** Ids of [PAD], [UNK], [CLS], [SEP], [MASK]. */
  get specialIds(): number[] {
    return [this.padId, this.unkId, this.clsId, this.sepId, this.maskId];
  }

  /** Id of a token, or the [UNK] id. */
  tokenToId(token: string): number {
    return this.index.get(token) ?? this.unkId;
  }

  /** Token of an id. Throws RangeError outside the vocabulary. */
  idToToken(id: number): string {
    if (!(Number.isInteger(id) && id >= 0 && id < this.vocab.length))
      throw new RangeError(`token id ${id} outside vocabulary of ${this.vocab.length}`);
    return this.vocab[id];
  }

  /** Text -> WordPiece tokens, without [CLS]/[SEP]. Special tokens written in the text are kept whole. */
  tokenize(text: string): string[] {
    check(typeof text === 'string', `tokenize: expected a string, got ${text === null ? 'null' : typeof text}`);
    const out: string[] = [];
    const has = (p: string): boolean => this.index.has(p);
    for (const part of text.split(this.specials)) {
      if ((SPECIAL_TOKENS as readonly string[]).includes(part)) {
        out.push(part);
        continue;
      }
      for (const word of basicTokenize(part, this.basic)) out.push(...wordpiece(word, has, '[UNK]'));
    }
    return out;
  }

  /** Encode one text. */
  encode(text: string, opts: EncodeOptions = {}): Encoding {
    check(typeof text === 'string', `encode: expected a string, got ${text === null ? 'null' : typeof text}`);
    checkEncodeOptions('encode', opts);
    const special = opts.addSpecialTokens ?? true;
    let toks = this.tokenize(text);
    if (opts.truncation) {
      check(opts.maxLength !== undefined, 'truncation needs maxLength');
      const room = opts.maxLength - (special ? 2 : 0);
      check(room >= 0, `maxLength ${opts.maxLength} leaves no room for [CLS] and [SEP]`);
      toks = toks.slice(0, room);
    }
    if (special) toks = ['[CLS]', ...toks, '[SEP]'];
    let len = toks.length;
    if (opts.padding === 'max_length') {
      check(opts.maxLength !== undefined, "padding 'max_length' needs maxLength");
      len = Math.max(len, opts.maxLength);
    }
    const ids = new Int32Array(len).fill(this.padId),
      attentionMask = new Int32Array(len);
    toks.forEach((t, k) => {
      ids[k] = this.tokenToId(t);
      attentionMask[k] = 1;
    });
    return { ids, attentionMask, tokens: toks };
  }

  /** Encode texts into one padded [B, L] batch. */
  encodeBatch(texts: readonly string[], opts: EncodeOptions = {}): BatchEncoding {
    check(Array.isArray(texts), `encodeBatch: expected an array of strings, got ${typeof texts}`);
    check(
      texts.length > 0,
      'encodeBatch: expected at least one text, got an empty list (a batch needs a length L; encode texts one by one with encode())',
    );
    checkEncodeOptions('encodeBatch', opts);
    texts.forEach((t, i) =>
      check(typeof t === 'string', `encodeBatch: text ${i} is ${t === null ? 'null' : typeof t}, expected a string`),
    );
    const encs = texts.map((t) =>
      this.encode(t, { ...opts, padding: opts.padding === 'max_length' ? 'max_length' : false }),
    );
    const longest = Math.max(0, ...encs.map((e) => e.ids.length));
    if (opts.padding === 'max_length') {
      check(longest === opts.maxLength, `a text is longer than maxLength ${opts.maxLength}; pass truncation: true`);
    }
    if (!opts.padding) {
      check(
        encs.every((e) => e.ids.length === longest),
        'texts encode to different lengths; pass padding: "longest" or "max_length"',
      );
    }
    const L = longest,
      B = texts.length;
    const ids = new Int32Array(B * L).fill(this.padId),
      attentionMask = new Int32Array(B * L);
    encs.forEach((e, b) => {
      ids.set(e.ids, b * L);
      attentionMask.set(e.attentionMask, b * L);
    });
    return { ids, attentionMask, batchSize: B, length: L };
  }

  /**
   * Ids -> text: '##' pieces join their word, and spaces before . , ? ! and English contractions are
   * removed (HF's clean-up). `skipSpecial` drops all five special tokens, [UNK] included, as HF does.
   */
  decode(ids: ArrayLike<number>, opts: { skipSpecial?: boolean } = {}): string {
    const specialIds = new Set(this.specialIds);
    const toks: string[] = [];
    for (let k = 0; k < ids.length; k++) {
      if (!(opts.skipSpecial && specialIds.has(ids[k]))) toks.push(this.idToToken(ids[k]));
    }
    return toks
      .join(' ')
      .replace(/ ##/g, '')
      .trim()
      .replace(/ \./g, '.')
      .replace(/ \?/g, '?')
      .replace(/ !/g, '!')
      .replace(/ ,/g, ',')
      .replace(/ ' /g, "'")
      .replace(/ n't/g, "n't")
      .replace(/ 'm/g, "'m")
      .replace(/ 's/g, "'s")
      .replace(/ 've/g, "'ve")
      .replace(/ 're/g, "'re");
  }

  /** MLM ids: ALBEF masks anything but [PAD] and [CLS]; VLMo (HF collator) no special token at all. */
  maskIds(style: 'albef' | 'vlmo' = 'albef'): MaskIds {
    return { maskId: this.maskId, exclude: style === 'albef' ? [this.padId, this.clsId] : this.specialIds };
  }

  /** The vocabulary as `vocab.txt` text. */
  toVocabText(): string {
    return `${this.vocab.join('\n')}\n`;
  }
}
