/**
 * Questions about a scene for downstream evaluation: VQA-style questions with one-word answers and
 * NLVR-style statements labelled 'true' or 'false' (about half of each). `answerQuestion` re-derives an
 * answer from the text and the metadata by a separate path, which is what the tests check against.
 */
import type { Rng } from '../engine/random.js';
import {
  COLOURS,
  HELD_OUT_RELATION,
  KINDS,
  NUMBER_WORDS,
  OBJECT_NOUN,
  RELATION_PHRASES,
  RELATIONS,
  SIZES,
  type Relation,
} from './attributes.js';
import { holds, parseText, words } from './caption_parser.js';
import { holdsRelation, type SceneMeta, type SceneObject } from './scene.js';
import { pick } from './seeds.js';
import { isHeldOutPair } from './splits.js';

/** 'vqa': a question with a short answer. 'nlvr': a statement whose answer is 'true' or 'false'. */
export type QuestionFormat = 'vqa' | 'nlvr';
/** What a question asks about. */
export type QuestionCategory = 'count' | 'colour' | 'size' | 'exists' | 'relation' | 'which';

/** A question (or statement) about one scene, with its answer. */
export interface Question {
  format: QuestionFormat;
  category: QuestionCategory;
  text: string;
  answer: string;
}

const article = (word: string): string => (word === '8' ? 'an' : 'a');
const relWords = (rel: Relation): string => RELATION_PHRASES[rel][0];
const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

function countStatement(n: number, noun: string): string {
  return n === 1 ? `there is one ${noun}` : `there are ${NUMBER_WORDS[n]} ${noun}s`;
}

function others<T>(all: readonly T[], not: T): T[] {
  return all.filter((x) => x !== not);
}

function vqaQuestions(meta: SceneMeta, rng: Rng): Question[] {
  const objs = meta.objects,
    n = objs.length,
    noun = OBJECT_NOUN[meta.dataset];
  const q = (category: QuestionCategory, text: string, answer: string): Question => ({
    format: 'vqa',
    category,
    text,
    answer,
  });
  const out = [q('count', `how many ${noun}s are there?`, NUMBER_WORDS[n])];
  const a = pick(rng, objs);
  out.push(q('colour', `what ${rng.uniform() < 0.5 ? 'colour' : 'color'} is the ${a.kind}?`, a.colour));
  const b = pick(rng, objs);
  out.push(q('size', rng.uniform() < 0.5 ? `what size is the ${b.kind}?` : `is the ${b.kind} small or large?`, b.size));
  const absent = KINDS[meta.dataset].filter((k) => !objs.some((o) => o.kind === k));
  const kind = rng.uniform() < 0.5 || absent.length === 0 ? pick(rng, objs).kind : pick(rng, absent);
  out.push(q('exists', `is there ${article(kind)} ${kind}?`, yesNo(absent.length === 0 || !absent.includes(kind))));
  const colour = pick(rng, COLOURS);
  out.push(q('exists', `is there a ${colour} ${noun}?`, yesNo(objs.some((o) => o.colour === colour))));
  if (n >= 2) {
    const x = pick(rng, objs),
      y = pick(rng, others(objs, x));
    const want = rng.uniform() < 0.5;
    const rels = RELATIONS.filter((r) => holdsRelation(x, r, y) === want);
    const rel = pick(rng, rels);
    out.push(q('relation', `is the ${x.kind} ${relWords(rel)} the ${y.kind}?`, yesNo(want)));
  }
  const unique = objs.filter((o) => objs.filter((p) => p.colour === o.colour).length === 1);
  if (unique.length > 0) {
    const o = pick(rng, unique);
    out.push(q('which', `which ${noun} is ${o.colour}?`, o.kind));
  }
  const which: [SceneObject, Relation, SceneObject][] = [];
  for (const y of objs) {
    for (const rel of RELATIONS) {
      const xs = objs.filter((x) => x !== y && holdsRelation(x, rel, y));
      if (xs.length === 1) which.push([xs[0], rel, y]);
    }
  }
  if (which.length > 0) {
    const [x, rel, y] = pick(rng, which);
    out.push(q('which', `which ${noun} is ${relWords(rel)} the ${y.kind}?`, x.kind));
  }
  return out;
}

