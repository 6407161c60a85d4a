/**
 * Counting VLMo-Base (175M) and -Large (562M) parameters without allocating them: the real `Vlmo`
 * module tree is built on a shapes-only "meta" device, so the count comes from the same constructors
 * training uses (a wrong layer shows up as a wrong count), while no weight buffer is kept.
 * Initializers still loop over each tensor once, fed by a constant generator, which keeps Large to
 * a couple of seconds and transient arrays of one layer.
 */
import {
  allocArray, type Backend, type DType, type Raw, type TypedArray,
} from '../../kernels/backend.js';
import type { MemoryInfo } from '../../kernels/memory.js';
import { defaultBackend, Rng, setDefaultDevice } from '../../engine/index.js';
import type { VlmoConfig } from './config.js';
import { Vlmo } from './vlmo.js';

/** A buffer that has a dtype and a size but no data. */
class MetaRaw implements Raw {
  readonly device = 'meta';
  constructor(readonly dtype: DType, readonly size: number) {}
}

const noData = (op: string): never => { throw new Error(`meta device: '${op}' needs data; the meta device only records shapes`); };

/**
 * A device that stores shapes only: uploads and fills are dropped, reads return zeros (nn's
 * Embedding reads its table once to zero the padding row), and any computation throws.
 */
export const metaBackend: Backend = {
  device: 'meta',
  upload: (data: TypedArray, dtype: DType): Raw => new MetaRaw(dtype, data.length),
  full: (size: number, _value: number, dtype: DType): Raw => new MetaRaw(dtype, size),
  read: (x: Raw): Promise<TypedArray> => Promise.resolve(allocArray(x.dtype, x.size)),
  readSync: (x: Raw): TypedArray => allocArray(x.dtype, x.size),
  dispose: (): void => {},
  memory: (): MemoryInfo => ({ device: 'meta', buffers: 0, bytes: 0 }),
  unary: () => noData('unary'),
  binary: () => noData('binary'),
  ternary: () => noData('ternary'),
  reduce: () => noData('reduce'),
  matmul: () => noData('matmul'),
  copyStrided: () => noData('copyStrided'),
  writeStrided: () => noData('writeStrided'),
  gather: () => noData('gather'),
  scatterAdd: () => noData('scatterAdd'),
  indexSelect: () => noData('indexSelect'),
  indexAdd: () => noData('indexAdd'),
  cast: () => noData('cast'),
};

/** A generator whose draws are constants (init values are irrelevant when only shapes are kept). */
class ConstantRng extends Rng {
  override uniform(): number { return 0.5; }
  override normal(): number { return 0; }
}

/** Runs `fn` with new tensors allocated on the meta device. */
export function onMeta<T>(fn: () => T): T {
  const previous = defaultBackend();
  setDefaultDevice(metaBackend);
  try {
    return fn();
  } finally {
    setDefaultDevice(previous);
  }
}

/** Parameter counts of a config, from its module tree. */
export interface ParameterCount {
  /** Spec B8's backbone: transformer + relative-position table + text embeddings + modality embedding. */
  backbone: number;
  /** Everything the stage-3 model holds: backbone + pooler, MLM, ITM and 4 ITC heads, 2 logit scales. */
  total: number;
  /** Per top-level child (plus the root's own parameters), for component-by-component checks. */
  parts: Record<string, number>;
}

/** Counts the parameters of `config` on the meta device (no weights are allocated). */
export function countParameters(config: VlmoConfig): ParameterCount {
  return onMeta(() => {
    const model = new Vlmo(config, { init: false, rng: new ConstantRng(0) });
    const parts: Record<string, number> = {};
    for (const [name, p] of model.namedParameters()) {
      const top = name.includes('.') ? name.slice(0, name.indexOf('.')) : name;
      parts[top] = (parts[top] ?? 0) + p.size;
    }
    return {
      backbone: model.backboneParameters().reduce((n, p) => n + p.size, 0),
      total: model.numParameters(),
      parts,
    };
  });
}
