/**
 * Issue 12, allocation: the `cpu` backend's buffer pool, backward freeing its own intermediates,
 * and in-place accumulation of `.grad`. Reuse must never let a result share a buffer with a live
 * tensor, and a disposed tensor must still refuse to be used.
 */
import fc from 'fast-check';
import t from 'tap';
import * as vg from '../../engine/index.js';
import { BufferPool, POOL_MIN_BYTES } from '../../kernels/cpu/pool.js';
import { cpu } from '../../kernels/cpu/backend.js';
import { RUNS, seedFor } from '../helpers/arb.js';

const bufferIds = new WeakMap<ArrayBufferLike, number>();
let nextBufferId = 0;
/**
 * Where x's data lives, as a key: its buffer (by identity) and its byte offset there. Float32
 * results of 1,024+ elements share the wasm heap's one buffer (resident arrays), so the offset
 * is what tells them apart.
 */
const bufferOf = (x: vg.Tensor): string => {
  const a = x.backend.readSync(x.raw);
  if (!bufferIds.has(a.buffer)) bufferIds.set(a.buffer, nextBufferId++);
  return `${bufferIds.get(a.buffer)}@${a.byteOffset}`;
};
const cpuBuffers = () => vg.memory().find((m) => m.device === 'cpu')!.buffers;

t.test('BufferPool: reuse by byte size, zero-fill on request, cap, no views', async (t) => {
  const pool = new BufferPool(4 * POOL_MIN_BYTES);
  const a = pool.take('float32', 512, false) as Float32Array;
  a.fill(7);
  pool.give(a);
  const b = pool.take('float64', 256, false); // same 2 KiB: the same buffer, as float64
  t.equal(b.buffer, a.buffer);
  pool.give(b);
  const c = pool.take('float32', 512, true);
  t.equal(c.buffer, a.buffer);
  t.ok(
    c.every((v) => v === 0),
    'zero: true fills a reused buffer with zeros',
  );
  t.not(pool.take('float32', 512, false).buffer, a.buffer, 'taken buffers leave the pool');
  pool.give(new Float32Array(8)); // under POOL_MIN_BYTES: not kept
  pool.give(new Float32Array(1024).subarray(0, 512)); // a view of a larger buffer: not kept
  pool.give(new Float32Array(new SharedArrayBuffer(2048))); // shared (the wasm heap's kind): not kept
  t.equal(pool.stats().bytes, 0);
  for (let i = 0; i < 3; i++) pool.give(new Float32Array(512)); // 3 x 2 KiB over a 4 KiB cap
  t.equal(pool.stats().bytes, 4 * POOL_MIN_BYTES, 'the cap holds');
  pool.clear();
  t.equal(pool.stats().bytes, 0);
});

t.test('cpu: a disposed buffer is reused, and its old tensor still throws', async (t) => {
  t.ok(cpu.pool, 'the default cpu backend has a pool (VLGRAD_POOL_MB unset)');
  const x = vg.randn([64, 64]);
  const buf = bufferOf(x);
  x.dispose();
  const r = vg.randn([64, 64]); // the upload of its values takes the released buffer
  const z = vg.ones([64, 64]).mul(3);
  t.equal(bufferOf(r), buf, 'the next result of the same byte size took the buffer');
  t.not(bufferOf(z), buf);
  t.throws(() => x.add(1), /add: input \[64,64\] was disposed/);
  t.throws(() => x.dataSync(), /dataSync: the tensor \[64,64\] float32 on cpu was disposed/);
  t.same(z.toArray(), vg.full([64, 64], 3).toArray(), 'a reused buffer is fully overwritten');
  t.same(vg.zeros([64, 64]).sum().item(), 0);
});

t.test('cpu: no result aliases a live tensor (reshape views, detach, assign)', async (t) => {
  const x = vg.randn([32, 32]);
  const view = x.reshape([1024]);
  const det = x.detach();
  const live = new Set([bufferOf(x)]);
  x.dispose(); // the view and the detach still use the buffer
  const w = vg.randn([32, 32]);
  w.assign(vg.zeros([32, 32])); // releases w's old buffer, which no one else holds
  const results = Array.from({ length: 6 }, (_, i) => vg.randn([32, 32]).add(i));
  for (const r of results) t.notOk(live.has(bufferOf(r)), 'not the buffer a view still reads');
  t.equal(view.sum().item(), det.sum().item(), 'the shared data is intact');
  view.dispose();
  det.dispose();
});

t.test('backward frees its own intermediate gradients', async (t) => {
  const x = vg.randn([64, 64]).requiresGrad_();
  const y = x.mul(2).exp().mul(x).tanh().sum();
  const before = cpuBuffers();
  y.backward();
  // What stays: x.grad and the seed gradient 1 (user-visible results); nothing else.
  t.equal(cpuBuffers() - before, 2, 'only x.grad and the seed stay live');
  const ref = x.mul(2).exp();
  const want = ref
    .mul(x)
    .tanh()
    .pow(2)
    .neg()
    .add(1)
    .mul(ref.add(ref.mul(x).mul(2)));
  t.ok(x.grad!.sub(want).abs().max().item() < 1e-5, 'the gradient is right');
});

