/**
 * Module: the base of every layer. Parameters, buffers and child modules are registered explicitly
 * under names, and names join with dots into checkpoint keys, so a model that registers its
 * children as `encoder`, `layer`, `0`, `attention`, ... gets PyTorch-style keys such as
 * `encoder.layer.0.attention.self.query.weight`.
 */
import { cloneData, getBackend, keep, noGrad, type Tensor, type Backend, type DType } from '../engine/index.js';

/** Checkpoint contents: dotted name -> tensor (parameters and persistent buffers). */
export type TensorDict = Record<string, Tensor>;

/** A module whose forward maps one tensor to one tensor (what Sequential chains). */
export interface UnaryModule extends Module {
  forward(x: Tensor): Tensor;
}

/** Thrown by loadStateDict; lists every missing, unexpected and mis-shaped key at once. */
export class StateDictError extends Error {
  override name = 'StateDictError';
  constructor(
    readonly missing: string[],
    readonly unexpected: string[],
    readonly mismatched: string[],
  ) {
    const parts = [
      missing.length ? `missing keys: ${missing.join(', ')}` : '',
      unexpected.length ? `unexpected keys: ${unexpected.join(', ')}` : '',
      mismatched.length ? `shape mismatches: ${mismatched.join('; ')}` : '',
    ].filter(Boolean);
    super(`loadStateDict: ${parts.join(' | ')}`);
  }
}

const NAME = /^[^.]+$/;

/**
 * Base class of every layer and model: a tree of named parameters, buffers and child modules.
 * Subclasses register what they own in the constructor and define their own `forward`.
 */
export class Module {
  /** Training mode: Dropout and DropPath are active only while true. Set by train()/eval(). */
  training = true;
  private readonly _params = new Map<string, Tensor | null>();
  private readonly _buffers = new Map<string, { t: Tensor | null; persistent: boolean }>();
  private readonly _children = new Map<string, Module>();

  /** Makes `t` the parameter `name` (a leaf with requiresGrad = true; null registers an absent one).
   * Registering the tensor of another module ties the two (one tensor, two names). */
  registerParameter(name: string, t: Tensor | null): Tensor | null {
    this.checkName(name, this._buffers, this._children);
    if (t) {
      if (!t.isLeaf)
        throw new Error(`registerParameter('${name}'): a parameter must be a leaf tensor; detach() it first`);
      t.requiresGrad = true;
      keep(t); // module state outlives any enclosing tidy()
    }
    this._params.set(name, t);
    return t;
  }

  /** Registers a buffer: state that is not trained (running stats, index tables). Non-persistent
   * buffers are left out of stateDict(). */
  registerBuffer(name: string, t: Tensor | null, opts: { persistent?: boolean } = {}): Tensor | null {
    this.checkName(name, this._params, this._children);
    if (t) keep(t);
    this._buffers.set(name, { t, persistent: opts.persistent ?? true });
    return t;
  }

  /** Registers a child module under `name` (any dot-free string: 'query', '0', 'LayerNorm'). */
  registerModule<M extends Module>(name: string, m: M): M {
    this.checkName(name, this._params, this._buffers);
    this._children.set(name, m);
    return m;
  }

  private checkName(name: string, ...others: Map<string, unknown>[]): void {
    if (!NAME.test(name)) throw new Error(`${this.constructor.name}: invalid name '${name}' (non-empty, no dots)`);
    if (others.some((m) => m.has(name)))
      throw new Error(`${this.constructor.name}: '${name}' is already registered as another kind`);
  }

  /** The registered parameter `name`; throws if it is absent. */
  protected param(name: string): Tensor {
    const p = this._params.get(name);
    if (!p) throw new Error(`${this.constructor.name}: no parameter '${name}'`);
    return p;
  }
  /** The registered parameter `name`, or null when registered as absent (an optional bias). */
  protected paramOrNull(name: string): Tensor | null {
    return this._params.get(name) ?? null;
  }
  protected buffer(name: string): Tensor | null {
    return this._buffers.get(name)?.t ?? null;
  }

  /** Direct children, in registration order. */
  namedChildren(): [string, Module][] {
    return [...this._children];
  }
  children(): Module[] {
    return [...this._children.values()];
  }

  /** This module and every descendant (each once), with dotted paths; this one is ''. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const visit = (m: Module, path: string): void => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([path, m]);
      for (const [n, c] of m._children) visit(c, path ? `${path}.${n}` : n);
    };
    visit(this, prefix);
    return out;
  }
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** The descendant at a dotted path ('' is this module). */
  getSubmodule(path: string): Module {
    let m: Module = this;
    for (const part of path ? path.split('.') : []) {
      const c = m._children.get(part);
      if (!c) throw new Error(`getSubmodule: no module '${path}' (stopped at '${part}')`);
      m = c;
    }
    return m;
  }

