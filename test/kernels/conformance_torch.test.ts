/**
 * Backend conformance against PyTorch: every float32 case of the engine fixtures
 * (test/fixtures/engine/*.json, PyTorch 1.13) replayed on each device, output and input gradients
 * of out.backward(upstream) compared to PyTorch's with F32_TOL.torch; integer results exactly.
 * (torch_parity.test.ts runs the float64 cases, and these on the default device, to 1e-5.)
 * A float32 case that asks for float64 must raise a DTypeError on gpu.js devices.
 */
import t from 'tap';
import * as vl from '../../engine/index.js';
import type { Backend, Tensor } from '../../engine/index.js';
import { fallbacks, isGpuJsDevice, resetFallbacks } from '../../kernels/gpujs/index.js';
import {
  fixtureTensor,
  loadFixture,
  mismatch,
  TOLERANCE,
  type FixtureCase,
  type FixtureTensor,
} from '../helpers/fixtures.js';
import { F32_TOL, forEachBackend, gpuTwins } from '../helpers/backends.js';
import { OPS, type Kw } from '../helpers/fixture_ops.js';

const GROUPS = ['elementwise', 'reduce', 'movement', 'matmul', 'indexing', 'nn'];
const list = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);
const tolFor = (ft: FixtureTensor): number =>
  ft.dtype === 'float32' || ft.dtype === 'float64' ? F32_TOL.torch : TOLERANCE[ft.dtype];

/** Moves a fixture tensor to `be` as a leaf (requiresGrad kept). */
function onDevice(ft: FixtureTensor, be: Backend): Tensor {
  return fixtureTensor(ft).to(be);
}

async function runCase(c: FixtureCase, be: Backend): Promise<string[]> {
  const fails: string[] = [];
  const xs = c.args.map((a) => onDevice(a, be));
  const outs = list(OPS[c.op](xs, c.kwargs as Kw));
  const want = list(c.out);
  if (outs.length !== want.length) return [`${outs.length} outputs, expected ${want.length}`];
  for (const [k, o] of outs.entries()) {
    const m = mismatch(await o.data(), o.shape, want[k], tolFor(want[k]));
    if (m) fails.push(`out ${k}: ${m}`);
  }
  if (!c.upstream || !c.grads) return fails;
  const ups = list(c.upstream).map((u) => onDevice(u, be));
  let grads: (Tensor | null)[];
  if (outs.length === 1) {
    outs[0].backward(ups[0]);
    grads = xs.map((x) => x.grad);
  } else {
    const wanted = xs.filter((x) => x.requiresGrad);
    const gs = vl.grad(outs, wanted, { gradOutputs: ups, allowUnused: true });
    grads = xs.map((x) => (x.requiresGrad ? gs[wanted.indexOf(x)] : null));
  }
  for (const [i, expected] of c.grads.entries()) {
    const got = grads[i];
    if (!c.args[i].grad) continue;
    if (expected === null) {
      if (got && (await got.data()).some((v) => v !== 0)) fails.push(`grad ${i}: nonzero, expected none`);
      continue;
    }
    if (!got) {
      fails.push(`grad ${i}: none`);
      continue;
    }
    const m = mismatch(await got.data(), got.shape, expected, F32_TOL.torch);
    if (m) fails.push(`grad ${i}: ${m}`);
  }
  return fails;
}

const files = GROUPS.map((g) => [g, loadFixture(`engine/${g}.json`)] as const);

t.test('every fixture op has a device runner', async (tt) => {
  const ops = new Set(files.flatMap(([, f]) => f.cases.map((c) => c.op)));
  tt.same(
    [...ops].filter((op) => !(op in OPS)),
    [],
  );
});

t.test('PyTorch float32 fixtures on every device (one of the gpu.js twins unless VLGRAD_DEEP=1)', async (tt) => {
  const exclude = await gpuTwins('the PyTorch float32 fixtures');
  await forEachBackend(
    tt,
    async (td, be) => {
      resetFallbacks();
      const started = performance.now();
      let n = 0;
      for (const [group, file] of files) {
        const fails: string[] = [];
        for (const c of file.cases) {
          if (c.dtype !== 'float32') continue;
          n++;
          const wantsF64 = (c.kwargs as Kw).dtype === 'float64';
          try {
            const f = await runCase(c, be);
            if (wantsF64 && isGpuJsDevice(be.device)) fails.push(`${c.name}: float64 was accepted on ${be.device}`);
            else fails.push(...f.map((m) => `${c.name}: ${m}`));
          } catch (e) {
            if (!(wantsF64 && isGpuJsDevice(be.device) && (e as Error).name === 'DTypeError')) {
              fails.push(`${c.name}: threw ${(e as Error).stack ?? String(e)}`);
            }
          }
        }
        td.same(fails, [], `${group}`);
      }
      td.same(fallbacks(), {}, 'no op fell back to the CPU');
      td.comment(`${be.device}: ${n} float32 cases in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    },
    { exclude },
  );
});
