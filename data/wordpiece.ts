/**
 * BERT's two tokenization stages, following the reference `BasicTokenizer` and `WordpieceTokenizer`
 * (google-research/bert tokenization.py, as ported by HuggingFace): clean the text, space out CJK
 * ideographs, split on whitespace, lower-case and strip accents, split off punctuation; then split each
 * word greedily into the longest vocabulary pieces, continuation pieces prefixed with '##'.
 */

/** Options of the basic (pre-WordPiece) stage. */
export interface BasicOptions {
  /** Lower-case (BERT uncased). Default true. */
  lowercase?: boolean;
  /** Strip accents (NFD, drop combining marks). Default: same as `lowercase`, as in BERT. */
  stripAccents?: boolean;
}

// BERT treats every ASCII non-alphanumeric printable as punctuation, though '$', '+', '^' etc. are
// Unicode symbols (S*), not punctuation (P*).
function isPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0) ?? 0;
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
    return true;
  return cp >= 128 && /\p{P}/u.test(ch);
}

function isCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** Drop NUL, U+FFFD and control characters; turn every whitespace character into ' '; space out CJK. */
function clean(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp > 32 && cp < 127)
      out += ch; // printable ASCII: the common case, no Unicode tables needed
    else if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || /\p{Zs}/u.test(ch)) out += ' ';
    else if (cp === 0 || cp === 0xfffd || /\p{C}/u.test(ch)) continue;
    else if (isCjk(cp)) out += ` ${ch} `;
    else out += ch;
  }
  return out;
}

function splitPunctuation(word: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (const ch of word) {
    if (isPunctuation(ch)) {
      if (cur) out.push(cur);
      out.push(ch);
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (cur) out.push(cur);
  return out;
}

/** BERT basic tokenization: "Hello, WORLD!" -> ['hello', ',', 'world', '!']. */
export function basicTokenize(text: string, opts: BasicOptions = {}): string[] {
  const lower = opts.lowercase ?? true,
    strip = opts.stripAccents ?? lower;
  const out: string[] = [];
  for (let word of clean(text).split(/\s+/)) {
    if (!word) continue;
    if (lower) word = word.toLowerCase();
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the class is 'any non-ASCII character', \x00 is its bound
    if (strip && /[^\x00-\x7f]/.test(word)) word = word.normalize('NFD').replace(/\p{Mn}/gu, '');
    out.push(...splitPunctuation(word));
  }
  return out;
}

/** Words longer than this (in code points) become [UNK] without a search, as in BERT. */
export const MAX_WORD_CHARS = 100;

/**
 * Greedy longest-match-first WordPiece: "unaffable" -> ['un', '##aff', '##able']. A word with any
 * part missing from the vocabulary becomes the single `unk` token.
 */
export function wordpiece(word: string, has: (piece: string) => boolean, unk: string): string[] {
  const chars = Array.from(word);
  if (chars.length > MAX_WORD_CHARS) return [unk];
  const pieces: string[] = [];
  for (let start = 0; start < chars.length; ) {
    let end = chars.length,
      found: string | null = null;
    for (; end > start; end--) {
      const sub = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
      if (has(sub)) {
        found = sub;
        break;
      }
    }
    if (found === null) return [unk];
    pieces.push(found);
    start = end;
  }
  return pieces;
}
