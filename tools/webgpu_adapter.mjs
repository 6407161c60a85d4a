// Checks that Node gets a WebGPU adapter via Dawn (npm webgpu) and prints its info, limits and start-up times.
// Run: node tools/webgpu_adapter.mjs   (after scripts/install_lavapipe.sh on a machine without a GPU)
import { createRequire } from 'node:module';
import { create } from 'webgpu';

const require = createRequire(import.meta.url);
console.log('webgpu package version', require('webgpu/package.json').version);
console.log('XDG_RUNTIME_DIR', process.env.XDG_RUNTIME_DIR ?? '(unset)');

const t0 = performance.now();
const gpu = create([]);
const t1 = performance.now();
const adapter = await gpu.requestAdapter();
const t2 = performance.now();
if (!adapter) {
  console.error('NO ADAPTER (is lavapipe installed? run scripts/install_lavapipe.sh)');
  process.exit(1);
}
const i = adapter.info;
console.log('adapter.info', {
  vendor: i.vendor,
  architecture: i.architecture,
  device: i.device,
  description: i.description,
  subgroupMinSize: i.subgroupMinSize,
  subgroupMaxSize: i.subgroupMaxSize,
  isFallbackAdapter: i.isFallbackAdapter,
});
console.log('features', [...adapter.features].sort().join(' '));
const L = adapter.limits;
const pick = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxUniformBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupStorageSize',
  'maxTextureDimension2D',
  'maxBindGroups',
];
console.log('limits', Object.fromEntries(pick.map((k) => [k, L[k]])));
const device = await adapter.requestDevice();
const t3 = performance.now();
console.log(
  `timing ms: create ${(t1 - t0).toFixed(1)}  requestAdapter ${(t2 - t1).toFixed(1)}  requestDevice ${(t3 - t2).toFixed(1)}`,
);
// SPIKE_EXIT=destroy (default): device.destroy() right before exit -- this has
// hung/aborted at exit intermittently (see tools/webgpu_exit_stress.sh, docs/gpu_spike.md §7).
// SPIKE_EXIT=none: just let the process exit with the device alive.
// SPIKE_EXIT=destroy-wait: device.destroy(), then wait for device.lost before exiting.
const how = process.env.SPIKE_EXIT || 'destroy';
if (how === 'destroy') device.destroy();
if (how === 'destroy-wait') {
  device.destroy();
  await device.lost;
}
