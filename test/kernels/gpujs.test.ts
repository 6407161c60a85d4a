/**
 * The gpu.js devices beyond op results: starting and naming them, the async contract (ops enqueue,
 * reads await; synchronous reads refuse on webgpu), dtypes (no float64; int32 exact below 2^24),
 * device mixing, memory (dispose, tidy, disposal while work is queued), the fallback counter, and
 * the errors a device that cannot start gives.
 */
import { spawnSync } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { memory, randn, tensor, tidy, type Backend } from '../../engine/index.js';
import { getBackend } from '../../kernels/select.js';
import {
  fallbacks,
  type GpuJsBackend,
  GpuUnavailableError,
  initBackend,
  isGpuJsDevice,
  resetFallbacks,
  useDevice,
} from '../../kernels/gpujs/index.js';
import { importOptional } from '../../kernels/gpujs/loader.js';
import { Linear } from '../../nn/layers.js';
import { forEachBackend } from '../helpers/backends.js';

const GPU_ONLY = { exclude: ['cpu', 'cpu-ref'] as const };
const asGpu = (be: Backend): GpuJsBackend => be as GpuJsBackend;
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const live = (be: Backend): number => memory().find((m) => m.device === be.device)!.buffers;

/** Runs `code` (an ES module importing the repo's .ts files) in a fresh node; its stdout. */
function child(code: string, env: Record<string, string> = {}): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return `${r.stdout}${r.status === 0 ? '' : `\n[exit ${r.status}] ${r.stderr.slice(-500)}`}`;
}

t.test('devices start once, register and become the default', async (tt) => {
  const a = await initBackend('gpujs-cpu'),
    b = await initBackend('gpujs-cpu');
  tt.equal(a, b, 'initBackend is idempotent');
  tt.equal(getBackend('gpujs-cpu'), a, 'registered under its name');
  tt.match(a.description, /cpu/);
  tt.equal(await useDevice('gpujs-cpu'), a);
  tt.equal(randn([2]).device, 'gpujs-cpu', 'factories allocate on the default device');
  await useDevice('cpu');
  tt.ok(isGpuJsDevice('webgpu') && !isGpuJsDevice('cpu'));
  await tt.rejects(initBackend('tpu' as never), /not a gpu.js device/);
});