  /** (dotted name, tensor) over the tree, without de-duplication: parameters, all buffers, or the
   * checkpoint state (per module: parameters, then persistent buffers, then children, as PyTorch). */
  private walk(kind: 'params' | 'buffers' | 'state'): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const visit = (m: Module, prefix: string): void => {
      if (kind !== 'buffers') for (const [n, t] of m._params) if (t) out.push([prefix + n, t]);
      for (const [n, b] of m._buffers) {
        if (b.t && kind !== 'params' && (b.persistent || kind === 'buffers')) out.push([prefix + n, b.t]);
      }
      for (const [n, c] of m._children) visit(c, `${prefix}${n}.`);
    };
    visit(this, '');
    return out;
  }

  /** Parameters with dotted names; a tied tensor appears once, under its first name (PyTorch's
   * remove_duplicate). */
  namedParameters(): [string, Tensor][] {
    return dedupe(this.walk('params'));
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }
  namedBuffers(): [string, Tensor][] {
    return dedupe(this.walk('buffers'));
  }
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }

  /** Number of parameter elements, tied tensors counted once. */
  numParameters(opts: { trainableOnly?: boolean } = {}): number {
    return this.parameters()
      .filter((p) => !opts.trainableOnly || p.requiresGrad)
      .reduce((n, p) => n + p.size, 0);
  }

  /** Sets training mode on this module and all descendants. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Drops and disposes every parameter's gradient (PyTorch's zero_grad(set_to_none=True); see
   * Optimizer.zeroGrad for why it disposes). */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Calls fn on every descendant, children before parents (PyTorch order); for custom init. */
  apply(fn: (m: Module) => void): this {
    for (const c of this._children.values()) c.apply(fn);
    fn(this);
    return this;
  }

  /** Freezes (false) or unfreezes (true) every parameter of this subtree. */
  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  /** Parameters and persistent buffers by dotted name, detached; tied tensors appear under every
   * name (as PyTorch's state_dict). The tensors share the storage the module holds now. */
  stateDict(): TensorDict {
    const sd: TensorDict = {};
    for (const [n, t] of this.walk('state')) sd[n] = t.detach();
    return sd;
  }

  /**
   * Copies `sd` into this module's parameters and buffers (converted to each one's dtype and
   * device). Shape mismatches always throw; missing and unexpected keys throw when `strict`
   * (the default) and are returned otherwise. The error lists every offending key.
   */
  loadStateDict(sd: TensorDict, opts: { strict?: boolean } = {}): { missing: string[]; unexpected: string[] } {
    const strict = opts.strict ?? true;
    const own = new Map(this.walk('state'));
    const missing = [...own.keys()].filter((k) => !Object.hasOwn(sd, k));
    const unexpected = Object.keys(sd).filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [k, t] of own) {
      const v = Object.hasOwn(sd, k) ? sd[k] : undefined;
      if (v && v.shape.join() !== t.shape.join())
        mismatched.push(`${k}: checkpoint [${v.shape}] vs module [${t.shape}]`);
    }
    if (mismatched.length || (strict && (missing.length || unexpected.length))) {
      throw new StateDictError(missing, strict ? unexpected : [], mismatched);
    }
    noGrad(() => {
      for (const [k, t] of own) {
        if (!Object.hasOwn(sd, k)) continue;
        const v = sd[k];
        const moved = v.backend === t.backend ? v : v.to(t.backend);
        t.assign(moved.dtype === t.dtype ? cloneData(moved) : moved.to(t.dtype));
      }
    });
    return { missing, unexpected };
  }

  /**
   * Converts every float parameter and buffer to `dtype`. A tensor's dtype is fixed, so each one is
   * replaced by a converted tensor, registered under the same names: ties stay tied (one new tensor
   * per old one) and layer accessors see the new tensors, but references held outside (an
   * optimizer, a variable) keep the old ones, so build optimizers after calling this. int32
   * buffers are left alone; gradients are dropped.
   *
   * Given a device instead (a Backend or its name, e.g. 'webgpu'), moves every parameter and
   * buffer there, the same way. Moving reads synchronously, so it works from host devices (the
   * usual case: build on 'cpu', then `.to('webgpu')`).
   */
  to(target: Exclude<DType, 'int32'> | Backend | string): this {
    const dtype = target === 'float32' || target === 'float64' ? target : null;
    const device = dtype ? null : typeof target === 'string' ? getBackend(target) : (target as Backend);
    const converted = new Map<Tensor, Tensor>();
    const convert = (t: Tensor): Tensor => {
      if (dtype ? t.dtype === dtype || t.dtype === 'int32' : t.backend === device) return t;
      let c = converted.get(t);
      if (!c) {
        c = keep(noGrad(() => t.to(dtype ?? device!)));
        c.requiresGrad = t.requiresGrad;
        converted.set(t, c);
      }
      return c;
    };
    for (const m of this.modules()) {
      for (const [n, t] of m._params) if (t) m._params.set(n, convert(t));
      for (const b of m._buffers.values()) if (b.t) b.t = convert(b.t);
    }
    return this;
  }
}

function dedupe(entries: [string, Tensor][]): [string, Tensor][] {
  const seen = new Set<Tensor>();
  return entries.filter(([, t]) => {
    if (seen.has(t)) return false;
    seen.add(t);
    return true;
  });
}
