// PyTorch as an external oracle: every case test/fixtures/gen_torch.py wrote (PyTorch 1.13) is rebuilt
// with vlgrad's API, and the output and every input gradient (of out.backward(upstream)) must match:
// float64 to 1e-12 and float32 to 1e-5, as |ours - torch| <= tol * max(1, |torch|); integer results
// (comparisons, argmax, oneHot) exactly. Every case runs on each CPU backend: `cpu` (the default, WASM
// SIMD matmul) and `cpu-ref` (the plain reference). How to regenerate: docs/fixtures.md.
import t from 'tap';
import * as vl from '../../engine/index.js';
import { ALL_OPS, getBackend, type Backend, type Tensor } from '../../engine/index.js';
import {
  fixtureTensor,
  loadFixture,
  mismatch,
  TOLERANCE,
  type FixtureCase,
  type FixtureFile,
} from '../helpers/fixtures.js';

const GROUPS = ['elementwise', 'reduce', 'movement', 'matmul', 'indexing', 'nn'];
const DEVICES = ['cpu', 'cpu-ref'];

import { OPS, type Kw } from '../helpers/fixture_ops.js';

/** Primitives (ALL_OPS) whose name differs from the API call that exercises them. */
// Primitives reached through another API entry: cast via to(), geluGrad and geluBackward via
// gelu's backward, layerNormBackward via layerNorm's.
const PRIMITIVE_VIA: Record<string, string> = {
  cast: 'to',
  geluGrad: 'gelu',
  geluBackward: 'gelu',
  layerNormBackward: 'layerNorm',
};

/** Primitives checked against PyTorch by the nn fixtures instead (test/nn/parity.test.ts). */
const VIA_NN_FIXTURES: Record<string, string> = {
  multiHeadSdpa: 'MultiHeadAttention.forward: the mha_* cases of test/fixtures/nn/attention.json',
  scaledDotProductAttention:
    'bit-identical on cpu to multiHeadSdpa on split heads (test/engine/heads_attention.test.ts), which the mha_* cases check',
};

const list = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);

/** Runs one case; returns the failures (empty when it matches PyTorch). */
function runCase(c: FixtureCase, device: Backend): string[] {
  const fails: string[] = [];
  const xs = c.args.map((a) => fixtureTensor(a, device));
  const outs = list(OPS[c.op](xs, c.kwargs as Kw));
  const want = list(c.out);
  if (outs.length !== want.length) return [`${outs.length} outputs, expected ${want.length}`];
  outs.forEach((o, k) => {
    const isFloat = want[k].dtype === 'float32' || want[k].dtype === 'float64';
    if (isFloat && o.dtype !== want[k].dtype) fails.push(`out ${k}: dtype ${o.dtype}, expected ${want[k].dtype}`);
    const m = mismatch(o.dataSync(), o.shape, want[k], TOLERANCE[want[k].dtype]);
    if (m) fails.push(`out ${k}: ${m}`);
  });
  if (!c.upstream || !c.grads) return fails;
  const ups = list(c.upstream).map((u) => fixtureTensor(u, device));
  let grads: (Tensor | null)[];
  if (outs.length === 1) {
    outs[0].backward(ups[0]);
    grads = xs.map((x) => x.grad);
  } else {
    const wanted = xs.filter((x) => x.requiresGrad);
    const gs = vl.grad(outs, wanted, { gradOutputs: ups, allowUnused: true });
    grads = xs.map((x) => (x.requiresGrad ? gs[wanted.indexOf(x)] : null));
  }
  c.grads.forEach((expected, i) => {
    const got = grads[i];
    if (!c.args[i].grad) return;
    if (expected === null) {
      // torch: not part of the graph; ours may say null or zeros
      if (got?.dataSync().some((v) => v !== 0)) fails.push(`grad ${i}: nonzero, expected none`);
      return;
    }
    if (!got) {
      fails.push(`grad ${i}: none, expected ${expected.shape}`);
      return;
    }
    const m = mismatch(got.dataSync(), got.shape, expected, TOLERANCE[c.dtype]);
    if (m) fails.push(`grad ${i}: ${m}`);
  });
  return fails;
}

const files: Record<string, FixtureFile> = Object.fromEntries(GROUPS.map((g) => [g, loadFixture(`engine/${g}.json`)]));

for (const name of DEVICES) {
  let device: Backend | null = null;
  try {
    device = getBackend(name);
  } catch {
    /* not registered in this build */
  }
  for (const group of GROUPS) {
    t.test(`${group} on ${name}`, { skip: device ? false : `backend '${name}' is not registered` }, async (t) => {
      for (const c of files[group].cases) {
        let fails: string[];
        try {
          fails = runCase(c, device!);
        } catch (e) {
          fails = [`threw ${(e as Error).stack ?? String(e)}`];
        }
        t.same(fails, [], `${c.op} ${c.name}`);
      }
    });
  }
}

t.test('the fixtures cover every op of the API and every primitive', async (t) => {
  const covered = new Set(GROUPS.flatMap((g) => files[g].cases.map((c) => c.op)));
  const unknown = [...covered].filter((op) => !(op in OPS));
  t.same(unknown, [], 'every fixture op has a vlgrad entry');
  t.same(
    Object.keys(OPS).filter((op) => !covered.has(op)),
    [],
    'every table entry has fixtures',
  );
  const primitives = ALL_OPS.map((op) => PRIMITIVE_VIA[op.name] ?? op.name).filter(
    (n) => !covered.has(n) && !(n in VIA_NN_FIXTURES),
  );
  t.same(primitives, [], 'every primitive in ALL_OPS is exercised');
  for (const g of GROUPS) {
    t.match(files[g].torch, /^1\.13/, `${g}.json was written by PyTorch 1.13`);
    t.equal(files[g].cases.length % 2, 0, `${g}.json has a float64 and a float32 variant of each case`);
  }
});

// No fixture can match dropout; its skip reason comes from the generator and is printed by tap.
t.test('dropout', { skip: `dropout: ${files.elementwise.skipped.dropout}` }, async () => {});
