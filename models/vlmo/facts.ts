/**
 * Stage-1 scene facts (our departure from BEiT-style MIM, see docs/vlmo.md): multi-label targets
 * naming what a scene's caption states about its objects, computed from the training scene's
 * metadata: how many objects (one-hot), which colours, kinds and sizes occur, and which
 * (colour, kind) and (size, kind) pairs occur. This is the miniature of starting the image tower
 * from a supervised ImageNet model: it teaches the tower to tell digits and colours apart before
 * vision-language training needs it.
 */
import { COLOURS, KINDS, MAX_OBJECTS, SIZES, type DatasetName } from '../../data/attributes.js';
import type { SceneMeta } from '../../data/scene.js';

/** The fact names of a dataset, in target order ('count=2', 'colour=red', 'kind=7', 'size=large', 'red 7', 'large 7'). */
export function factNames(dataset: DatasetName): string[] {
  const kinds = KINDS[dataset];
  return [
    ...Array.from({ length: MAX_OBJECTS }, (_, i) => `count=${i + 1}`),
    ...COLOURS.map((c) => `colour=${c}`),
    ...kinds.map((k) => `kind=${k}`),
    ...SIZES.map((s) => `size=${s}`),
    ...COLOURS.flatMap((c) => kinds.map((k) => `${c} ${k}`)),
    ...SIZES.flatMap((s) => kinds.map((k) => `${s} ${k}`)),
  ];
}

/** Looks fact names up by name; build once per dataset. */
export class FactTargets {
  readonly names: string[];
  private readonly index: Map<string, number>;
  constructor(readonly dataset: DatasetName) {
    this.names = factNames(dataset);
    this.index = new Map(this.names.map((n, i) => [n, i]));
  }

  /** F, the number of facts. */
  get size(): number {
    return this.names.length;
  }

  /** The facts of one scene, as the names that hold. */
  factsOf(meta: SceneMeta): string[] {
    const o = meta.objects;
    return [
      `count=${o.length}`,
      ...o.flatMap((x) => [
        `colour=${x.colour}`,
        `kind=${x.kind}`,
        `size=${x.size}`,
        `${x.colour} ${x.kind}`,
        `${x.size} ${x.kind}`,
      ]),
    ];
  }

  /** 0/1 targets of a batch of scenes. Shapes: -> [B·F] (row-major [B, F]). */
  targets(metas: readonly SceneMeta[]): Float32Array {
    const F = this.size,
      out = new Float32Array(metas.length * F);
    metas.forEach((m, b) => {
      for (const f of this.factsOf(m)) {
        const i = this.index.get(f);
        if (i === undefined)
          throw new RangeError(
            `FactTargets(${this.dataset}): scene fact '${f}' is not one of this dataset's ${F} facts`,
          );
        out[b * F + i] = 1;
      }
    });
    return out;
  }
}
