/**
 * The caption grammar. A caption names every object with its size, colour and kind and states the
 * relations of adjacent objects, so parsing it (caption_parser.ts) recovers `sceneFacts(meta)` exactly.
 * Paraphrases vary the template, word order, relation phrase and size synonyms.
 *
 * Every caption fits in 14 word-level tokens, so [CLS] caption [SEP] fits the tiny models' 16 positions.
 */
import type { Rng } from '../engine/random.js';
import {
  NUMBER_WORDS,
  OBJECT_NOUN,
  RELATION_PHRASES,
  SIZE_WORDS,
  type Colour,
  type Relation,
  type Size,
} from './attributes.js';
import { adjacentRelation, type SceneMeta, type SceneObject } from './scene.js';

/** The most word-level tokens in a caption. */
export const MAX_CAPTION_TOKENS = 14;

/** One object as text describes it. */
export interface ObjectFacts {
  kind: string;
  colour: Colour;
  size: Size;
}

/** What a caption asserts, in canonical form (objects sorted by kind, relations as 'a left b' / 'a above b'). */
export interface SceneFacts {
  count: number;
  objects: ObjectFacts[];
  relations: string[];
}

/** Canonical text of "a REL b": right and below are turned round into left and above. */
export function canonicalRelation(a: string, rel: Relation, b: string): string {
  if (rel === 'right') return `${b} left ${a}`;
  if (rel === 'below') return `${b} above ${a}`;
  return `${a} ${rel} ${b}`;
}

/** The facts a full caption of this scene states: every object, and the relations of adjacent pairs. */
export function sceneFacts(meta: SceneMeta): SceneFacts {
  const objs = meta.objects;
  const relations: string[] = [];
  for (let i = 0; i < objs.length; i++) {
    for (let j = i + 1; j < objs.length; j++) {
      const rel = adjacentRelation(objs[i], objs[j]);
      if (rel) relations.push(canonicalRelation(objs[i].kind, rel, objs[j].kind));
    }
  }
  return {
    count: objs.length,
    objects: objs.map(({ kind, colour, size }) => ({ kind, colour, size })).sort((a, b) => (a.kind < b.kind ? -1 : 1)),
    relations: relations.sort(),
  };
}

/** Whether two fact sets are equal. */
export function sameFacts(a: SceneFacts, b: SceneFacts): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Join word tokens into text: no space before ',', ':', '?'. */
export function joinTokens(tokens: readonly string[]): string {
  return tokens.join(' ').replace(/ ([,:?])/g, '$1');
}

/**
 * Caption choices are fixed draws, taken before looking at the scene, so a mirrored or corrupted scene
 * captioned from the same stream uses the same template and words (only left/right or the fact changes).
 */
const DRAWS = 8;

function nounPhrase(o: SceneObject, det: string | null, u: number): string[] {
  const words = SIZE_WORDS[o.size];
  return [...(det ? [det] : []), words[Math.floor(u * words.length)], o.colour, o.kind];
}

function relPhrase(rel: Relation, u: number, short: boolean): string[] {
  const phrases = RELATION_PHRASES[rel];
  return (short ? phrases[0] : phrases[Math.floor(u * phrases.length)]).split(' ');
}

function single(meta: SceneMeta, u: number[]): string[] {
  const x = nounPhrase(meta.objects[0], 'a', u[4]);
  const noun = OBJECT_NOUN[meta.dataset];
  switch (Math.floor(u[0] * 4)) {
    case 0:
      return x;
    case 1:
      return ['one', noun, ':', ...x];
    case 2:
      return ['there', 'is', ...x];
    default:
      return ['a', 'picture', 'of', ...x];
  }
}

function pair(meta: SceneMeta, u: number[]): string[] {
  const s = u[1] < 0.5 ? 0 : 1;
  const subj = meta.objects[s],
    obj = meta.objects[1 - s];
  const rel = adjacentRelation(subj, obj);
  if (!rel) throw new Error('captions: a two-object scene must be side by side or stacked');
  const noun = OBJECT_NOUN[meta.dataset];
  const build = (short: boolean): string[] => {
    const r = relPhrase(rel, u[2], short);
    const [a, b] = [nounPhrase(subj, 'a', u[4 + s]), nounPhrase(obj, 'a', u[5 - s])];
    switch (Math.floor(u[0] * 4)) {
      case 0:
        return [...a, ...r, ...b];
      case 1:
        return [NUMBER_WORDS[2], `${noun}s`, ':', ...a, ...r, ...b];
      case 2:
        return [...nounPhrase(subj, 'the', u[4 + s]), 'is', ...r, ...nounPhrase(obj, 'the', u[5 - s])];
      default:
        return ['there', 'is', ...a, ...r, ...b];
    }
  };
  const long = build(false);
  return long.length <= MAX_CAPTION_TOKENS ? long : build(true);
}

function triple(meta: SceneMeta, u: number[]): string[] {
  const objs = meta.objects;
  const p = objs.findIndex((o) => objs.every((q) => q === o || adjacentRelation(q, o) !== null));
  const others = [0, 1, 2].filter((j) => j !== p);
  // F, G: the two neighbours of the pivot in drawn order; "it" names the pivot in the second clause
  const [f, g] = u[1] < 0.5 ? others : [others[1], others[0]];
  const clause = (j: number): string[] => {
    const rel = adjacentRelation(objs[j], objs[p]) as Relation;
    return [
      ...nounPhrase(objs[j], null, u[4 + j]),
      ...relPhrase(rel, u[2 + (j === f ? 0 : 1)], rel === 'left' || rel === 'right'),
    ];
  };
  return [...clause(f), ...nounPhrase(objs[p], null, u[4 + p]), u[0] < 0.5 ? ',' : 'and', ...clause(g), 'it'];
}

/** The caption of a scene, as word tokens. Draws exactly `DRAWS` numbers from `rng`. */
export function captionTokens(meta: SceneMeta, rng: Rng): string[] {
  const u = Array.from({ length: DRAWS }, () => rng.uniform());
  const n = meta.objects.length;
  return n === 1 ? single(meta, u) : n === 2 ? pair(meta, u) : triple(meta, u);
}

/** The caption of a scene, e.g. "two digits: a small red 3 above a large blue 7". */
export function captionFor(meta: SceneMeta, rng: Rng): string {
  return joinTokens(captionTokens(meta, rng));
}