t.test('a device that is not started, or cannot start, says what to do', async (tt) => {
  const out = child(
    "import { defaultBackend } from './kernels/select.ts'; try { defaultBackend(); } catch (e) { console.log(e.message); }",
    { VLGRAD_DEVICE: 'webgpu' },
  );
  tt.match(out, /VLGRAD_DEVICE=webgpu: device 'webgpu' is not started: call `await initBackend\('webgpu'\)`/);
  await tt.rejects(importOptional('vlgrad-no-such-package'), {
    name: 'GpuUnavailableError',
    message:
      /cannot load the 'vlgrad-no-such-package' package .*fix: npm install vlgrad-no-such-package \(an optional peer dependency/,
  });
  tt.ok(new GpuUnavailableError('x') instanceof Error);
  const noAdapter = child(
    "import { initBackend } from './kernels/gpujs/index.ts'; try { await initBackend('webgpu'); console.log('started'); } " +
      "catch (e) { console.log(e.name + ': ' + e.message); }",
    { VK_ICD_FILENAMES: '/nonexistent/icd.json' },
  );
  tt.match(
    noAdapter,
    /GpuUnavailableError: webgpu: no WebGPU adapter.*scripts\/install_lavapipe\.sh/,
    'no adapter: names the fix',
  );
});

t.test('float64 stays on the CPU; int32 is exact below 2^24', async (tt) => {
  await forEachBackend(
    tt,
    async (td, be) => {
      td.throws(() => tensor([1, 2], { dtype: 'float64', device: be }), {
        name: 'DTypeError',
        message: /float64 is not supported.*\.to\('float32'\)/,
      });
      td.throws(() => tensor([1, 2], { device: be }).to('float64'), { name: 'DTypeError' });
      td.throws(() => tensor(Int32Array.of(1 << 25), { device: be }), RangeError);
      td.throws(() => be.full((1 << 24) + 1, 0, 'float32'), /2\^24/);
      const i = tensor(Int32Array.of(-7, 3, (1 << 24) - 1), { device: be });
      td.same(Array.from(await i.data()), [-7, 3, (1 << 24) - 1]);
      td.same(
        Array.from(await i.div(2).to('int32').data()),
        [-3, 1, (1 << 23) - 1],
        'float -> int32 truncates toward zero',
      );
      td.same(
        Array.from(await i.pow(-1).data()),
        [0, 0, 0],
        'an int32 result is stored truncated, as in an Int32Array',
      );
    },
    GPU_ONLY,
  );
});

t.test('NaN and infinities pass through arithmetic', async (tt) => {
  await forEachBackend(
    tt,
    async (td, be) => {
      const x = tensor([NaN, Infinity, -Infinity, 1], { device: be });
      const y = Array.from(await x.exp().add(1).data());
      td.same(y.slice(0, 3), [NaN, Infinity, 1]);
      td.ok(Math.abs(y[3] - (Math.E + 1)) < 1e-6, 'e + 1 to f32 accuracy');
      // Refused on every device: at once where the values can be read synchronously, else (webgpu)
      // at the device's next read, which is this one.
      await td.rejects(
        async () => Array.from(await x.to('int32').data()),
        /cast \[4\] float32 to int32: value NaN at index 0 does not fit int32/,
        'NaN and ±Infinity to int32 are refused',
      );
    },
    GPU_ONLY,
  );
});

t.test('the async contract: ops enqueue, reads await', async (tt) => {
  await forEachBackend(
    tt,
    async (td, be) => {
      const x = tensor(
        [
          [1, 2],
          [3, 4],
        ],
        { device: be },
      ).requiresGrad_();
      const loss = x.matmul(x).exp().sum(); // returns at once on every device
      loss.backward();
      td.equal(loss.device, be.device);
      const want = tensor([
        [1, 2],
        [3, 4],
      ])
        .matmul(
          tensor([
            [1, 2],
            [3, 4],
          ]),
        )
        .exp()
        .sum()
        .item(); // e^7 + e^10 + e^15 + e^22
      td.ok(Math.abs((await loss.itemAsync()) - want) / want < 1e-5, 'itemAsync');
      const back = await x.grad!.toAsync('cpu');
      td.equal(back.device, 'cpu', 'toAsync moves to the CPU');
      td.same(back.shape, [2, 2]);
      if (asGpu(be).isAsync) {
        td.throws(() => loss.item(), /use `await t.itemAsync\(\)`/, 'item() refuses on an async device');
        td.throws(() => x.dataSync(), /asynchronously/);
        td.throws(() => x.to('cpu'), /toAsync/, 'a synchronous move off the GPU refuses');
      } else {
        td.equal(loss.item(), await loss.itemAsync(), 'synchronous reads work on host-memory devices');
        td.equal(x.to('cpu').device, 'cpu');
      }
      const m = new Linear(2, 3).to(be.device);
      td.ok(
        m.parameters().every((p) => p.device === be.device && p.requiresGrad),
        'Module.to(device) moves parameters',
      );
      td.same((await m.forward(x).data()).length, 6);
    },
    GPU_ONLY,
  );
});

t.test('ops on two devices are refused', async (tt) => {
  await forEachBackend(
    tt,
    async (td, be) => {
      td.throws(() => tensor([1], { device: be }).add(tensor([1])), /different devices.*\.to\(device\)/);
    },
    GPU_ONLY,
  );
});

t.test('memory: dispose, tidy, and disposal while work is queued', async (tt) => {
  await forEachBackend(
    tt,
    async (td, be) => {
      const gpu = asGpu(be);
      // Earlier tests' garbage is freed by the FinalizationRegistry whenever a GC runs: settle it
      // first, or a collection during this test makes the counts below move (seen under load).
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 5)); // finalizers run in a later task
      }
      await gpu.sync();
      const n0 = live(be),
        d0 = gpu.liveDeviceBuffers();
      const x = randn([64, 64], { device: be });
      const y = x.exp(); // may still be queued on webgpu
      x.dispose(); // the buffer is freed only after the queued exp has read it
      td.equal(live(be), n0 + 1, 'x released, y live');
      const ys = await y.data();
      td.ok(
        ys.every((v) => v > 0),
        'the queued op read x before it was freed',
      );
      const kept = tidy(() => randn([8], { device: be }).mul(2).add(1).sum());
      td.equal(live(be), n0 + 2, 'tidy frees everything but its result');
      y.dispose();
      kept.dispose();
      td.equal(live(be), n0, 'back to where it started');
      await gpu.sync();
      td.equal(gpu.liveDeviceBuffers(), d0, 'and the device freed every buffer (lifted scalars included)');
    },
    GPU_ONLY,
  );
});

t.test('kernelLaunches counts one launch per kernel call', async (tt) => {
  await forEachBackend(
    tt,
    async (td, be) => {
      const gpu = asGpu(be);
      const x = randn([16], { device: be });
      const n0 = gpu.kernelLaunches();
      const y = x.exp().add(x); // two elementwise kernels (on webgpu they run once queued work ran)
      await y.data();
      td.equal(gpu.kernelLaunches() - n0, 2, 'exp and add: two launches; the read-back is not one');
      x.dispose();
      y.dispose();
    },
    GPU_ONLY,
  );
});

