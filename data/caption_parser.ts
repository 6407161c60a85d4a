/**
 * A parser for the caption grammar and for NLVR-style statements, written independently of the
 * generator so tests can check that captions say what the scene shows. It accepts:
 *
 *   text   := prefix? clause ((',' | 'and') clause)*
 *   prefix := NUM NOUN ':' | 'a picture of' | 'there' ('is' | 'are') (NUM NOUN)?
 *   clause := NP ('is'? (REL (NP | 'it') | COLOUR | SIZE))?
 *   NP     := ('a' | 'an' | 'the')? SIZE? COLOUR? KIND
 *
 * "it" names the object of the previous clause's relation.
 */
import {
  COLOURS,
  DIGIT_KINDS,
  NUMBER_WORDS,
  RELATION_PHRASES,
  RELATIONS,
  SHAPE_KINDS,
  SIZE_WORDS,
  type Colour,
  type Relation,
  type Size,
} from './attributes.js';
import { canonicalRelation, type SceneFacts } from './captions.js';
import { holdsRelation, type SceneMeta } from './scene.js';

/** Thrown for text outside the grammar. */
export class CaptionParseError extends Error {
  override readonly name = 'CaptionParseError';
}

/** An object as a text mentions it; attributes the text leaves out are undefined. */
export interface Mention {
  kind: string;
  colour?: Colour;
  size?: Size;
}

/** What a caption or statement says. */
export interface ParsedText {
  /** The stated object count, if any ("two digits: ...", "there are three shapes"). */
  count: number | null;
  /** Mentioned objects in order of first mention; repeated mentions of a kind are merged. */
  objects: Mention[];
  relations: { subject: string; rel: Relation; object: string }[];
}

const KIND_SET = new Set<string>([...DIGIT_KINDS, ...SHAPE_KINDS]);
const NOUNS = new Set(['digit', 'digits', 'shape', 'shapes']);
const SIZE_OF = new Map<string, Size>();
for (const [size, words] of Object.entries(SIZE_WORDS)) for (const w of words) SIZE_OF.set(w, size as Size);
// longest phrases first, so "to the left of" is not read as "to" + ...
const REL_PHRASES = RELATIONS.flatMap((rel) => RELATION_PHRASES[rel].map((p) => ({ rel, words: p.split(' ') }))).sort(
  (a, b) => b.words.length - a.words.length,
);

/** Lower-case word tokens with ',', ':', '?', '.' split off. */
export function words(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/([,:?.])/g, ' $1 ')
    .split(/\s+/)
    .filter((w) => w.length > 0 && w !== '.');
}

class Reader {
  pos = 0;
  constructor(
    readonly toks: string[],
    readonly text: string,
  ) {}
  peek(k = 0): string | undefined {
    return this.toks[this.pos + k];
  }
  accept(...ws: string[]): boolean {
    if (ws.some((w, k) => this.toks[this.pos + k] !== w)) return false;
    this.pos += ws.length;
    return true;
  }
  fail(what: string): never {
    throw new CaptionParseError(
      `cannot parse "${this.text}": expected ${what} at "${this.toks.slice(this.pos).join(' ') || '<end>'}"`,
    );
  }
}

function readCount(r: Reader): number {
  const n = NUMBER_WORDS.indexOf(r.peek() as (typeof NUMBER_WORDS)[number]);
  if (n < 1 || !NOUNS.has(r.peek(1) ?? '')) r.fail('a count like "two digits"');
  r.pos += 2;
  return n;
}

function readNounPhrase(r: Reader): Mention {
  r.accept('a') || r.accept('an') || r.accept('the');
  const m: Partial<Mention> = {};
  const size = SIZE_OF.get(r.peek() ?? '');
  if (size) {
    m.size = size;
    r.pos++;
  }
  if ((COLOURS as readonly string[]).includes(r.peek() ?? '')) m.colour = r.toks[r.pos++] as Colour;
  if (!KIND_SET.has(r.peek() ?? '')) r.fail('a digit or shape');
  return { kind: r.toks[r.pos++], ...m };
}

function readRelation(r: Reader): Relation | null {
  for (const { rel, words: ws } of REL_PHRASES) if (r.accept(...ws)) return rel;
  return null;
}

