/**
 * What vlgrad's hand-written WGSL kernels (wgsl_matmul.ts, wgsl_adam.ts) need of WebGPU, and the one
 * way they run: compile a pipeline once, then per call bind gpu.js's buffers (and their own), encode
 * one dispatch and submit it. gpu.js submits each of its kernels the same way, and one queue runs
 * writes and submits in call order, so these kernels interleave with gpu.js's in program order.
 */

/** A GPUBuffer, as far as these kernels use one. */
export interface GpuBuffer {
  getMappedRange(): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}
/** The parts of a GPUDevice these kernels use (Dawn in Node, navigator.gpu in a browser). */
export interface WgslDevice {
  createBuffer(d: { size: number; usage: number; mappedAtCreation?: boolean }): GpuBuffer;
  createShaderModule(d: { code: string }): unknown;
  createComputePipelineAsync(d: {
    layout: 'auto';
    compute: { module: unknown; entryPoint: string };
  }): Promise<{ getBindGroupLayout(i: number): unknown }>;
  createBindGroup(d: { layout: unknown; entries: { binding: number; resource: { buffer: GpuBuffer } }[] }): unknown;
  createCommandEncoder(): {
    beginComputePass(): {
      setPipeline(p: unknown): void;
      setBindGroup(i: number, g: unknown): void;
      dispatchWorkgroups(x: number, y: number, z: number): void;
      end(): void;
    };
    finish(): unknown;
  };
  queue: {
    submit(buffers: unknown[]): void;
    writeBuffer(b: GpuBuffer, offset: number, data: ArrayBufferView): void;
  };
}
/** A gpu.js WebGPUBufferResult, as far as these kernels need it (its GPUBuffer). */
export interface BufferResult {
  readonly buffer: unknown;
}

const STORAGE = 0x80,
  UNIFORM = 0x40,
  COPY_SRC = 0x04,
  COPY_DST = 0x08;
/** Buffer usages: a kernel's parameters (rewritten with queue.writeBuffer), a storage array of its
 * own (likewise), and a result that gpu.js kernels read and the host reads back (as gpu.js's own
 * outputs: storage, copy source and destination). */
const USAGE = { uniform: UNIFORM | COPY_DST, storage: STORAGE | COPY_DST, result: STORAGE | COPY_SRC | COPY_DST };

/** A new buffer of at least `bytes` (WebGPU binds no smaller than 16) for `use`. */
export function newBuffer(device: WgslDevice, bytes: number, use: keyof typeof USAGE): GpuBuffer {
  return device.createBuffer({ size: Math.max(16, bytes), usage: USAGE[use] });
}
/** WebGPU's default limit on workgroups in one dimension of a dispatch. */
export const MAX_GROUPS = 65535;

/** A compiled kernel: `run(buffers, groups)` binds `buffers` to bindings 0, 1, ... and submits one
 * dispatch of `groups` workgroups. */
export interface WgslKernel {
  run(buffers: GpuBuffer[], groups: readonly [number, number, number]): void;
}

/** Compiles `source` (entry point `main`, every binding in group 0). */
export async function compileKernel(device: WgslDevice, source: string): Promise<WgslKernel> {
  const pipeline = await device.createComputePipelineAsync({
    layout: 'auto',
    compute: { module: device.createShaderModule({ code: source }), entryPoint: 'main' },
  });
  const layout = pipeline.getBindGroupLayout(0);
  return {
    run(buffers, [x, y, z]) {
      const group = device.createBindGroup({
        layout,
        entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(x, y, z);
      pass.end();
      device.queue.submit([encoder.finish()]);
    },
  };
}
