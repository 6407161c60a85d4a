/**
 * WebAssembly opcodes used by vlgrad's emitted kernels, named as in the text format
 * (`f32x4.add`, `local.get`). Only what the kernels need is listed; see the core spec
 * ("Binary format / Instructions") and the SIMD proposal for the full tables.
 */

/** Value types as they appear in signatures and local declarations. */
export const ValType = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b } as const;
export type ValTypeName = keyof typeof ValType;

/** Section ids, in the order the binary format requires them. */
export const Section = { type: 1, import: 2, function: 3, export: 7, code: 10 } as const;

/** Single-byte opcodes of the core instruction set. */
export const Op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  br_if: 0x0d,
  call: 0x10,
  select: 0x1b,
  'local.get': 0x20,
  'local.set': 0x21,
  'local.tee': 0x22,
  'i32.load': 0x28,
  'f32.load': 0x2a,
  'f64.load': 0x2b,
  'f32.store': 0x38,
  'f64.store': 0x39,
  'i32.const': 0x41,
  'f32.const': 0x43,
  'f64.const': 0x44,
  'i32.eq': 0x46,
  'i32.lt_s': 0x48,
  'i32.gt_s': 0x4a,
  'i32.ge_s': 0x4e,
  'i32.add': 0x6a,
  'i32.sub': 0x6b,
  'i32.mul': 0x6c,
  'i32.div_s': 0x6d,
  'i32.and': 0x71,
  'i32.or': 0x72,
  'i32.shl': 0x74,
  'f32.sqrt': 0x91,
  'f32.convert_i32_s': 0xb2,
  'f32.add': 0x92,
  'f32.sub': 0x93,
  'f32.mul': 0x94,
  'f32.div': 0x95,
  'f32.max': 0x97,
  'f64.sqrt': 0x9f,
  'f64.add': 0xa0,
  'f64.sub': 0xa1,
  'f64.mul': 0xa2,
  'f64.div': 0xa3,
  'f32.demote_f64': 0xb6,
  'f64.convert_i32_s': 0xb7,
  'f64.promote_f32': 0xbb,
} as const;
export type OpName = keyof typeof Op;

/** Prefix byte of the bulk-memory instructions; `memory.copy` is 0xfc 10 followed by two memory indices (0, 0). */
export const BULK_PREFIX = 0xfc;
export const MEMORY_COPY = 10;

/** Prefix byte of every SIMD instruction; the SIMD opcode follows as an unsigned LEB128. */
export const SIMD_PREFIX = 0xfd;

/** SIMD opcodes (after the 0xfd prefix). */
export const SimdOp = {
  'v128.load': 0x00,
  'v128.load32_splat': 0x09,
  'v128.store': 0x0b,
  'v128.const': 0x0c,
  'i8x16.shuffle': 0x0d,
  'i32x4.splat': 0x11,
  'f32x4.splat': 0x13,
  'f64x2.splat': 0x14,
  'f32x4.extract_lane': 0x1f,
  'f64x2.extract_lane': 0x21,
  'i32x4.eq': 0x37,
  'i32x4.gt_s': 0x3b,
  'i32x4.ge_s': 0x3f,
  'f32x4.ge': 0x46,
  'v128.and': 0x4e,
  'v128.or': 0x50,
  'v128.xor': 0x51,
  'f32x4.demote_f64x2_zero': 0x5e,
  'f64x2.promote_low_f32x4': 0x5f,
  'f32x4.nearest': 0x6a,
  'i32x4.shl': 0xab,
  'i32x4.shr_u': 0xad,
  'i32x4.add': 0xae,
  'i32x4.mul': 0xb5,
  'f32x4.add': 0xe4,
  'f32x4.sub': 0xe5,
  'f32x4.mul': 0xe6,
  'f32x4.neg': 0xe1,
  'f32x4.sqrt': 0xe3,
  'f32x4.div': 0xe7,
  'f32x4.min': 0xe8,
  'f32x4.max': 0xe9,
  'f32x4.pmin': 0xea,
  'f32x4.pmax': 0xeb,
  'f64x2.sqrt': 0xef,
  'f64x2.add': 0xf0,
  'f64x2.sub': 0xf1,
  'f64x2.mul': 0xf2,
  'f64x2.div': 0xf3,
  'i32x4.trunc_sat_f32x4_s': 0xf8,
  /** Relaxed SIMD (a*b + c, fused or not as the engine likes); not in Node 20 without a flag. */
  'f32x4.relaxed_madd': 0x105,
} as const;
export type SimdOpName = keyof typeof SimdOp;

/** Natural alignment (log2 bytes) of each memory access, used as the default align hint. */
export const NATURAL_ALIGN: Partial<Record<OpName | SimdOpName, number>> = {
  'i32.load': 2,
  'f32.load': 2,
  'f32.store': 2,
  'f64.load': 3,
  'f64.store': 3,
  'v128.load': 4,
  'v128.store': 4,
  'v128.load32_splat': 2,
};
