/**
 * The Optimizer base: parameter groups with per-group hyper-parameters, zeroGrad, step (skipping
 * parameters without a gradient, under noGrad) and a state dict that round-trips bit-identically.
 * Subclasses (optim_sgd.ts, optim_adam.ts) supply `update` for one parameter.
 */
import { cloneData, DTypeError, noGrad, ShapeError, Tensor } from '../engine/index.js';

/** Disposes `p.grad` (shared storage stays alive for its other users) and sets it to null. */
function dropGrad(p: Tensor): void {
  p.grad?.dispose();
  p.grad = null;
}

/** A hyper-parameter value as groups and state dicts hold it. */
export type Hyper = number | boolean | readonly number[];
/** The hyper-parameters every optimizer has; each group carries its own copy. */
export interface BaseOpts {
  lr: number;
  weightDecay: number;
}

/** A live parameter group: its tensors and its hyper-parameters (schedulers write `lr`). */
export type ParamGroup<O extends BaseOpts> = O & { params: Tensor[] };
/** A group as passed to a constructor: options left out take the optimizer's defaults. */
export type ParamGroupSpec<O extends BaseOpts> = Partial<O> & { params: Iterable<Tensor> };
/** Constructor input: a flat list of tensors (one group) or a list of groups. */
export type Params<O extends BaseOpts> = Iterable<Tensor> | Iterable<ParamGroupSpec<O>>;

/** Per-parameter state: step counts (numbers) and moment buffers (tensors). */
export type ParamState = Record<string, Tensor | number>;

/**
 * A serializable snapshot, laid out as PyTorch's: `state` keyed by the parameter's index in group
 * order (only parameters that have state), `paramGroups` with each group's hyper-parameters and
 * its parameters' indices. Tensors are copies; everything else is numbers, booleans and arrays.
 */
export interface OptimizerStateDict {
  state: Record<number, ParamState>;
  paramGroups: ({ params: number[] } & Record<string, Hyper>)[];
}

/** Options for the constructor that are not per-group hyper-parameters. */
export interface RunOpts {
  /** Update CPU tensors' host arrays in one loop per parameter (default true). Same bits as the
   * tensor-op path, which runs when false and on devices that do not keep data on the host. */
  fused?: boolean;
}

export abstract class Optimizer<O extends BaseOpts> {
  readonly paramGroups: ParamGroup<O>[] = [];
  /** Live per-parameter state; fused steps update its buffers in place (stateDict copies). */
  readonly state = new Map<Tensor, ParamState>();
  readonly fused: boolean;
  readonly defaults: O;

  /** `base` lists every option with its default; `opts` overrides them (undefined = not given). */
  protected constructor(
    readonly name: string,
    params: Params<O>,
    base: O,
    opts: Partial<O> & RunOpts,
  ) {
    const { fused, ...given } = opts;
    this.fused = fused ?? true;
    this.defaults = { ...base, ...this.known(given as Partial<O>, base, 'the options') };
    const list = [...params];
    if (list.length === 0) throw new Error(`${name}: got an empty parameter list`);
    const groups = list.every((x) => x instanceof Tensor)
      ? [{ params: list as Tensor[] } as unknown as ParamGroupSpec<O>]
      : (list as ParamGroupSpec<O>[]);
    for (const g of groups) this.addParamGroup(g);
  }

  /** Checks one group's hyper-parameters; throws naming the group. */
  protected abstract validate(group: ParamGroup<O>, where: string): void;
  /** Updates one parameter that has a gradient (called under noGrad). */
  protected abstract update(p: Tensor, grad: Tensor, group: ParamGroup<O>, state: ParamState): void;