function nlvrStatements(meta: SceneMeta, rng: Rng): Question[] {
  const objs = meta.objects,
    n = objs.length,
    noun = OBJECT_NOUN[meta.dataset];
  const s = (category: QuestionCategory, text: string, truth: boolean): Question => ({
    format: 'nlvr',
    category,
    text,
    answer: truth ? 'true' : 'false',
  });
  // False statements in ordinary scenes must not mention held-out compositions either.
  const open = meta.heldOut.length > 0;
  const allowed = (colour: string, kind: string): boolean => open || !isHeldOutPair(meta.dataset, colour, kind);
  const { top, bottom } = HELD_OUT_RELATION;
  const says = (x: SceneObject, rel: Relation, y: SceneObject): boolean =>
    (x.colour === top && y.colour === bottom && rel === 'above') ||
    (x.colour === bottom && y.colour === top && rel === 'below');
  const out: Question[] = [];
  let t = rng.uniform() < 0.5;
  out.push(s('count', countStatement(t ? n : pick(rng, others([1, 2, 3], n)), noun), t));
  t = rng.uniform() < 0.5;
  const a = pick(rng, objs);
  if (rng.uniform() < 0.5) {
    const wrong = COLOURS.filter((c) => c !== a.colour && allowed(c, a.kind));
    out.push(s('colour', `the ${a.kind} is ${t ? a.colour : pick(rng, wrong)}`, t));
  } else {
    out.push(s('size', `the ${a.kind} is ${t ? a.size : pick(rng, others(SIZES, a.size))}`, t));
  }
  t = rng.uniform() < 0.5;
  if (n >= 2) {
    const x = pick(rng, objs),
      y = pick(rng, others(objs, x));
    const rel = pick(
      rng,
      RELATIONS.filter((r) => holdsRelation(x, r, y) === t && (open || !says(x, r, y))),
    );
    out.push(s('relation', `the ${x.colour} ${x.kind} is ${relWords(rel)} the ${y.colour} ${y.kind}`, t));
  }
  t = rng.uniform() < 0.5;
  const o = { ...pick(rng, objs) };
  if (!t) {
    const absent = KINDS[meta.dataset].filter((k) => !objs.some((p) => p.kind === k) && allowed(o.colour, k));
    const what = rng.int(0, absent.length > 0 ? 3 : 2);
    if (what === 0)
      o.colour = pick(
        rng,
        COLOURS.filter((c) => c !== o.colour && allowed(c, o.kind)),
      );
    else if (what === 1) o.size = pick(rng, others(SIZES, o.size));
    else o.kind = pick(rng, absent);
  }
  out.push(s('exists', `there is a ${o.size} ${o.colour} ${o.kind}`, t));
  return out;
}

/** The questions and statements for a scene: 5-8 VQA questions, then 3-4 NLVR statements. */
export function questionsFor(meta: SceneMeta, rng: Rng): Question[] {
  return [...vqaQuestions(meta, rng), ...nlvrStatements(meta, rng)];
}

/**
 * Answer a generated question or statement from the scene metadata alone (an independent oracle for
 * the generator). Throws on text outside the question grammar.
 */
export function answerQuestion(q: Pick<Question, 'format' | 'text'>, meta: SceneMeta): string {
  if (q.format === 'nlvr') return holds(parseText(q.text), meta) ? 'true' : 'false';
  const w = words(q.text).join(' ');
  const find = (kind: string): SceneObject => {
    const o = meta.objects.find((p) => p.kind === kind);
    if (!o) throw new Error(`question "${q.text}" asks about a ${kind}, which is not in the scene`);
    return o;
  };
  const rel = `(${RELATIONS.map((r) => RELATION_PHRASES[r][0]).join('|')})`;
  let m: RegExpMatchArray | null;
  if (/^how many (digit|shape)s are there \?$/.test(w)) return NUMBER_WORDS[meta.objects.length];
  if ((m = w.match(/^what colou?r is the (\w+) \?$/))) return find(m[1]).colour;
  if ((m = w.match(/^(?:what size is the (\w+)|is the (\w+) small or large) \?$/))) return find(m[1] ?? m[2]).size;
  if ((m = w.match(/^is there an? (\w+) \?$/))) return yesNo(meta.objects.some((o) => o.kind === m?.[1]));
  if ((m = w.match(/^is there an? (\w+) (?:digit|shape) \?$/)))
    return yesNo(meta.objects.some((o) => o.colour === m?.[1]));
  if ((m = w.match(new RegExp(`^is the (\\w+) ${rel} the (\\w+) \\?$`)))) {
    return yesNo(holdsRelation(find(m[1]), relationOf(m[2]), find(m[3])));
  }
  if ((m = w.match(new RegExp(`^which (?:digit|shape) is ${rel} the (\\w+) \\?$`)))) {
    const r = relationOf(m[1]),
      y = find(m[2]);
    return single(
      meta.objects.filter((x) => x !== y && holdsRelation(x, r, y)),
      q.text,
    ).kind;
  }
  if ((m = w.match(/^which (?:digit|shape) is (\w+) \?$/))) {
    return single(
      meta.objects.filter((o) => o.colour === m?.[1]),
      q.text,
    ).kind;
  }
  throw new Error(`not a question this grammar generates: "${q.text}"`);
}

function relationOf(phrase: string): Relation {
  const rel = RELATIONS.find((r) => RELATION_PHRASES[r][0] === phrase);
  if (!rel) throw new Error(`unknown relation "${phrase}"`);
  return rel;
}

function single(xs: SceneObject[], text: string): SceneObject {
  if (xs.length !== 1) throw new Error(`question "${text}" has ${xs.length} answers`);
  return xs[0];
}
