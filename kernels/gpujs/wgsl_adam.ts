/**
 * The Adam(W) update in one hand-written WGSL dispatch for the webgpu device: m and v are rewritten
 * in place and the new parameter goes to a new buffer. gpu.js kernels have one output each, so its
 * version (fused.ts adamStep, codegen_fused.ts adamSource) takes three launches a parameter; at
 * ~0.1 ms a launch and 131 parameters, ALBEF-tiny's optimizer step spent ~260 launches on that.
 * The arithmetic is adamSource's, op for op (and so nn/optim_adam.ts's host loop's).
 *
 * In place is safe in program order: the queue runs every kernel submitted before this one (which
 * may read the old moments) first, and everything submitted after sees the new ones.
 */
import {
  compileKernel,
  MAX_GROUPS,
  newBuffer,
  type BufferResult,
  type GpuBuffer,
  type WgslDevice,
} from './wgsl_device.js';
import type { AdamScalars } from '../backend.js';

const WORKGROUP = 256;

const SOURCE = /* wgsl */ `
struct Params { n: u32, negate: u32, l2: u32, scale: u32, b1: f32, b2: f32, c1: f32, c2: f32,
  wd: f32, decay: f32, negStep: f32, bc2: f32, eps: f32, p0: f32, p1: f32, p2: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> prm: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WORKGROUP}, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = id.y * groups.x * ${WORKGROUP}u + id.x;
  if (i >= P.n) { return; }
  var gi = g[i];
  if (P.negate == 1u) { gi = -gi; }
  if (P.l2 == 1u) { gi = gi + prm[i] * P.wd; }
  let mi = m[i] * P.b1 + gi * P.c1;
  let vi = v[i] * P.b2 + gi * P.c2 * gi;
  var theta = prm[i];
  if (P.scale == 1u) { theta = prm[i] * P.decay; }
  m[i] = mi;
  v[i] = vi;
  out[i] = theta + (mi * P.negStep) / (sqrt(vi) / P.bc2 + P.eps);
}
`;

/** One step over `size` floats: rewrites m and v, returns the new parameter's buffer. */
export type WgslAdam = (
  p: BufferResult,
  g: BufferResult,
  m: BufferResult,
  v: BufferResult,
  size: number,
  s: AdamScalars,
) => GpuBuffer;

export async function createWgslAdam(device: WgslDevice): Promise<WgslAdam> {
  const kernel = await compileKernel(device, SOURCE);
  const uniform = newBuffer(device, 64, 'uniform');
  const params = new ArrayBuffer(64),
    u32 = new Uint32Array(params),
    f32 = new Float32Array(params);
  return (p, g, m, v, size, s) => {
    u32.set([size, +s.negate, +s.l2, +s.scale]);
    f32.set([s.b1, s.b2, s.c1, s.c2, s.wd, s.decay, s.negStep, s.bc2, s.eps], 4);
    device.queue.writeBuffer(uniform, 0, u32); // copied now: the next call may refill `params`
    const out = newBuffer(device, 4 * size, 'result');
    const groups = Math.ceil(size / WORKGROUP);
    const x = Math.min(groups, MAX_GROUPS);
    const buffers = [uniform, ...[p, g, m, v].map((b) => b.buffer as GpuBuffer), out];
    kernel.run(buffers, [x, Math.ceil(groups / x), 1]);
    return out;
  };
}
