/**
 * A tiny WebAssembly binary emitter. Instructions are byte arrays (`Code`) built by functions
 * named after the text format, so `f32x4.add(a, b)` reads like `(f32x4.add a b)`: operands are
 * emitted first, then the opcode, exactly as the stack machine consumes them.
 * A `ModuleBuilder` collects functions and writes the sections. No validation happens here:
 * `WebAssembly.validate` / `new WebAssembly.Module` is the checker.
 */
import {
  BULK_PREFIX,
  MEMORY_COPY,
  NATURAL_ALIGN,
  Op,
  Section,
  SIMD_PREFIX,
  SimdOp,
  ValType,
  type OpName,
  type SimdOpName,
  type ValTypeName,
} from './opcodes.js';

/**
 * A sequence of encoded instruction bytes, possibly nested: an instruction holds its operands'
 * arrays rather than copies of their bytes, and `Func.encode` flattens the tree once. Copying
 * operands at every level cost O(bytes x depth) and made the GEMM module take 15-60 ms to emit
 * in a fresh process (interpreted code and garbage collection), on the first matmul's path.
 */
export type Code = (number | Code)[];

/** Unsigned LEB128 (sizes, indices, offsets). */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (i32.const immediates). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** UTF-8 name with its length prefix (import/export names). */
function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

/** Appends `bytes` to `out` (a loop: spreading a long array into push or a literal is slow and
 * makes garbage, which dominated emission in a fresh process). */
function append(out: number[], bytes: readonly number[]): number[] {
  for (let i = 0; i < bytes.length; i++) out.push(bytes[i]!);
  return out;
}

/** A length-prefixed vector of already-encoded items. */
function vec(items: readonly (readonly number[])[]): number[] {
  const out = uleb(items.length);
  for (const item of items) append(out, item);
  return out;
}

/** Concatenates instruction sequences (a block body). */
export function seq(...parts: Code[]): Code {
  return parts;
}

/** Appends the flat bytes of `code` to `out`, depth first. */
function emitInto(code: Code, out: number[]): void {
  for (let i = 0; i < code.length; i++) {
    const c = code[i]!;
    if (typeof c === 'number') out.push(c);
    else emitInto(c, out);
  }
}

/** The flat bytes of `code`. */
export function flatten(code: Code): number[] {
  const out: number[] = [];
  emitInto(code, out);
  return out;
}

const op = (o: OpName, ...operands: Code[]): Code => [operands, Op[o]];
const simd = (o: SimdOpName, ...operands: Code[]): Code => [operands, SIMD_PREFIX, uleb(SimdOp[o])];
const memarg = (o: OpName | SimdOpName, offset: number): Code => [NATURAL_ALIGN[o] ?? 0, uleb(offset)];
const load = (o: OpName, addr: Code, offset = 0): Code => [addr, Op[o], memarg(o, offset)];
const store = (o: OpName, addr: Code, value: Code, offset = 0): Code => [addr, value, Op[o], memarg(o, offset)];
const simdMem = (o: SimdOpName, offset: number, ...operands: Code[]): Code => [simd(o, ...operands), memarg(o, offset)];

/** Local variable access. Locals are numbered params first, then declared locals. */
export const local = {
  get: (i: number): Code => [Op['local.get'], uleb(i)],
  set: (i: number, value: Code): Code => [value, Op['local.set'], uleb(i)],
  tee: (i: number, value: Code): Code => [value, Op['local.tee'], uleb(i)],
};
/** Shorthand for `local.get`, the most frequent instruction by far. */
export const get = local.get;

/** i32 arithmetic, comparisons and memory access. */
export const i32 = {
  const: (n: number): Code => [Op['i32.const'], sleb(n)],
  add: (a: Code, b: Code) => op('i32.add', a, b),
  sub: (a: Code, b: Code) => op('i32.sub', a, b),
  mul: (a: Code, b: Code) => op('i32.mul', a, b),
  div_s: (a: Code, b: Code) => op('i32.div_s', a, b),
  and: (a: Code, b: Code) => op('i32.and', a, b),
  or: (a: Code, b: Code) => op('i32.or', a, b),
  shl: (a: Code, b: Code) => op('i32.shl', a, b),
  eq: (a: Code, b: Code) => op('i32.eq', a, b),
  lt_s: (a: Code, b: Code) => op('i32.lt_s', a, b),
  gt_s: (a: Code, b: Code) => op('i32.gt_s', a, b),
  ge_s: (a: Code, b: Code) => op('i32.ge_s', a, b),
  /** Signed minimum via `select` (no branch). */
  min_s: (a: Code, b: Code): Code => [a, b, a, b, Op['i32.lt_s'], Op.select],
  load: (addr: Code, offset = 0) => load('i32.load', addr, offset),
};

