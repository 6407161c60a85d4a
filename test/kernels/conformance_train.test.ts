/**
 * The training loop on every device: a 1-layer pre-LN transformer learning to reverse sequences
 * (the nn task of test/nn/train_reverse.test.ts, smaller), built on the CPU and moved with
 * `model.to(device)`, trained with AdamW for 100 steps. On each device:
 * - the first 50 losses match cpu-ref's to F32_TOL.curve;
 * - live memory (tensor buffers and bytes; on gpu.js also the device buffers not yet freed) is the
 *   same after step 100 as after step 10;
 * - gpu.js devices run the whole step (forward, backward, AdamW) without a CPU fallback.
 * Each step runs in tidy(); the loss is the only value read back (await loss.itemAsync()).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { crossEntropy, keep, Rng, tensor, tidy, type Backend, type Tensor } from '../../engine/index.js';
import { getBackend } from '../../kernels/select.js';
import { fallbacks, GpuJsBackend, resetFallbacks } from '../../kernels/gpujs/index.js';
import { Embedding, LayerNorm, Linear, ModuleList } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { AdamW } from '../../nn/optim.js';
import { TransformerLayer } from '../../nn/transformer.js';
import { compareF32, F32_TOL, forEachBackend } from '../helpers/backends.js';
import { cases, DEEP, deepAdds } from '../helpers/deep.js';

const V = 10,
  T = 8,
  C = 16,
  HEADS = 2,
  LAYERS = 1,
  BATCH = 8,
  STEPS = cases(40, 100),
  CURVE = cases(30, 50);
deepAdds(
  `${100 - STEPS} more training steps on every device (100), ${50 - CURVE} more compared with cpu-ref (50), ` +
    'and the run on webasm (the same gpu.js kernels and synchronous path as gpujs-cpu)',
);

class Reverser extends Module {
  readonly tok: Embedding;
  readonly pos: Embedding;
  readonly layers: ModuleList<TransformerLayer>;
  readonly norm: LayerNorm;
  readonly head: Linear;
  constructor(rng: Rng) {
    super();
    this.tok = this.registerModule('tok', new Embedding(V, C, { rng }));
    this.pos = this.registerModule('pos', new Embedding(T, C, { rng }));
    const layers = Array.from(
      { length: LAYERS },
      () => new TransformerLayer({ dim: C, heads: HEADS, mlpDim: 2 * C, norm: 'pre', fusedQkv: true, rng }),
    );
    this.layers = this.registerModule('layers', new ModuleList(layers));
    this.norm = this.registerModule('norm', new LayerNorm(C));
    this.head = this.registerModule('head', new Linear(C, V, { rng }));
  }
  /** ids [B, T] -> logits [B, T, V] */
  forward(ids: Tensor): Tensor {
    const positions = tensor(
      Int32Array.from({ length: T }, (_, i) => i),
      { device: ids.backend },
    );
    let x = this.tok.forward(ids).add(this.pos.forward(positions)); // [B, T, C] + [T, C]
    for (const layer of this.layers) x = layer.forward(x);
    return this.head.forward(this.norm.forward(x));
  }
}

/** The same B sequences and reversals on every device: [B, T] int32 each, on the host. */
function batches(n: number): { x: Int32Array; y: Int32Array }[] {
  const rng = new Rng(1);
  return Array.from({ length: n }, () => {
    const x = Int32Array.from({ length: BATCH * T }, () => rng.int(0, V));
    return { x, y: x.map((_, i) => x[i - (i % T) + T - 1 - (i % T)]) };
  });
}
const DATA = batches(STEPS);

/** The tensors an optimizer carries between steps (its moments). */
function stateTensors(opt: AdamW): Tensor[] {
  return [...opt.state.values()].flatMap((s) =>
    Object.values(s).filter((v): v is Tensor => typeof v === 'object' && v !== null && 'raw' in v),
  );
}

interface Mem {
  buffers: number;
  bytes: number;
  device: number;
}
interface Run {
  losses: number[];
  mem10: Mem;
  memLast: Mem;
  seconds: number;
}

// A buffer that no tensor holds is freed only by the FinalizationRegistry backstop, so counts are
// compared after a forced GC.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Live tensor buffers and bytes, and (gpu.js) device buffers not yet freed, once queued work is
 * done and garbage is collected. */
async function mem(be: Backend): Promise<Mem> {
  const gpu = be instanceof GpuJsBackend ? be : null;
  await gpu?.sync();
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 5)); // finalizers run in a later task
  }
  await gpu?.sync();
  const { buffers, bytes } = be.memory();
  return { buffers, bytes, device: gpu ? gpu.liveDeviceBuffers() : buffers };
}

async function train(be: Backend): Promise<Run> {
  const model = new Reverser(new Rng(0)).to(be);
  const opt = new AdamW(model.parameters(), { lr: 1e-2 });
  const losses: number[] = [];
  let mem10 = await mem(be);
  const started = performance.now();
  for (let step = 0; step < STEPS; step++) {
    const before = new Set(stateTensors(opt));
    const loss = tidy(() => {
      for (const p of model.parameters()) {
        p.grad?.dispose();
        p.grad = null;
      }
      const x = tensor(DATA[step].x, { shape: [BATCH, T], device: be }),
        y = tensor(DATA[step].y, { shape: [BATCH * T], device: be });
      const l = crossEntropy(model.forward(x).reshape([-1, V]), y);
      l.backward();
      opt.step();
      stateTensors(opt).forEach(keep); // the new moments outlive the step (docs/devices.md)
      return l;
    });
    const after = new Set(stateTensors(opt));
    for (const s of before) if (!after.has(s)) s.dispose(); // last step's moments, replaced on devices
    losses.push(await loss.itemAsync());
    loss.dispose();
    if (step === 9) mem10 = await mem(be);
  }
  return { losses, mem10, memLast: await mem(be), seconds: (performance.now() - started) / 1000 };
}

let reference: Promise<Run> | null = null;

t.test('a transformer trains alike on every device, in flat memory', async (tt) => {
  reference ??= train(getBackend('cpu-ref'));
  const ref = await reference;
  tt.ok(
    ref.losses[STEPS - 1] < ref.losses[0] * 0.7,
    `cpu-ref learns (loss ${ref.losses[0].toFixed(3)} -> ${ref.losses[STEPS - 1].toFixed(3)})`,
  );
  await forEachBackend(
    tt,
    async (td, be) => {
      resetFallbacks();
      const run = be.device === 'cpu-ref' ? ref : await train(be);
      td.same(
        compareF32(run.losses.slice(0, CURVE), ref.losses.slice(0, CURVE), F32_TOL.curve),
        null,
        `first ${CURVE} losses match cpu-ref`,
      );
      td.same(
        run.memLast,
        run.mem10,
        `live buffers, bytes and device buffers after step ${STEPS} equal those after step 10`,
      );
      td.same(fallbacks(), {}, 'the training step ran without CPU fallbacks');
      td.comment(
        `${be.device}: ${STEPS} steps in ${run.seconds.toFixed(1)} s, loss ${run.losses[0].toFixed(4)} -> ${run.losses[STEPS - 1].toFixed(4)}, ` +
          `max |loss - cpu-ref| over ${CURVE} steps ${Math.max(...run.losses.slice(0, CURVE).map((l, i) => Math.abs(l - ref.losses[i]))).toExponential(2)}`,
      );
    },
    { exclude: DEEP ? [] : ['webasm'] },
  );
});
