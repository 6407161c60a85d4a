/**
 * The PyTorch fixture ops (test/fixtures/engine/*.json) as vlgrad calls, shared by the parity test
 * (test/engine/torch_parity.test.ts) and the device conformance replay
 * (test/kernels/conformance_torch.test.ts); both fail on a fixture op missing here.
 */
import * as vl from '../../engine/index.js';
import type { Tensor, TensorLike } from '../../engine/index.js';
import type { SliceSpec } from '../../engine/ops/movement.js';

type Reduction = 'mean' | 'sum' | 'none';
/** The non-tensor arguments, in vlgrad's spelling (gen_torch.py reads the same names). */
export interface Kw {
  other?: number;
  self?: number;
  value?: number;
  min?: number;
  max?: number;
  approximate?: 'none' | 'tanh';
  dtype?: 'float32' | 'float64';
  dim?: number | number[];
  keepdim?: boolean;
  unbiased?: boolean;
  correction?: number;
  p?: number | 'inf';
  shape?: number[];
  dims?: number[];
  startDim?: number;
  endDim?: number;
  d0?: number;
  d1?: number;
  start?: number;
  length?: number;
  specs?: ((number | null)[] | null)[];
  sizes?: number | number[];
  chunks?: number;
  pads?: number[];
  reps?: number[];
  numClasses?: number;
  normalizedShape?: number[];
  eps?: number;
  ignoreIndex?: number;
  labelSmoothing?: number;
  reduction?: Reduction | 'batchmean';
  logTarget?: boolean;
}
export type OpFn = (xs: Tensor[], kw: Kw) => Tensor | Tensor[];

/** Tensor-tensor, or a scalar on the left (`self`) or right (`other`). */
const binary =
  (f: (a: TensorLike, b: TensorLike) => Tensor): OpFn =>
  ([a, b], kw) =>
    kw.self !== undefined ? f(kw.self, a) : f(a, kw.other ?? b);
const oneDim = (kw: Kw): number | undefined => kw.dim as number | undefined;
const specs = (kw: Kw): (number | undefined)[][] => kw.specs!.map((s) => (s ?? []).map((v) => v ?? undefined));
const reduction = (kw: Kw): Reduction => (kw.reduction ?? 'mean') as Reduction;