/** Scalar f32 arithmetic and memory access. */
export const f32 = {
  const: (x: number): Code => [Op['f32.const'], ...new Uint8Array(new Float32Array([x]).buffer)],
  add: (a: Code, b: Code) => op('f32.add', a, b),
  sub: (a: Code, b: Code) => op('f32.sub', a, b),
  mul: (a: Code, b: Code) => op('f32.mul', a, b),
  div: (a: Code, b: Code) => op('f32.div', a, b),
  max: (a: Code, b: Code) => op('f32.max', a, b),
  sqrt: (a: Code) => op('f32.sqrt', a),
  convert_i32_s: (a: Code) => op('f32.convert_i32_s', a),
  load: (addr: Code, offset = 0) => load('f32.load', addr, offset),
  store: (addr: Code, value: Code, offset = 0) => store('f32.store', addr, value, offset),
};

/** f64 scalar arithmetic and memory access, and the conversions to and from f32. */
export const f64 = {
  const: (x: number): Code => [Op['f64.const'], ...new Uint8Array(new Float64Array([x]).buffer)],
  add: (a: Code, b: Code) => op('f64.add', a, b),
  sub: (a: Code, b: Code) => op('f64.sub', a, b),
  mul: (a: Code, b: Code) => op('f64.mul', a, b),
  div: (a: Code, b: Code) => op('f64.div', a, b),
  sqrt: (a: Code) => op('f64.sqrt', a),
  convert_i32_s: (a: Code) => op('f64.convert_i32_s', a),
  /** An f32 value widened (exactly) to f64. */
  promote_f32: (a: Code) => op('f64.promote_f32', a),
  /** An f64 value rounded to f32 (to nearest, ties to even, as a Float32Array store). */
  demote_to_f32: (a: Code) => op('f32.demote_f64', a),
  load: (addr: Code, offset = 0) => load('f64.load', addr, offset),
  store: (addr: Code, value: Code, offset = 0) => store('f64.store', addr, value, offset),
};

/** 128-bit vector memory access and constants. */
export const v128 = {
  load: (addr: Code, offset = 0) => simdMem('v128.load', offset, addr),
  store: (addr: Code, value: Code, offset = 0) => simdMem('v128.store', offset, addr, value),
  /** Loads one f32 and broadcasts it to all four lanes (x86: vbroadcastss). */
  load32_splat: (addr: Code, offset = 0) => simdMem('v128.load32_splat', offset, addr),
  zero: (): Code => [SIMD_PREFIX, uleb(SimdOp['v128.const']), new Array<number>(16).fill(0)],
  and: (a: Code, b: Code) => simd('v128.and', a, b),
  or: (a: Code, b: Code) => simd('v128.or', a, b),
  xor: (a: Code, b: Code) => simd('v128.xor', a, b),
  /**
   * Picks four 32-bit lanes from the eight of (a, b): lanes 0-3 are a's, 4-7 are b's.
   * Encoded as i8x16.shuffle, which V8 turns into unpcklps/shufps-style instructions.
   */
  shuffle32: (a: Code, b: Code, lanes: readonly [number, number, number, number]): Code => [
    simd('i8x16.shuffle', a, b),
    lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]),
  ],
};

