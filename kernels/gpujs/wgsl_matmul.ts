/**
 * A tiled float32 matmul in hand-written WGSL for the webgpu device, run on gpu.js's buffers.
 *
 * gpu.js kernels compute one output per thread and have no workgroup memory, so its matmul re-reads
 * A and B from device memory for every output (156-290 GFLOP/s at 512 on an H200). This kernel
 * computes a 64x64 tile of C per workgroup of 16x16 threads, each thread a 4x4 block, staging
 * 16-deep slices of A and B in workgroup memory. It reads any strided, transposed or batched
 * operands the gpu.js kernel reads: C[z, r, c] = Σ_k A[ao[z] + r·asi + k·ask] · B[bo[z] + k·bsk + c·bsj],
 * written at C[co[z] + r·ldc + c]: contiguously as [batch, m, n] by default, or straight into a
 * strided result (attention's head merge, `MatmulParams.cOffsets`), where gpu.js's kernel needs a
 * gather and a host-built index after it.
 *
 * It takes gpu.js `WebGPUBufferResult`s and returns one (a new buffer), so its results flow into
 * gpu.js kernels and read back like theirs. `createWgslMatmul` compiles it once when the device
 * starts; where that fails the backend keeps gpu.js's kernel.
 *
 * On by default (`GpuJsBackend.setWgslMatmul(false)` or VLGRAD_WGSL_MATMUL=0 turn it off). Its first
 * version made two small buffers per call and destroyed them after the submit, and took 0.8-1.2 ms
 * a launch on an H200 against 0.3 for gpu.js's kernel (bench/RESULTS.md, session 14). This one
 * writes its uniform and offsets into two buffers it keeps: on the same GPU it averaged 0.11-0.13 ms
 * a launch against gpu.js's 0.18-0.22 on ALBEF-tiny's products, faster at every product size (whole
 * steps drifted more than that between runs; bench/RESULTS.md, session 15).
 */

import {
  compileKernel,
  MAX_GROUPS,
  newBuffer,
  type BufferResult,
  type GpuBuffer,
  type WgslDevice,
} from './wgsl_device.js';

const TILE = 64;

const SOURCE = /* wgsl */ `
struct Params { M: u32, N: u32, K: u32, batch: u32, asi: u32, ask: u32, bsk: u32, bsj: u32, aRowFast: u32, bColFast: u32, ldc: u32, p1: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> O: array<u32>; // A's, B's, then C's offsets
@group(0) @binding(4) var<storage, read_write> C: array<f32>;
var<workgroup> As: array<f32, 1024>; // [16 k][64 rows]
var<workgroup> Bs: array<f32, 1024>; // [16 k][64 cols]

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let z = wg.z;
  let row0 = wg.y * 64u;
  let col0 = wg.x * 64u;
  let tid = lid.y * 16u + lid.x;
  let ao = O[z];
  let bo = O[P.batch + z];
  let co = O[2u * P.batch + z];
  var acc: array<f32, 16>;
  for (var t = 0u; t < P.K; t = t + 16u) {
    for (var i = 0u; i < 4u; i = i + 1u) {
      let e = tid + i * 256u;
      // neighbouring threads read neighbouring floats: along rows when A's rows are contiguous
      // in memory (asi = 1, a transposed A), else along k
      var r = e / 16u;
      var kk = e % 16u;
      if (P.aRowFast == 1u) { r = e % 64u; kk = e / 64u; }
      var v = 0.0;
      if (row0 + r < P.M && t + kk < P.K) { v = A[ao + (row0 + r) * P.asi + (t + kk) * P.ask]; }
      As[kk * 64u + r] = v;
      var c = e % 64u;
      var kb = e / 64u;
      if (P.bColFast == 0u) { kb = e % 16u; c = e / 16u; }
      var w = 0.0;
      if (col0 + c < P.N && t + kb < P.K) { w = B[bo + (t + kb) * P.bsk + (col0 + c) * P.bsj]; }
      Bs[kb * 64u + c] = w;
    }
    workgroupBarrier();
    for (var k = 0u; k < 16u; k = k + 1u) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i = i + 1u) {
        a[i] = As[k * 64u + lid.y * 4u + i];
        b[i] = Bs[k * 64u + lid.x * 4u + i];
      }
      for (var i = 0u; i < 4u; i = i + 1u) {
        for (var j = 0u; j < 4u; j = j + 1u) { acc[i * 4u + j] = acc[i * 4u + j] + a[i] * b[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i = i + 1u) {
    let r = row0 + lid.y * 4u + i;
    for (var j = 0u; j < 4u; j = j + 1u) {
      let c = col0 + lid.x * 4u + j;
      if (r < P.M && c < P.N) { C[co + r * P.ldc + c] = acc[i * 4u + j]; }
    }
  }
}
`;

