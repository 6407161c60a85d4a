/**
 * The emitted f32 GEMM: C = op(A) @ op(B) (+ C), following the BLIS/GotoBLAS loop nest.
 *
 *   for pc in K step KC            // a K block: packed panels stay in L1/L2
 *     for jc in N step NC          // pack B[pc:pc+KC, jc:jc+NC] into NR-wide panels
 *       for ic in rows step MC     // pack A[ic:ic+MC, pc:pc+KC] into MR-tall panels
 *         for jr in NC step NR     // one B panel (KC x NR, ~8 KiB) stays in L1 ...
 *           for ir in MC step MR   // ... while MR x NR tiles of C sweep down the A block
 *             microKernel          // MR x NR accumulators live in v128 registers
 *
 * Operands are addressed by (row stride, column stride) in bytes, so a transposed operand is
 * just swapped strides: packing reads it in whatever order and writes the layout the
 * micro-kernel wants. Every C element is owned by one tile, summed in k order within a K block
 * and then added block after block, so the result does not depend on how rows are split
 * between threads.
 */
import { ctl, f32, forRange, get, i32, local, seq, v128, f32x4, ModuleBuilder, type Code, type Func } from './emit.js';
import { emitGeluKernels } from './gelu_kernel.js';
import { Desc, GELU_KINDS, GELU_UNIT } from './gemm_desc.js';

/** Blocking parameters. MR x NR is the register tile; NR must be a multiple of 4 (one v128). */
export interface GemmConfig {
  readonly MR: number;
  readonly NR: number;
  readonly KC: number;
  readonly MC: number; // multiple of MR
  readonly NC: number; // multiple of NR
  /**
   * Accumulate with relaxed SIMD's f32x4.relaxed_madd instead of f32x4.mul + f32x4.add (only
   * where it validates). Fused on x86 with FMA3, so sums differ from mul + add in the last bits.
   */
  readonly fma?: boolean;
}

/**
 * Tuned on a 2-core Zen 3 (docs/fast_cpu.md). V8 gives wasm 15 of x86's 16 xmm registers (one
 * is its scratch), and 5x8 is the largest tile that fits: 10 accumulators + 2 B vectors + the
 * A splat + one product. 6x8 needs 16 and spills (24 vs 39 GFLOP/s for the kernel alone).
 */
export const DEFAULT_CONFIG: GemmConfig = { MR: 5, NR: 8, KC: 256, MC: 60, NC: 512 };

export { Desc, DESC_BYTES, GELU_KINDS, GELU_UNIT, writeDesc } from './gemm_desc.js';

/** Bytes of per-thread scratch (packed A block, packed B block, one edge tile). */
export function scratchBytes(c: GemmConfig): number {
  return 4 * (c.MC * c.KC + c.KC * c.NC + c.MR * c.NR);
}

/**
 * Micro-kernel: C[MR x NR] (=|+=) packedA[kc x MR] @ packedB[kc x NR].
 * Signature: (kc, pa, pb, pc, ldc, load) with pointers/ldc in bytes; load != 0 means start
 * from the current C (K blocks after the first, or accumulate) instead of zero.
 */