/** Two-lane f64 vector arithmetic (the float64 accumulators of sums of float32 lanes). */
export const f64x2 = {
  splat: (x: Code) => simd('f64x2.splat', x),
  add: (a: Code, b: Code) => simd('f64x2.add', a, b),
  sub: (a: Code, b: Code) => simd('f64x2.sub', a, b),
  mul: (a: Code, b: Code) => simd('f64x2.mul', a, b),
  div: (a: Code, b: Code) => simd('f64x2.div', a, b),
  sqrt: (a: Code) => simd('f64x2.sqrt', a),
  extract_lane: (a: Code, lane: number): Code => [simd('f64x2.extract_lane', a), lane],
  /** Lanes 0 and 1 of an f32x4, widened. */
  promote_low_f32x4: (a: Code) => simd('f64x2.promote_low_f32x4', a),
};

/** Four-lane f32 vector arithmetic. */
export const f32x4 = {
  /** The two f64 lanes rounded to f32 in lanes 0 and 1; lanes 2 and 3 are 0. */
  demote_f64x2_zero: (a: Code) => simd('f32x4.demote_f64x2_zero', a),
  splat: (x: Code) => simd('f32x4.splat', x),
  add: (a: Code, b: Code) => simd('f32x4.add', a, b),
  sub: (a: Code, b: Code) => simd('f32x4.sub', a, b),
  mul: (a: Code, b: Code) => simd('f32x4.mul', a, b),
  /**
   * a * b + c, relaxed SIMD: the engine may fuse it (one rounding, x86 FMA3) or not, so results
   * can differ in the last bit between machines. Validate before use: Node 20 needs a flag.
   */
  relaxed_madd: (a: Code, b: Code, c: Code) => simd('f32x4.relaxed_madd', a, b, c),
  div: (a: Code, b: Code) => simd('f32x4.div', a, b),
  neg: (a: Code) => simd('f32x4.neg', a),
  /** Correctly rounded square root, lane-wise. */
  sqrt: (a: Code) => simd('f32x4.sqrt', a),
  min: (a: Code, b: Code) => simd('f32x4.min', a, b),
  max: (a: Code, b: Code) => simd('f32x4.max', a, b),
  /**
   * b < a ? b : a, and a < b ? b : a: one x86 instruction each (minps/maxps), where min and max
   * cost ~7 (NaN and ±0 handling). A NaN in a stays NaN, so clamping a value x as
   * pmin(pmax(x, lo), hi) gives what min/max give, NaN included (as another NaN bit pattern).
   */
  pmin: (a: Code, b: Code) => simd('f32x4.pmin', a, b),
  pmax: (a: Code, b: Code) => simd('f32x4.pmax', a, b),
  /** Lane mask: all ones where a >= b. */
  ge: (a: Code, b: Code) => simd('f32x4.ge', a, b),
  /** Round to nearest, ties to even. */
  nearest: (a: Code) => simd('f32x4.nearest', a),
  extract_lane: (a: Code, lane: number): Code => [simd('f32x4.extract_lane', a), lane],
};

/** Four-lane i32 vector arithmetic (building floats from bits; the dropout mask's generator). */
export const i32x4 = {
  splat: (n: number) => simd('i32x4.splat', i32.const(n)),
  /** An i32 value (a local, say) in all four lanes. */
  splatOf: (x: Code) => simd('i32x4.splat', x),
  add: (a: Code, b: Code) => simd('i32x4.add', a, b),
  /** Lane-wise product, low 32 bits (Math.imul). */
  mul: (a: Code, b: Code) => simd('i32x4.mul', a, b),
  shl: (a: Code, bits: Code) => simd('i32x4.shl', a, bits),
  shr_u: (a: Code, bits: Code) => simd('i32x4.shr_u', a, bits),
  /** Lane masks (all ones where true), signed comparisons. */
  eq: (a: Code, b: Code) => simd('i32x4.eq', a, b),
  gt_s: (a: Code, b: Code) => simd('i32x4.gt_s', a, b),
  ge_s: (a: Code, b: Code) => simd('i32x4.ge_s', a, b),
  /** f32 lanes to i32, saturating (the lanes here are already integral). */
  trunc_sat_f32x4_s: (a: Code) => simd('i32x4.trunc_sat_f32x4_s', a),
};

const EMPTY_BLOCK = 0x40;
/** Bulk memory: `memory.copy` of `bytes` bytes from `src` to `dst` (byte addresses; overlap allowed, as memmove). */
export const memory = {
  copy: (dst: Code, src: Code, bytes: Code): Code => [dst, src, bytes, BULK_PREFIX, uleb(MEMORY_COPY), 0, 0],
};