/** Case op name -> the vlgrad call. Every public op of the API has an entry. */
export const OPS: Record<string, OpFn> = {
  neg: ([x]) => x.neg(),
  exp: ([x]) => x.exp(),
  expm1: ([x]) => x.expm1(),
  log: ([x]) => x.log(),
  log1p: ([x]) => x.log1p(),
  sqrt: ([x]) => x.sqrt(),
  rsqrt: ([x]) => x.rsqrt(),
  abs: ([x]) => x.abs(),
  sign: ([x]) => x.sign(),
  tanh: ([x]) => x.tanh(),
  sigmoid: ([x]) => x.sigmoid(),
  relu: ([x]) => x.relu(),
  silu: ([x]) => x.silu(),
  sin: ([x]) => x.sin(),
  cos: ([x]) => x.cos(),
  erf: ([x]) => x.erf(),
  gelu: ([x], kw) => x.gelu(kw.approximate),
  clamp: ([x], kw) => x.clamp(kw.min, kw.max),
  to: ([x], kw) => x.to(kw.dtype!),
  add: binary(vl.add),
  sub: binary(vl.sub),
  mul: binary(vl.mul),
  div: binary(vl.div),
  pow: binary(vl.pow),
  maximum: binary(vl.maximum),
  minimum: binary(vl.minimum),
  eq: binary(vl.eq),
  ne: binary(vl.ne),
  lt: binary(vl.lt),
  le: binary(vl.le),
  gt: binary(vl.gt),
  ge: binary(vl.ge),
  where: ([c, a, b], kw) => (kw.other !== undefined ? a.where(c, kw.other) : vl.where(c, a, b)),
  maskedFill: ([x, m], kw) => x.maskedFill(m, kw.value!),

  sum: ([x], kw) => x.sum(kw.dim, kw.keepdim),
  mean: ([x], kw) => x.mean(kw.dim, kw.keepdim),
  amax: ([x], kw) => x.amax(kw.dim, kw.keepdim),
  amin: ([x], kw) => x.amin(kw.dim, kw.keepdim),
  max: ([x], kw) => x.max(oneDim(kw), kw.keepdim),
  min: ([x], kw) => x.min(oneDim(kw), kw.keepdim),
  argmax: ([x], kw) => x.argmax(oneDim(kw), kw.keepdim),
  argmin: ([x], kw) => x.argmin(oneDim(kw), kw.keepdim),
  var: ([x], kw) => x.var(kw.dim, { correction: kw.correction, unbiased: kw.unbiased, keepdim: kw.keepdim }),
  std: ([x], kw) => x.std(kw.dim, { correction: kw.correction, unbiased: kw.unbiased, keepdim: kw.keepdim }),
  logsumexp: ([x], kw) => x.logsumexp(kw.dim!, kw.keepdim),
  norm: ([x], kw) => x.norm(kw.p === 'inf' ? Infinity : kw.p, kw.dim, kw.keepdim),

  reshape: ([x], kw) => x.reshape(kw.shape!),
  flatten: ([x], kw) => x.flatten(kw.startDim, kw.endDim),
  unsqueeze: ([x], kw) => x.unsqueeze(oneDim(kw)!),
  squeeze: ([x], kw) => x.squeeze(kw.dim),
  permute: ([x], kw) => x.permute(kw.dims!),
  transpose: ([x], kw) => x.transpose(kw.d0!, kw.d1!),
  mT: ([x]) => x.mT(),
  expand: ([x], kw) => x.expand(kw.shape!),
  narrow: ([x], kw) => x.narrow(oneDim(kw)!, kw.start!, kw.length!),
  slice: ([x], kw) => x.slice(specs(kw)),
  sliceAssign: ([base, src], kw) => base.sliceAssign(src, specs(kw) as unknown as SliceSpec[]),
  concat: (xs, kw) => vl.concat(xs, oneDim(kw)),
  stack: (xs, kw) => vl.stack(xs, oneDim(kw)),
  split: ([x], kw) => x.split(kw.sizes!, oneDim(kw)),
  chunk: ([x], kw) => x.chunk(kw.chunks!, oneDim(kw)),
  pad: ([x], kw) => x.pad(kw.pads!, kw.value),
  repeat: ([x], kw) => x.repeat(...kw.reps!),
  matmul: ([a, b]) => a.matmul(b),

  gather: ([x, i], kw) => x.gather(oneDim(kw)!, i),
  scatterAdd: ([x, i, s], kw) => x.scatterAdd(oneDim(kw)!, i, s),
  indexSelect: ([x, i], kw) => x.indexSelect(oneDim(kw)!, i),
  indexAdd: ([x, i, s], kw) => x.indexAdd(oneDim(kw)!, i, s),
  embedding: ([w, ids]) => vl.embedding(w, ids),
  oneHot: ([ids], kw) => vl.oneHot(ids, kw.numClasses!),

  softmax: ([x], kw) => x.softmax(oneDim(kw)),
  logSoftmax: ([x], kw) => x.logSoftmax(oneDim(kw)),
  layerNorm: ([x, w, b], kw) => vl.layerNorm(x, kw.normalizedShape!, w, b, kw.eps),
  crossEntropy: ([x, y], kw) =>
    vl.crossEntropy(x, y, { ignoreIndex: kw.ignoreIndex, labelSmoothing: kw.labelSmoothing, reduction: reduction(kw) }),
  mseLoss: ([x, y], kw) => vl.mseLoss(x, y, reduction(kw)),
  klDiv: ([x, y], kw) => vl.klDiv(x, y, { reduction: kw.reduction, logTarget: kw.logTarget }),
  binaryCrossEntropyWithLogits: ([x, y], kw) => vl.binaryCrossEntropyWithLogits(x, y, reduction(kw)),
};