/** One product's shape and operand layout (the gpu.js matmul kernel's arguments). */
export interface WgslMatmulArgs {
  m: number;
  n: number;
  k: number;
  batch: number;
  /** A[ao + r·asi + k·ask], B[bo + k·bsk + c·bsj]. */
  asi: number;
  ask: number;
  bsk: number;
  bsj: number;
  aOffsets: ArrayLike<number>;
  bOffsets: ArrayLike<number>;
  /** Where C_i starts and its row stride (default i·m·n and n); the C_i cover all `cSize` elements
   * (default batch·m·n) between them. */
  cOffsets?: ArrayLike<number>;
  ldc?: number;
  cSize?: number;
}

export type WgslMatmul = (a: BufferResult, b: BufferResult, p: WgslMatmulArgs) => GpuBuffer | null;

/** Whether the grid of `p` fits WebGPU's 65,535 workgroups a dimension (else the kernel declines). */
export function wgslMatmulFits(p: Pick<WgslMatmulArgs, 'm' | 'n' | 'batch'>): boolean {
  return Math.ceil(p.n / TILE) <= MAX_GROUPS && Math.ceil(p.m / TILE) <= MAX_GROUPS && p.batch <= MAX_GROUPS;
}

/** Compiles the kernel; the returned function encodes and submits one product and returns C's
 * buffer (null where the grid would exceed WebGPU's 65,535 workgroups a dimension). */
export async function createWgslMatmul(device: WgslDevice): Promise<WgslMatmul> {
  const kernel = await compileKernel(device, SOURCE);
  // One uniform and one offsets buffer for every call, rewritten with queue.writeBuffer: the queue
  // runs writes and submits in call order, so each dispatch sees its own values (as gpu.js does).
  const uniform = newBuffer(device, 48, 'uniform');
  let offsets = newBuffer(device, 1024, 'storage');
  let offsetsBytes = 1024;
  return (a, b, p) => {
    if (!wgslMatmulFits(p)) return null;
    const gx = Math.ceil(p.n / TILE),
      gy = Math.ceil(p.m / TILE);
    const params = Uint32Array.of(
      p.m,
      p.n,
      p.k,
      p.batch,
      p.asi,
      p.ask,
      p.bsk,
      p.bsj,
      p.asi === 1 && p.ask !== 1 ? 1 : 0,
      p.bsj === 1 ? 1 : 0,
      p.ldc ?? p.n,
      0,
    );
    const cOffs = p.cOffsets ?? Array.from({ length: p.batch }, (_, z) => z * p.m * p.n);
    const offs = Uint32Array.from([...Array.from(p.aOffsets), ...Array.from(p.bOffsets), ...Array.from(cOffs)]);
    if (offs.byteLength > offsetsBytes) {
      offsets.destroy(); // the queue keeps it until work already submitted with it has run
      offsetsBytes = Math.max(offs.byteLength, 2 * offsetsBytes);
      offsets = newBuffer(device, offsetsBytes, 'storage');
    }
    device.queue.writeBuffer(uniform, 0, params);
    device.queue.writeBuffer(offsets, 0, offs);
    const out = newBuffer(device, 4 * (p.cSize ?? p.batch * p.m * p.n), 'result');
    kernel.run([uniform, a.buffer as GpuBuffer, b.buffer as GpuBuffer, offsets, out], [gx, gy, p.batch]);
    return out;
  };
}