/** Structured control flow. Branch depths count enclosing blocks outward from 0. */
export const ctl = {
  block: (...body: Code[]): Code => [Op.block, EMPTY_BLOCK, body, Op.end],
  loop: (...body: Code[]): Code => [Op.loop, EMPTY_BLOCK, body, Op.end],
  if: (cond: Code, then: Code, otherwise?: Code): Code => [
    cond,
    Op.if,
    EMPTY_BLOCK,
    then,
    otherwise ? [Op.else, otherwise] : [],
    Op.end,
  ],
  br: (depth: number): Code => [Op.br, uleb(depth)],
  br_if: (depth: number, cond: Code): Code => [cond, Op.br_if, uleb(depth)],
  call: (fn: Func, ...args: Code[]): Code => [args, Op.call, uleb(fn.index)],
};

/**
 * `for (i = from; i < to; i += step) body`. `to` is re-evaluated every iteration, so pass a
 * local or a constant. The body must not branch out by depth (it sits two blocks deep).
 */
export function forRange(i: number, from: Code, to: Code, step: Code, ...body: Code[]): Code {
  return seq(
    local.set(i, from),
    ctl.block(ctl.loop(ctl.br_if(1, i32.ge_s(get(i), to)), ...body, local.set(i, i32.add(get(i), step)), ctl.br(0))),
  );
}

/** One function: its signature, its extra locals and its body. */
export class Func {
  readonly locals: ValTypeName[] = [];
  body: Code = [];
  constructor(
    readonly index: number,
    readonly exportName: string | undefined,
    readonly params: readonly ValTypeName[],
    readonly results: readonly ValTypeName[],
  ) {}

  /** Declares a fresh local and returns its index. */
  local(type: ValTypeName): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }

  encode(): number[] {
    // Locals are declared as (count, type) runs; one run per local keeps this simple.
    const bytes = vec(this.locals.map((t) => [1, ValType[t]]));
    emitInto(this.body, bytes);
    bytes.push(Op.end);
    return append(uleb(bytes.length), bytes);
  }
}

/** Collects functions and an imported memory, then writes a module binary. */
export class ModuleBuilder {
  private readonly funcs: Func[] = [];
  private memory?: { module: string; field: string; min: number; max: number; shared: boolean };

  /** Imports `module.field` as the module's linear memory (limits in 64 KiB pages). */
  importMemory(module: string, field: string, min: number, max: number, shared: boolean): void {
    this.memory = { module, field, min, max, shared };
  }

  /** Declares a function; fill in `body` later, so functions can call each other in any order. */
  func(params: readonly ValTypeName[], results: readonly ValTypeName[] = [], exportName?: string): Func {
    const f = new Func(this.funcs.length, exportName, params, results);
    this.funcs.push(f);
    return f;
  }

  build(): Uint8Array<ArrayBuffer> {
    const section = (id: number, body: number[]): number[] => append([id, ...uleb(body.length)], body);
    const sigs = this.funcs.map((f) => [
      0x60,
      ...vec(f.params.map((p) => [ValType[p]])),
      ...vec(f.results.map((r) => [ValType[r]])),
    ]);
    const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]; // "\0asm", version 1
    append(out, section(Section.type, vec(sigs)));
    if (this.memory) {
      const m = this.memory;
      const limits = [m.shared ? 0x03 : 0x01, ...uleb(m.min), ...uleb(m.max)];
      append(out, section(Section.import, vec([[...name(m.module), ...name(m.field), 0x02, ...limits]])));
    }
    // One type per function (no dedup): a few bytes wasted, one less table to read.
    append(out, section(Section.function, vec(this.funcs.map((f) => uleb(f.index)))));
    const exported = this.funcs.filter((f) => f.exportName !== undefined);
    append(out, section(Section.export, vec(exported.map((f) => [...name(f.exportName!), 0x00, ...uleb(f.index)]))));
    append(out, section(Section.code, vec(this.funcs.map((f) => f.encode()))));
    return new Uint8Array(out);
  }
}