function emitMicroKernel(mod: ModuleBuilder, c: GemmConfig): Func {
  // Exported so tests and benchmarks can time it on its own.
  const fn = mod.func(['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], [], 'microKernel');
  const [kc, pa, pb, pc, ldc, load] = [0, 1, 2, 3, 4, 5];
  const NV = c.NR / 4; // v128 vectors per tile row
  const acc = Array.from({ length: c.MR }, () => Array.from({ length: NV }, () => fn.local('v128')));
  const b = Array.from({ length: NV }, () => fn.local('v128'));
  const a = fn.local('v128');
  const row = fn.local('i32');
  const paEnd = fn.local('i32');
  const rows = [...acc.keys()];
  const cols = [...b.keys()];

  // One k step: NV vectors of B, then per row one broadcast A value times each of them.
  // The loop is deliberately not unrolled. TurboFan hoists all loads of an unrolled body above
  // its arithmetic, which spills on x86 (4x8 by 2: 31 vs 37 GFLOP/s); even spill-free unrolled
  // variants (a mid-loop exit test as a scheduling fence) measured 20-25% slower than this
  // single-step loop, which compiles to a clean load-broadcast-mul-add stream.
  const kLoop = ctl.block(
    ctl.br_if(0, i32.ge_s(get(pa), get(paEnd))),
    ctl.loop(
      ...cols.map((j) => local.set(b[j]!, v128.load(get(pb), 16 * j))),
      ...rows.map((i) =>
        seq(
          local.set(a, v128.load32_splat(get(pa), 4 * i)),
          ...cols.map((j) =>
            local.set(
              acc[i]![j]!,
              c.fma
                ? f32x4.relaxed_madd(get(a), get(b[j]!), get(acc[i]![j]!))
                : f32x4.add(get(acc[i]![j]!), f32x4.mul(get(a), get(b[j]!))),
            ),
          ),
        ),
      ),
      local.set(pa, i32.add(get(pa), i32.const(4 * c.MR))),
      local.set(pb, i32.add(get(pb), i32.const(4 * c.NR))),
      ctl.br_if(0, i32.lt_s(get(pa), get(paEnd))),
    ),
  );
  const eachRow = (f: (i: number) => Code): Code =>
    seq(local.set(row, get(pc)), ...rows.map((i) => seq(f(i), local.set(row, i32.add(get(row), get(ldc))))));

  fn.body = seq(
    ctl.if(
      get(load),
      eachRow((i) => seq(...cols.map((j) => local.set(acc[i]![j]!, v128.load(get(row), 16 * j))))),
      seq(...acc.flat().map((x) => local.set(x, v128.zero()))),
    ),
    local.set(paEnd, i32.add(get(pa), i32.mul(get(kc), i32.const(4 * c.MR)))),
    kLoop,
    eachRow((i) => seq(...cols.map((j) => v128.store(get(row), get(acc[i]![j]!), 16 * j)))),
  );
  return fn;
}

/**
 * Packs a rows x kc block into W-tall panels: panel p holds rows p*W..p*W+W-1 as kc groups of
 * W consecutive floats (k-major), zero-padded past `rows`. Element (r, k) sits at
 * src + r*rs + k*cs, so A packs with (rs, cs) = its (row, col) strides and B with its
 * (col, row) strides. Signature: (src, rows, kc, rs, cs, dst).
 */
function emitPack(mod: ModuleBuilder, W: number): Func {
  const fn = mod.func(['i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [src, rows, kc, rs, cs, dst] = [0, 1, 2, 3, 4, 5];
  const [i, k, n, p, q, kc4] = [
    fn.local('i32'),
    fn.local('i32'),
    fn.local('i32'),
    fn.local('i32'),
    fn.local('i32'),
    fn.local('i32'),
  ];
  const lanes = [...Array(W).keys()];
  const rowOffset = lanes.map(() => fn.local('i32')); // r * rs, hoisted out of the k loop

  // Walks k over [from, kc), with q pointing at element (0, k) of the panel; perK emits the
  // W * step floats of `step` consecutive k.
  const overK = (perK: Code, from: Code = i32.const(0), step = 1): Code =>
    forRange(
      k,
      from,
      step === 1 ? get(kc) : get(kc4),
      i32.const(step),
      local.set(q, i32.add(get(p), i32.mul(get(k), get(cs)))),
      perK,
      local.set(dst, i32.add(get(dst), i32.const(4 * W * step))),
    );
  const load = (r: number, offset = 0): Code => f32.load(i32.add(get(q), get(rowOffset[r]!)), offset);
  const vectorLanes = W - (W % 4); // W=5 (A): one 4-row group plus a scalar row

  // Panel rows adjacent in memory (B as stored, or a transposed A): vector copies per k.
  const copy = (r: number): Code =>
    r >= vectorLanes
      ? f32.store(get(dst), f32.load(get(q), 4 * r), 4 * r)
      : r % 4 === 0
        ? v128.store(get(dst), v128.load(get(q), 4 * r), 4 * r)
        : [];
  const vectorPanel = overK(seq(...lanes.map(copy)));

  // k adjacent in memory (A as stored, or a transposed B: Linear's x @ W^T): load 4 k of 4
  // rows and transpose the 4x4 block in registers, instead of 16 scalar gathers.
  const [x0, x1, x2, x3, t0, t1, t2, t3] = Array.from({ length: 8 }, () => fn.local('v128'));
  const transpose4 = (r: number): Code =>
    seq(
      ...[x0, x1, x2, x3].map((x, d) => local.set(x!, v128.load(i32.add(get(q), get(rowOffset[r + d]!))))),
      local.set(t0!, v128.shuffle32(get(x0!), get(x1!), [0, 4, 1, 5])), // r0k0 r1k0 r0k1 r1k1
      local.set(t1!, v128.shuffle32(get(x2!), get(x3!), [0, 4, 1, 5])), // r2k0 r3k0 r2k1 r3k1
      local.set(t2!, v128.shuffle32(get(x0!), get(x1!), [2, 6, 3, 7])), // r0k2 r1k2 r0k3 r1k3
      local.set(t3!, v128.shuffle32(get(x2!), get(x3!), [2, 6, 3, 7])), // r2k2 r3k2 r2k3 r3k3
      v128.store(get(dst), v128.shuffle32(get(t0!), get(t1!), [0, 1, 4, 5]), 4 * r),
      v128.store(get(dst), v128.shuffle32(get(t0!), get(t1!), [2, 3, 6, 7]), 4 * (W + r)),
      v128.store(get(dst), v128.shuffle32(get(t2!), get(t3!), [0, 1, 4, 5]), 4 * (2 * W + r)),
      v128.store(get(dst), v128.shuffle32(get(t2!), get(t3!), [2, 3, 6, 7]), 4 * (3 * W + r)),
    );
  const scalarRows = (step: number): Code =>
    seq(
      ...lanes
        .filter((r) => r >= vectorLanes)
        .flatMap((r) => Array.from({ length: step }, (_, t) => f32.store(get(dst), load(r, 4 * t), 4 * (t * W + r)))),
    );
  const transposePanel = seq(
    overK(seq(...lanes.filter((r) => r < vectorLanes && r % 4 === 0).map(transpose4), scalarRows(4)), i32.const(0), 4),
    overK(seq(...lanes.map((r) => f32.store(get(dst), load(r), 4 * r))), get(kc4)), // kc % 4 leftovers
  );

  // Anything else: one float at a time.
  const fullPanel = overK(seq(...lanes.map((r) => f32.store(get(dst), load(r), 4 * r))));
  // The last panel: rows past n are zero padding (never loaded: they may lie past memory).
  const partialPanel = overK(
    seq(
      ...lanes.map((r) =>
        ctl.if(
          i32.lt_s(i32.const(r), get(n)),
          f32.store(get(dst), load(r), 4 * r),
          f32.store(get(dst), f32.const(0), 4 * r),
        ),
      ),
    ),
  );

  fn.body = seq(
    ...lanes.map((r) => local.set(rowOffset[r]!, i32.mul(i32.const(r), get(rs)))),
    local.set(kc4, i32.and(get(kc), i32.const(-4))),
    forRange(
      i,
      i32.const(0),
      get(rows),
      i32.const(W),
      local.set(n, i32.min_s(i32.const(W), i32.sub(get(rows), get(i)))),
      local.set(p, i32.add(get(src), i32.mul(get(i), get(rs)))),
      ctl.if(
        i32.lt_s(get(n), i32.const(W)),
        partialPanel,
        ctl.if(
          i32.eq(get(rs), i32.const(4)),
          vectorPanel,
          ctl.if(i32.eq(get(cs), i32.const(4)), transposePanel, fullPanel),
        ),
      ),
    ),
  );
  return fn;
}

/**
 * A tile cut by the matrix edge: run the full micro-kernel on a scratch tile and copy only the
 * rows x cols that exist. Same arithmetic as a full tile, so edge elements round identically.
 * Signature: (kc, pa, pb, pc, ldc, load, rows, cols, tile).
 */
function emitEdgeTile(mod: ModuleBuilder, c: GemmConfig, kernel: Func): Func {
  const fn = mod.func(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [kc, pa, pb, pc, ldc, load, rows, cols, tile] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [r, col] = [fn.local('i32'), fn.local('i32')];
  const cAddr = i32.add(i32.add(get(pc), i32.mul(get(r), get(ldc))), i32.shl(get(col), i32.const(2)));
  const tAddr = i32.add(get(tile), i32.shl(i32.add(i32.mul(get(r), i32.const(c.NR)), get(col)), i32.const(2)));
  const eachElement = (body: Code): Code =>
    forRange(r, i32.const(0), get(rows), i32.const(1), forRange(col, i32.const(0), get(cols), i32.const(1), body));
  fn.body = seq(
    ctl.if(get(load), eachElement(f32.store(tAddr, f32.load(cAddr)))),
    ctl.call(kernel, get(kc), get(pa), get(pb), get(tile), i32.const(4 * c.NR), get(load)),
    eachElement(f32.store(cAddr, f32.load(tAddr))),
  );
  return fn;
}

/**
 * One batch item, output rows [r0, r1): the five-loop nest from the file comment.
 * Signature: (desc, batchIndex, r0, r1, scratch).
 */
function emitGemmItem(
  mod: ModuleBuilder,
  c: GemmConfig,
  fns: Record<'kernel' | 'edge' | 'packA' | 'packB', Func>,
): Func {
  const fn = mod.func(['i32', 'i32', 'i32', 'i32', 'i32']);
  const [desc, bi, r0, r1, scratch] = [0, 1, 2, 3, 4];
  const L = (): number => fn.local('i32');
  const [m, n, k, aRs, aCs, bRs, bCs, ldc, accumulate] = [L(), L(), L(), L(), L(), L(), L(), L(), L()];
  const [aBase, bBase, cBase, packA, packB, scratchTile, bo, bj] = [L(), L(), L(), L(), L(), L(), L(), L()];
  const [pc, kc, jc, nc, ic, mc, jr, ir, rows, cols, load, cTile] = [
    L(),
    L(),
    L(),
    L(),
    L(),
    L(),
    L(),
    L(),
    L(),
    L(),
    L(),
    L(),
  ];
  const field = (f: keyof typeof Desc): Code => i32.load(get(desc), 4 * Desc[f]);
  const batchBase = (ptr: keyof typeof Desc, stride: keyof typeof Desc, inner: keyof typeof Desc): Code =>
    i32.add(field(ptr), i32.add(i32.mul(get(bo), field(stride)), i32.mul(get(bj), field(inner))));
  const mul = (a: number, b: number): Code => i32.mul(get(a), get(b));
  const add = (...xs: Code[]): Code => xs.reduce((s, x) => i32.add(s, x));

  // Panel offsets: panel ir/MR of A starts at (ir/MR) * MR*kc floats = ir*kc; same for B.
  const pa = add(get(packA), i32.shl(mul(ir, kc), i32.const(2)));
  const pb = add(get(packB), i32.shl(mul(jr, kc), i32.const(2)));
  const tile = seq(
    local.set(
      cTile,
      add(get(cBase), i32.mul(i32.add(get(ic), get(ir)), get(ldc)), i32.shl(i32.add(get(jc), get(jr)), i32.const(2))),
    ),
    ctl.if(
      i32.and(i32.eq(get(rows), i32.const(c.MR)), i32.eq(get(cols), i32.const(c.NR))),
      ctl.call(fns.kernel, get(kc), pa, pb, get(cTile), get(ldc), get(load)),
      ctl.call(fns.edge, get(kc), pa, pb, get(cTile), get(ldc), get(load), get(rows), get(cols), get(scratchTile)),
    ),
  );
  const overJr = (body: Code): Code =>
    forRange(
      jr,
      i32.const(0),
      get(nc),
      i32.const(c.NR),
      local.set(cols, i32.min_s(i32.const(c.NR), i32.sub(get(nc), get(jr)))),
      body,
    );
  const overIr = (body: Code): Code =>
    forRange(
      ir,
      i32.const(0),
      get(mc),
      i32.const(c.MR),
      local.set(rows, i32.min_s(i32.const(c.MR), i32.sub(get(mc), get(ir)))),
      body,
    );
  // jr outside ir (BLIS order): one B panel stays in L1 while the A block streams from L2.
  // The swapped order measured the same at NC=512 and worse at smaller NC.
  const innerLoops = overJr(overIr(tile));

  fn.body = seq(
    ...(
      [
        [m, 'm'],
        [n, 'n'],
        [k, 'k'],
        [aRs, 'aRowStride'],
        [aCs, 'aColStride'],
        [bRs, 'bRowStride'],
        [bCs, 'bColStride'],
        [ldc, 'cRowStride'],
        [accumulate, 'accumulate'],
      ] as const
    ).map(([l, f]) => local.set(l, field(f))),
    local.set(bo, i32.div_s(get(bi), field('inner'))),
    local.set(bj, i32.sub(get(bi), i32.mul(get(bo), field('inner')))),
    local.set(aBase, batchBase('aPtr', 'aBatchStride', 'aInnerStride')),
    local.set(bBase, batchBase('bPtr', 'bBatchStride', 'bInnerStride')),
    local.set(cBase, batchBase('cPtr', 'cBatchStride', 'cInnerStride')),
    local.set(packA, get(scratch)),
    local.set(packB, i32.add(get(scratch), i32.const(4 * c.MC * c.KC))),
    local.set(scratchTile, i32.add(get(packB), i32.const(4 * c.KC * c.NC))),
    forRange(
      pc,
      i32.const(0),
      get(k),
      i32.const(c.KC),
      local.set(kc, i32.min_s(i32.const(c.KC), i32.sub(get(k), get(pc)))),
      // Later K blocks add onto the partial sums already in C.
      local.set(load, i32.or(get(accumulate), i32.gt_s(get(pc), i32.const(0)))),
      forRange(
        jc,
        i32.const(0),
        get(n),
        i32.const(c.NC),
        local.set(nc, i32.min_s(i32.const(c.NC), i32.sub(get(n), get(jc)))),
        ctl.call(
          fns.packB,
          add(get(bBase), mul(pc, bRs), mul(jc, bCs)),
          get(nc),
          get(kc),
          get(bCs),
          get(bRs),
          get(packB),
        ),
        forRange(
          ic,
          get(r0),
          get(r1),
          i32.const(c.MC),
          local.set(mc, i32.min_s(i32.const(c.MC), i32.sub(get(r1), get(ic)))),
          ctl.call(
            fns.packA,
            add(get(aBase), mul(ic, aRs), mul(pc, aCs)),
            get(mc),
            get(kc),
            get(aRs),
            get(aCs),
            get(packA),
          ),
          innerLoops,
        ),
      ),
    ),
  );
  return fn;
}

/**
 * geluJob(desc, u0, u1): units [u0, u1) of a GELU job, unit u being floats [u, u + 1) * GELU_UNIT
 * of the n4 (a multiple of 4) at the descriptor's x (g) and y.
 */
function emitGeluJob(mod: ModuleBuilder, gelu: Record<(typeof GELU_KINDS)[number], Func>): Func {
  const fn = mod.func(['i32', 'i32', 'i32'], []);
  const [desc, u0, u1] = [0, 1, 2];
  const [kind, from, to, off] = [fn.local('i32'), fn.local('i32'), fn.local('i32'), fn.local('i32')];
  const field = (f: number): Code => i32.load(get(desc), 4 * f);
  const at = (f: number): Code => i32.add(field(f), get(off));
  const count = i32.sub(get(to), get(from));
  fn.body = seq(
    local.set(kind, field(Desc.kind)),
    local.set(from, i32.mul(get(u0), i32.const(GELU_UNIT))),
    local.set(to, i32.min_s(field(Desc.geluN4), i32.mul(get(u1), i32.const(GELU_UNIT)))),
    local.set(off, i32.shl(get(from), i32.const(2))),
    ...GELU_KINDS.map((name, k) =>
      ctl.if(
        i32.eq(get(kind), i32.const(k + 1)),
        name.endsWith('Bwd')
          ? ctl.call(gelu[name], at(Desc.geluG), at(Desc.geluX), at(Desc.geluY), count)
          : ctl.call(gelu[name], at(Desc.geluX), at(Desc.geluY), count),
      ),
    ),
  );
  return fn;
}

/**
 * Builds the GEMM module. It imports its (shared) memory as `env.memory` and exports
 * `gemm(desc, u0, u1, scratch)`: work units [u0, u1) of the job at `desc`, where unit u is the
 * MR-row tile u % tiles of batch item floor(u / tiles), tiles = ceil(m / MR). `scratch` must
 * point at `scratchBytes(config)` bytes that no other thread uses.
 */
export function buildGemmModule(
  c: GemmConfig = DEFAULT_CONFIG,
  memory = { min: 1, max: 32768, shared: true },
): Uint8Array<ArrayBuffer> {
  if (c.NR % 4 !== 0 || c.MC % c.MR !== 0 || c.NC % c.NR !== 0) {
    throw new Error(`bad GemmConfig ${JSON.stringify(c)}`);
  }
  const mod = new ModuleBuilder();
  mod.importMemory('env', 'memory', memory.min, memory.max, memory.shared);
  const kernel = emitMicroKernel(mod, c);
  const edge = emitEdgeTile(mod, c, kernel);
  const item = emitGemmItem(mod, c, { kernel, edge, packA: emitPack(mod, c.MR), packB: emitPack(mod, c.NR) });

  const gelu = emitGeluKernels(mod);
  const geluJob = emitGeluJob(mod, gelu);

  const gemm = mod.func(['i32', 'i32', 'i32', 'i32'], [], 'gemm');
  const [desc, u0, u1, scratch] = [0, 1, 2, 3];
  const [m, tiles, u, bi, t0, t1] = [
    gemm.local('i32'),
    gemm.local('i32'),
    gemm.local('i32'),
    gemm.local('i32'),
    gemm.local('i32'),
    gemm.local('i32'),
  ];
  const gemmBody = seq(
    local.set(m, i32.load(get(desc), 4 * Desc.m)),
    local.set(tiles, i32.div_s(i32.add(get(m), i32.const(c.MR - 1)), i32.const(c.MR))),
    // Each pass handles the units of one batch item: tiles [t0, t1) of item bi.
    forRange(
      u,
      get(u0),
      get(u1),
      i32.sub(get(t1), get(t0)),
      local.set(bi, i32.div_s(get(u), get(tiles))),
      local.set(t0, i32.sub(get(u), i32.mul(get(bi), get(tiles)))),
      local.set(t1, i32.min_s(get(tiles), i32.add(get(t0), i32.sub(get(u1), get(u))))),
      ctl.call(
        item,
        get(desc),
        get(bi),
        i32.mul(get(t0), i32.const(c.MR)),
        i32.min_s(get(m), i32.mul(get(t1), i32.const(c.MR))),
        get(scratch),
      ),
    ),
  );
  // A GELU job shares the pool's entry point: same threads, same protocol.
  gemm.body = ctl.if(
    i32.eq(i32.load(get(desc), 4 * Desc.kind), i32.const(0)),
    gemmBody,
    ctl.call(geluJob, get(desc), get(u0), get(u1)),
  );
  return mod.build();
}