/** Parse a caption or statement. Throws `CaptionParseError` for text outside the grammar. */
export function parseText(text: string): ParsedText {
  const r = new Reader(words(text), text);
  const out: ParsedText = { count: null, objects: [], relations: [] };
  const mention = (m: Mention): void => {
    const prev = out.objects.find((o) => o.kind === m.kind);
    if (!prev) {
      out.objects.push(m);
      return;
    }
    for (const key of ['colour', 'size'] as const) {
      if (m[key] !== undefined && prev[key] !== undefined && m[key] !== prev[key]) {
        throw new CaptionParseError(
          `cannot parse "${text}": the ${m.kind} is described as both ${prev[key]} and ${m[key]}`,
        );
      }
    }
    Object.assign(prev, Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)));
  };
  if (NUMBER_WORDS.includes(r.peek() as never) && r.peek(2) === ':') {
    out.count = readCount(r);
    r.accept(':');
  } else if (r.accept('a', 'picture', 'of')) {
    /* filler */
  } else if (r.accept('there', 'is') || r.accept('there', 'are')) {
    if (NUMBER_WORDS.includes(r.peek() as never)) {
      out.count = readCount(r);
      if (r.peek() !== undefined) r.fail('the end of the statement');
      return out;
    }
  }
  let lastObject: string | null = null;
  do {
    const subj = readNounPhrase(r);
    mention(subj);
    const copula = r.accept('is');
    const rel = readRelation(r);
    if (rel) {
      let obj: string;
      if (r.accept('it')) {
        obj = lastObject ?? r.fail('an earlier object for "it"');
      } else {
        const m = readNounPhrase(r);
        mention(m);
        obj = m.kind;
      }
      out.relations.push({ subject: subj.kind, rel, object: obj });
      lastObject = obj;
    } else if (copula) {
      const w = r.peek() ?? '';
      if ((COLOURS as readonly string[]).includes(w)) mention({ kind: subj.kind, colour: w as Colour });
      else if (SIZE_OF.has(w)) mention({ kind: subj.kind, size: SIZE_OF.get(w) as Size });
      else r.fail('a relation, colour or size');
      r.pos++;
    }
  } while (r.accept(',') || r.accept('and'));
  if (r.peek() !== undefined) r.fail('the end of the text');
  return out;
}

/** The facts a parsed caption states, in `sceneFacts` form. Throws if an object lacks colour or size. */
export function factsOf(p: ParsedText): SceneFacts {
  const objects = p.objects.map((o) => {
    if (!o.colour || !o.size) throw new CaptionParseError(`the ${o.kind} is not fully described`);
    return { kind: o.kind, colour: o.colour, size: o.size };
  });
  return {
    count: p.count ?? objects.length,
    objects: objects.sort((a, b) => (a.kind < b.kind ? -1 : 1)),
    relations: p.relations.map((x) => canonicalRelation(x.subject, x.rel, x.object)).sort(),
  };
}

/** Whether everything a parsed text says is true of the scene (relations are checked geometrically). */
export function holds(p: ParsedText, meta: SceneMeta): boolean {
  const find = (kind: string) => meta.objects.find((o) => o.kind === kind);
  if (p.count !== null && p.count !== meta.objects.length) return false;
  for (const m of p.objects) {
    const o = find(m.kind);
    if (!o || (m.colour && m.colour !== o.colour) || (m.size && m.size !== o.size)) return false;
  }
  return p.relations.every(({ subject, rel, object }) => {
    const a = find(subject),
      b = find(object);
    return a !== undefined && b !== undefined && holdsRelation(a, rel, b);
  });
}

/**
 * Content groups of a batch's captions: rows whose captions state the same facts get the same id
 * (ids count from 0 in order of first appearance); a caption outside the grammar or not fully
 * described (a corrupted noisy pair) is a group of its own. Training uses them so that two scenes
 * a caption cannot tell apart never serve as each other's "non-matching" pair. Shapes: [B] int32.
 */
export function contentGroups(captions: readonly string[]): Int32Array {
  const ids = new Map<string, number>();
  return Int32Array.from(captions, (text, row) => {
    let key: string;
    try {
      key = JSON.stringify(factsOf(parseText(text)));
    } catch (e) {
      if (!(e instanceof CaptionParseError)) throw e;
      key = `\u0000row ${row}`; // no other caption can produce this key
    }
    if (!ids.has(key)) ids.set(key, ids.size);
    return ids.get(key)!;
  });
}