  /** Adds a group (e.g. layers unfrozen mid-training); missing options take the defaults. */
  addParamGroup(spec: ParamGroupSpec<O>): void {
    const where = `param group ${this.paramGroups.length}`;
    if (
      spec instanceof Tensor ||
      typeof spec !== 'object' ||
      spec === null ||
      !('params' in spec) ||
      spec.params == null
    ) {
      const keys = spec && typeof spec === 'object' ? Object.keys(spec).join(', ') : String(spec);
      throw new TypeError(
        `${this.name}: ${where} has no 'params' (got ${keys || 'no keys'}); ` +
          'pass a list of tensors or a list of { params: Tensor[], ...options }',
      );
    }
    const { params: _, ...given } = spec;
    const params = spec.params instanceof Tensor ? [spec.params] : [...spec.params];
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw new TypeError(`${this.name}: ${where}, parameter ${i} is not a Tensor`);
      if (p.dtype === 'int32') {
        throw new DTypeError(
          `${this.name}: ${where}, parameter ${i} is int32 [${p.shape.join(',')}]; only float32 and float64 tensors can be optimized`,
        );
      }
      if (!p.isLeaf)
        throw new Error(
          `${this.name}: ${where}, parameter ${i} is not a leaf tensor (it was computed by an op); optimize leaves`,
        );
      if (seen.has(p))
        throw new Error(`${this.name}: ${where}, parameter ${i} appears in more than one group (or twice)`);
      seen.add(p);
    });
    const group = {
      ...this.defaults,
      ...this.known(given as unknown as Partial<O>, this.defaults, where),
      params,
    } as ParamGroup<O>;
    for (const [k, v] of Object.entries(group))
      if (Array.isArray(v) && k !== 'params') (group as unknown as Record<string, Hyper>)[k] = [...v];
    this.validate(group, where);
    this.paramGroups.push(group);
  }

  /** The defined entries of `given`; throws on a key `base` lacks (a typo such as weight_decay). */
  private known(given: Partial<O>, base: O, where: string): Partial<O> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(given)) {
      if (!(k in base))
        throw new TypeError(`${this.name}: unknown option '${k}' in ${where}; known: ${Object.keys(base).join(', ')}`);
      if (v !== undefined) out[k] = v;
    }
    return out as Partial<O>;
  }

  /** One update of every parameter that has a gradient; parameters with `grad === null` are skipped. */
  step(): void {
    noGrad(() =>
      this.paramGroups.forEach((group, gi) => {
        this.validate(group, `param group ${gi}`);
        for (const p of group.params) {
          const grad = p.grad;
          if (grad === null) continue;
          if (grad.dtype !== p.dtype || grad.backend !== p.backend || !sameShape(grad, p)) {
            throw new ShapeError(
              `${this.name}: gradient ${grad.dtype} [${grad.shape.join(',')}] on ${grad.device} ` +
                `does not match its parameter ${p.dtype} [${p.shape.join(',')}] on ${p.device}`,
            );
          }
          let state = this.state.get(p);
          if (!state) this.state.set(p, (state = {}));
          this.update(p, grad, group, state);
        }
      }),
    );
  }

  /** Drops every parameter's gradient (`p.grad = null`, PyTorch's set_to_none) and disposes it:
   * backward keeps gradients out of `tidy`, so without this a synchronous training loop would hold
   * one more buffer per parameter per step until the GC ran. Copy a gradient first to keep it. */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) dropGrad(p);
  }

  /** A snapshot of the state and the hyper-parameters (see OptimizerStateDict); tensors are copies. */
  stateDict(): OptimizerStateDict {
    const state: Record<number, ParamState> = {};
    let index = 0;
    const paramGroups = this.paramGroups.map(({ params, ...hyper }) => {
      const ids = params.map((p) => {
        const s = this.state.get(p);
        if (s && Object.keys(s).length > 0) state[index] = copyState(s, (t) => cloneData(t));
        return index++;
      });
      return { ...cloneHyper(hyper as unknown as Record<string, Hyper>), params: ids };
    });
    return { state, paramGroups };
  }

  /**
   * Restores a stateDict() snapshot into an optimizer built over the same parameters in the same
   * group layout: hyper-parameters (lr included) and state are copied in; tensors are converted to
   * each parameter's dtype and device. Throws on a layout or shape mismatch.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const name = this.name;
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new Error(
        `${name}.loadStateDict: ${sd.paramGroups.length} saved groups, optimizer has ${this.paramGroups.length}`,
      );
    }
    const byIndex = new Map<number, Tensor>();
    sd.paramGroups.forEach((g, gi) => {
      const live = this.paramGroups[gi].params;
      if (g.params.length !== live.length) {
        throw new Error(
          `${name}.loadStateDict: saved group ${gi} has ${g.params.length} parameters, optimizer's has ${live.length}`,
        );
      }
      g.params.forEach((id, j) => byIndex.set(id, live[j]));
    });
    const state = new Map<Tensor, ParamState>();
    for (const [id, s] of Object.entries(sd.state)) {
      const p = byIndex.get(Number(id));
      if (!p) throw new Error(`${name}.loadStateDict: state for parameter ${id}, which no saved group lists`);
      state.set(
        p,
        copyState(s, (t, key) => {
          if (!sameShape(t, p)) {
            throw new ShapeError(
              `${name}.loadStateDict: state '${key}' of parameter ${id} is [${t.shape.join(',')}], parameter is [${p.shape.join(',')}]`,
            );
          }
          return cloneData(noGrad(() => t.to(p.dtype).to(p.backend)));
        }),
      );
    }
    const groups = sd.paramGroups.map(({ params: _ids, ...hyper }, gi) => {
      const saved = this.known(cloneHyper(hyper) as unknown as Partial<O>, this.defaults, `saved param group ${gi}`);
      const g = { ...this.paramGroups[gi], ...saved } as ParamGroup<O>;
      this.validate(g, `saved param group ${gi}`);
      return g;
    });
    groups.forEach((g, gi) => Object.assign(this.paramGroups[gi], g));
    this.state.clear();
    for (const [p, s] of state) this.state.set(p, s);
  }
}

function sameShape(a: Tensor, b: Tensor): boolean {
  return a.ndim === b.ndim && a.shape.every((n, d) => n === b.shape[d]);
}

function copyState(s: ParamState, copy: (t: Tensor, key: string) => Tensor): ParamState {
  const out: ParamState = {};
  for (const [k, v] of Object.entries(s)) out[k] = v instanceof Tensor ? copy(v, k) : v;
  return out;
}

function cloneHyper(h: Record<string, Hyper>): Record<string, Hyper> {
  const out: Record<string, Hyper> = {};
  for (const [k, v] of Object.entries(h)) out[k] = Array.isArray(v) ? [...v] : v;
  return out;
}

/** Throws unless `value` is a finite number in [lo, hi] (hi exclusive when `open`). */
export function checkRange(opt: string, name: string, value: unknown, lo: number, hi = Infinity, open = false): void {
  const ok = typeof value === 'number' && Number.isFinite(value) && value >= lo && (open ? value < hi : value <= hi);
  if (!ok) {
    const range = hi === Infinity ? `>= ${lo}` : `in [${lo}, ${hi}${open ? ')' : ']'}`;
    throw new RangeError(`${opt}: invalid ${name} ${String(value)} (must be a finite number ${range})`);
  }
}

/** Throws unless `value` is a boolean. */
export function checkFlag(opt: string, name: string, value: unknown): void {
  if (typeof value !== 'boolean') throw new TypeError(`${opt}: ${name} must be true or false, got ${String(value)}`);
}