t.test('a gradient that is also a user tensor is never freed', async (t) => {
  const x = vg.randn([16, 16]).requiresGrad_();
  const g = vg.randn([16, 16]);
  // add's backward hands g through to both inputs unchanged.
  x.add(x)
    .reshape([256])
    .backward(g.reshape([256]));
  t.equal(g.isDisposed, false);
  t.ok(x.grad!.sub(g.mul(2)).abs().max().item() === 0);
  const [gx] = vg.grad(x.mul(3).sum(), [x]);
  t.equal(gx!.isDisposed, false, 'grad() results stay live');
  t.equal(gx!.sum().item(), 3 * 256);
});

t.test('.grad accumulates in place across backwards, as PyTorch', async (t) => {
  const w = vg.randn([8, 8]).requiresGrad_();
  w.mul(2).sum().backward();
  const grad = w.grad!;
  const old = grad.detach(); // shares the buffer: the in-place write must not change it
  const v0 = grad.version;
  w.mul(3).sum().backward();
  t.equal(w.grad, grad, 'the same tensor');
  t.equal(grad.version, v0 + 1, 'its version is bumped');
  t.same(grad.toArray(), vg.full([8, 8], 5).toArray());
  t.same(old.toArray(), vg.full([8, 8], 2).toArray(), 'a detach of the old .grad keeps its values');
});

t.test('an in-place .grad accumulation fails a graph that saved the old value', async (t) => {
  const w = vg.randn([4]).requiresGrad_();
  const a = vg.randn([4]).requiresGrad_();
  w.sum().backward();
  const uses = a.mul(w.grad!).sum(); // saves w.grad for its backward
  w.sum().backward();
  t.throws(() => uses.backward(), /modified by an in-place operation/);
});

t.test('a training loop under tidy stays flat with backward freeing early', async (t) => {
  const w = vg.randn([32, 32]).requiresGrad_();
  const x = vg.randn([16, 32]);
  const counts: number[] = [];
  for (let step = 0; step < 30; step++) {
    vg.tidy(() => {
      w.grad?.dispose();
      w.grad = null;
      x.matmul(w).gelu().matmul(w).softmax(-1).sum().backward();
      vg.noGrad(() => w.assign(w.sub(w.grad!.mul(0.01))));
    });
    counts.push(cpuBuffers());
  }
  t.equal(counts[29], counts[4], `live buffers at step 5 and 30: ${counts[4]}, ${counts[29]}`);
});

/**
 * Random programs of creations, ops, views, disposals and backwards on 256-float (1 KiB, host
 * pool) and 1,024-float (4 KiB, resident in the wasm heap) tensors: after every step each live
 * tensor still holds the values it had when made, and two live tensors share a buffer only when
 * one is a view (reshape/detach) of the other.
 */
for (const [side, kind] of [
  [16, 'pooled host'],
  [32, 'resident'],
] as const)
  t.test(`property: ${kind} buffers never alias a live tensor`, async (t) => {
    const n = side * side;
    type Step = { kind: number; a: number; b: number };
    const step = fc.record({ kind: fc.integer({ min: 0, max: 5 }), a: fc.nat(), b: fc.nat() });
    fc.assert(
      fc.property(fc.array(step, { minLength: 5, maxLength: 40 }), (steps: Step[]) => {
        const live: { x: vg.Tensor; want: number[]; family: number }[] = [];
        let families = 0;
        const add = (x: vg.Tensor, family = families++) => live.push({ x, want: [...x.dataSync()], family });
        const pick = (i: number) => live[i % live.length]!;
        for (const { kind, a, b } of steps) {
          if (live.length === 0 || kind === 0) add(vg.randn([side, side]).requiresGrad_(a % 2 === 0));
          else if (kind === 1)
            add(
              vg.noGrad(() =>
                pick(a)
                  .x.reshape([n])
                  .exp()
                  .add(pick(b).x.reshape([n])),
              ),
            );
          else if (kind === 2) {
            const p = pick(a);
            add(p.x.detach().reshape([n]), p.family); // a view: shares the buffer
          } else if (kind === 3) {
            const [p] = live.splice(a % live.length, 1);
            p!.x.dispose();
          } else if (kind === 4) {
            const p = pick(a);
            if (p.x.requiresGrad) {
              p.x.grad?.dispose();
              p.x.grad = null;
              p.x
                .mul(pick(b).x.detach().reshape([side, side]))
                .tanh()
                .sum()
                .backward();
              add(p.x.grad!.detach());
            }
          } else add(vg.full([side, side], a % 7));
          const owner = new Map<string, number>();
          for (const { x, want, family } of live) {
            if (![...x.dataSync()].every((v, i) => Object.is(v, want[i]))) return false;
            const buf = bufferOf(x);
            if (owner.has(buf) && owner.get(buf) !== family) return false;
            owner.set(buf, family);
          }
        }
        for (const { x } of live) x.dispose();
        return true;
      }),
      { numRuns: RUNS, seed: seedFor(`buffer_reuse:alias:${side}`) },
    );
    t.pass(`${RUNS} random programs`);
  });
