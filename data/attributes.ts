/**
 * The closed vocabulary of scene attributes: dataset names, object kinds, colours, sizes and spatial
 * relations, with the words the caption grammar may use for each. Everything that generates or parses
 * text draws its words from here, so the grammar's vocabulary is one list.
 */

/** The datasets `makeDataset` knows. */
export const DATASET_NAMES = ['mnist-scenes', 'shapes'] as const;
/** A dataset name. */
export type DatasetName = (typeof DATASET_NAMES)[number];

/** Object colours. Kept to hues a 32x32 model can tell apart on a dark background. */
export const COLOURS = ['red', 'green', 'blue', 'yellow', 'white', 'purple'] as const;
/** An object colour. */
export type Colour = (typeof COLOURS)[number];

/** Linear RGB in [0, 1] for each colour name. */
export const COLOUR_RGB: Readonly<Record<Colour, readonly [number, number, number]>> = {
  red: [1.0, 0.15, 0.12],
  green: [0.15, 0.9, 0.2],
  blue: [0.2, 0.4, 1.0],
  yellow: [1.0, 0.9, 0.1],
  white: [1.0, 1.0, 1.0],
  purple: [0.72, 0.25, 1.0],
};

/** Object sizes. */
export const SIZES = ['small', 'large'] as const;
/** An object size. */
export type Size = (typeof SIZES)[number];

/** Paraphrases of each size word (the first is canonical). */
export const SIZE_WORDS: Readonly<Record<Size, readonly string[]>> = {
  small: ['small', 'little'],
  large: ['large', 'big'],
};

/** Kinds of object in `mnist-scenes`: the digit written as a numeral. */
export const DIGIT_KINDS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;
/** Kinds of object in `shapes`. */
export const SHAPE_KINDS = ['circle', 'square', 'triangle'] as const;

/** Spatial relations between two objects, read "subject REL object". */
export const RELATIONS = ['left', 'right', 'above', 'below'] as const;
/** A spatial relation. */
export type Relation = (typeof RELATIONS)[number];

/** Phrases for each relation; the first is the shortest and is used when a caption must be short. */
export const RELATION_PHRASES: Readonly<Record<Relation, readonly string[]>> = {
  left: ['left of', 'to the left of', 'on the left of'],
  right: ['right of', 'to the right of', 'on the right of'],
  above: ['above', 'over'],
  below: ['below', 'under', 'beneath'],
};

/** The relation that holds in the other direction ("a left of b" iff "b right of a"). */
export const INVERSE_RELATION: Readonly<Record<Relation, Relation>> = {
  left: 'right',
  right: 'left',
  above: 'below',
  below: 'above',
};

/** The relation a horizontal mirror turns each relation into. */
export const MIRRORED_RELATION: Readonly<Record<Relation, Relation>> = {
  left: 'right',
  right: 'left',
  above: 'above',
  below: 'below',
};

/** Count words, indexed by count. */
export const NUMBER_WORDS = ['zero', 'one', 'two', 'three'] as const;

/** The most objects a scene can hold (a 2x2 layout with one cell empty keeps relations unambiguous). */
export const MAX_OBJECTS = 3;

/** The object noun of each dataset ("two digits: ...", "how many shapes are there?"). */
export const OBJECT_NOUN: Readonly<Record<DatasetName, string>> = {
  'mnist-scenes': 'digit',
  shapes: 'shape',
};

/** The object kinds of each dataset. */
export const KINDS: Readonly<Record<DatasetName, readonly string[]>> = {
  'mnist-scenes': DIGIT_KINDS,
  shapes: SHAPE_KINDS,
};

/**
 * Compositions held out of train and val and shown only in flagged test scenes, so compositional
 * generalization can be measured. Each colour and each kind still appears in training with other partners.
 */
export const HELD_OUT_PAIRS: Readonly<Record<DatasetName, readonly (readonly [Colour, string])[]>> = {
  'mnist-scenes': [
    ['red', '7'],
    ['green', '2'],
    ['blue', '5'],
    ['yellow', '0'],
    ['white', '9'],
    ['purple', '4'],
  ],
  shapes: [
    ['red', 'triangle'],
    ['blue', 'circle'],
    ['green', 'square'],
  ],
};

/**
 * The held-out relation composition: a `top`-coloured object anywhere above a `bottom`-coloured one.
 * Train and val never contain it (neither adjacent nor diagonal), so no caption or question states it.
 */
export const HELD_OUT_RELATION = { top: 'red', bottom: 'blue' } as const satisfies { top: Colour; bottom: Colour };