t.test('deviceProfile times each launch by kernel and size', async (tt) => {
  await forEachBackend(
    tt,
    async (td, be) => {
      const gpu = asGpu(be);
      const x = randn([16], { device: be }),
        big = randn([64, 64], { device: be });
      const { result, stats } = await gpu.deviceProfile(async () => {
        const y = x.exp().add(x).exp();
        const z = big.matmul(big);
        return [await y.data(), await z.data()];
      });
      td.same(
        stats.map((s) => `${s.kernel} x${s.calls}`).sort(),
        // float32 products run in the tiled WGSL kernel on webgpu, gpu.js's own elsewhere
        ['binary add 16 x1', `matmul${gpu.device === 'webgpu' ? ' (wgsl)' : ''} 4096 x1`, 'unary exp 16 x2'],
        'one row per kernel and output size, launches counted',
      );
      td.ok(
        stats.every((s) => Number.isFinite(s.ms) && s.ms >= 0),
        'times are finite',
      );
      td.equal(result[1].length, 4096, 'fn result returned');
      const after = x.exp();
      await after.data();
      const again = await gpu.deviceProfile(() => undefined);
      td.same(again.stats, [], 'profiling stops when deviceProfile returns');
      for (const t of [x, big, after]) t.dispose();
    },
    GPU_ONLY,
  );
});

t.test('fallbacks are counted; kernels that cannot be built fall back', async (tt) => {
  await forEachBackend(
    tt,
    async (td, be) => {
      resetFallbacks();
      const base = be.upload(Float32Array.of(1, 2, 3, 4), 'float32'),
        src = be.upload(Float32Array.of(9), 'float32');
      // a region with stride 0 (two writes to one element): no kernel for that, explicitly delegated
      const out = be.writeStrided(base, { shape: [1], strides: [0], offset: 2 }, src);
      td.same(Array.from(await be.read(out)), [1, 2, 9, 4]);
      const weird = be.writeStrided(
        base,
        { shape: [2], strides: [0], offset: 1 },
        be.upload(Float32Array.of(5, 6), 'float32'),
      );
      td.same(Array.from(await be.read(weird)), [1, 6, 3, 4], 'delegated to the CPU reference');
      const arrow = (v: number): number => v + 1; // gpu.js cannot parse arrow functions
      // The deliberate failure's warning is captured and checked here, so the test output shows no
      // warning that reads like a real failure.
      const warnings: string[] = [];
      const emitWarning = process.emitWarning;
      process.emitWarning = ((w: string | Error) => {
        warnings.push(String(w));
      }) as typeof process.emitWarning;
      try {
        const r = be.unary(arrow, base, { shape: [4], strides: [1], offset: 0 }, 'float32');
        td.same(Array.from(await be.read(r)), [2, 3, 4, 5], 'a kernel that fails to build runs on the CPU');
      } finally {
        process.emitWarning = emitWarning;
      }
      td.match(warnings.join('\n'), /kernel .* failed to build; using the CPU/, 'and says so in a warning');
      const f = fallbacks();
      td.equal(f[`${be.device}:writeStrided (overlapping or unordered region)`], 1);
      td.equal(f[`${be.device}:unary (kernel failed to build)`], 1);
      resetFallbacks();
      td.same(fallbacks(), {});
    },
    GPU_ONLY,
  );
});

t.test('index bounds from host indices, and bigger shapes', async (tt) => {
  await forEachBackend(
    tt,
    async (td, be) => {
      const w = randn([5, 3], { device: be });
      td.throws(() => w.indexSelect(0, tensor(Int32Array.of(0, 5), { device: be })), /out of bounds/);
      // a strided, broadcast op over 300k elements: exercises the index split beyond one workgroup row
      const a = randn([30, 1, 100], { device: be }),
        b = randn([100, 100], { device: be });
      const got = await a.permute(2, 1, 0).add(b.unsqueeze(-1)).sum(1).data();
      const [ha, hb] = [await a.toAsync('cpu'), await b.toAsync('cpu')];
      const want = ha.permute(2, 1, 0).add(hb.unsqueeze(-1)).sum(1).dataSync();
      td.ok(
        got.every((v, i) => Math.abs(v - want[i]) <= 1e-4 * Math.max(1, Math.abs(want[i]))),
        '[100,100,30] matches the CPU',
      );
    },
    GPU_ONLY,
  );
});
