/** Every primitive, in one list. Tests iterate it, so an op without test inputs fails the suite. */
import { ATTENTION_OPS } from './attention.js';
import { BINARY_OPS } from './binary.js';
import { FUSED_OPS } from './fused.js';
import { GELU_OPS } from './gelu.js';
import { GATHER_OPS } from './gather.js';
import { HEADS_ATTENTION_OPS } from './heads_attention.js';
import { matmul } from './matmul.js';
import { MOVEMENT_OPS } from './movement.js';
import { REDUCE_OPS } from './reduce.js';
import { UNARY_OPS } from './unary.js';

export const ALL_OPS = [
  ...UNARY_OPS,
  ...BINARY_OPS,
  ...REDUCE_OPS,
  ...MOVEMENT_OPS,
  matmul,
  ...GATHER_OPS,
  ...GELU_OPS,
  ...FUSED_OPS,
  ...ATTENTION_OPS,
  ...HEADS_ATTENTION_OPS,
] as const;
export type OpName = (typeof ALL_OPS)[number]['name'];

const names = ALL_OPS.map((op) => op.name);
if (new Set(names).size !== names.length) throw new Error(`duplicate op names in ALL_OPS: ${names}`);
