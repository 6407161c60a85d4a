// The float32 elementwise fast path (kernels/wasm/arith_kernel.ts, the `cpu` backend's `arith`
// and leading-axes `sum`) must give the same bits as the plain loops of `cpu-ref`: on every
// broadcast layout it takes (same shape, a row, a column, a scalar, either operand first for add
// and mul), on the layouts it must refuse (non-contiguous views, odd rows, small sizes) and on
// gradients flowing through it. Sizes are above ARITH_MIN_ELEMENTS so the kernels run.
import t from 'tap';
import fc from 'fast-check';
import { arithWasm, ARITH_MIN_ELEMENTS, sumRowsWasm } from '../../kernels/wasm/arith.js';
import { getBackend } from '../../kernels/select.js';
import * as vg from '../../engine/index.js';
import { cases } from '../helpers/deep.js';
import type { TestT } from '../nn/nn_helpers.js';

const cpu = getBackend('cpu'),
  ref = getBackend('cpu-ref');

const same = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));

function values(n: number, seed: number): Float32Array {
  const r = new vg.Rng(seed);
  return Float32Array.from({ length: n }, () => r.normal() * 3);
}

const OPS = {
  add: (a: number, b: number) => a + b,
  sub: (a: number, b: number) => a - b,
  mul: (a: number, b: number) => a * b,
  div: (a: number, b: number) => a / b,
} as const;

t.test('arithWasm = a float32 loop, bit for bit, on all four layouts', async (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom(...(Object.keys(OPS) as (keyof typeof OPS)[])),
      fc.constantFrom('Full', 'Row', 'Col', 'Scalar' as const),
      fc.integer({ min: 1, max: 70 }),
      fc.integer({ min: 1, max: 90 }),
      fc.nat(),
      (op, layout, rows0, n0, seed) => {
        const perRow = layout === 'Row' || layout === 'Col';
        const n = perRow ? 4 * n0 : n0 * 3 + 1; // flat layouts take any length (padded lanes)
        const rows = Math.max(rows0, Math.ceil(ARITH_MIN_ELEMENTS / n));
        const a = values(rows * n, seed),
          b = values({ Full: rows * n, Row: n, Col: rows, Scalar: 1 }[layout], seed + 1);
        const out = new Float32Array(rows * n),
          want = new Float32Array(rows * n);
        const at = (r: number, j: number) => ({ Full: r * n + j, Row: j, Col: r, Scalar: 0 })[layout];
        for (let r = 0; r < rows; r++)
          for (let j = 0; j < n; j++) want[r * n + j] = OPS[op](a[r * n + j]!, b[at(r, j)]!);
        if (!arithWasm(op, a, b, layout, out, rows, n)) throw new Error(`${op} ${layout} [${rows}, ${n}]: did not run`);
        if (!same(out, want)) throw new Error(`${op} ${layout} [${rows}, ${n}]: bits differ`);
      },
    ),
    { numRuns: cases(60, 240) },
  );
  t.pass(`${cases(60, 240)} random cases`);
  const small = new Float32Array(ARITH_MIN_ELEMENTS - 1);
  t.notOk(arithWasm('add', small, small, 'Full', small.slice(), 1, small.length), 'declines below the size limit');
  const odd = new Float32Array(ARITH_MIN_ELEMENTS * 3);
  t.notOk(arithWasm('add', odd, odd, 'Row', odd.slice(), odd.length / 4099, 4099), 'declines rows of 4099 floats');
});

t.test('sumRowsWasm = the float64 column sum rounded once, bit for bit', async (t) => {
  for (const [rows, n] of [
    [512, 1024],
    [4096, 4],
    [33, 132],
    [1, 4096],
  ]) {
    const x = values(rows * n, rows + n);
    const acc = new Float64Array(n);
    for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) acc[j] += x[r * n + j]!;
    const out = new Float32Array(n);
    t.ok(sumRowsWasm(x, out, rows, n), `[${rows}, ${n}] runs`);
    t.ok(same(out, Float32Array.from(acc)), `[${rows}, ${n}] bits`);
  }
  t.notOk(sumRowsWasm(new Float32Array(5000), new Float32Array(5), 1000, 5), 'declines n = 5');
});

/** An op on cpu and cpu-ref from the same float32 values; values and gradients must be equal bits. */
function twin(t: TestT, what: string, shapes: number[][], f: (...xs: vg.Tensor[]) => vg.Tensor): void {
  const data = shapes.map((s, i) =>
    values(
      s.reduce((a, b) => a * b, 1),
      40 + i,
    ),
  );
  const run = (be: vg.Backend) => {
    const xs = data.map((d, i) => vg.tensor(d, { shape: shapes[i], device: be }).requiresGrad_());
    const y = f(...xs);
    const g = vg.grad(y, xs, { gradOutputs: [vg.tensor(values(y.size, 9), { shape: y.shape, device: be })] });
    return [y.dataSync(), ...g.map((x) => x!.dataSync())];
  };
  const got = run(cpu),
    want = run(ref);
  t.ok(
    got.every((x, i) => same(x, want[i]!)),
    `${what}: values and gradients equal cpu-ref bit for bit`,
  );
}

t.test('tensor ops on cpu = cpu-ref: every layout, swapped operands, refused layouts, gradients', async (t) => {
  twin(
    t,
    'same shape mul',
    [
      [64, 96],
      [64, 96],
    ],
    (a, b) => a.mul(b),
  );
  twin(t, 'bias add [8, 64, 256] + [256]', [[8, 64, 256], [256]], (a, b) => a.add(b));
  twin(t, 'bias first: [256] + [8, 64, 256]', [[256], [8, 64, 256]], (a, b) => a.add(b));
  twin(t, 'column sub x - sum(x, -1)', [[8, 4, 64, 64]], (a) => a.sub(a.sum(-1, true)));
  twin(t, 'scalar first: 2 - x (sub cannot swap)', [[70, 70]], (a) => vg.full([], 2, { device: a.backend }).sub(a));
  twin(t, 'div by a row', [[128, 64], [64]], (a, b) => a.div(b.abs().add(0.5)));
  twin(
    t,
    'a permuted operand (not contiguous: the plain loop)',
    [
      [64, 96],
      [96, 64],
    ],
    (a, b) => a.mul(b.permute(1, 0)),
  );
  twin(
    t,
    'a sliced operand (an offset)',
    [
      [64, 100],
      [64, 96],
    ],
    (a, b) => a.narrow(1, 4, 96).add(b),
  );
  twin(t, 'leading-axes sums: bias gradients', [[8, 64, 256]], (a) => a.sum([0, 1]));
  twin(t, 'rows of 258 (not a multiple of 4): the plain loop', [[64, 258], [258]], (a, b) => a.mul(b));
  twin(
    t,
    'a row per group: attention mask [16, 4, 16, 16] + [16, 1, 1, 16]',
    [
      [16, 4, 16, 16],
      [16, 1, 1, 16],
    ],
    (a, b) => a.add(b),
  );
  twin(
    t,
    'a row per group first: [8, 1, 1, 32] * [8, 4, 8, 32]',
    [
      [8, 1, 1, 32],
      [8, 4, 8, 32],
    ],
    (a, b) => a.mul(b),
  );
  twin(
    t,
    'a row per group, sub',
    [
      [8, 3, 64, 12],
      [8, 1, 1, 12],
    ],
    (a, b) => a.sub(b),
  );
  twin(
    t,
    'groups of rows of 17 (not whole vectors): the plain loop',
    [
      [16, 4, 17, 17],
      [16, 1, 1, 17],
    ],
    (a, b) => a.add(b),
  );
});

t.test('arithWasm with groups: the Row kernel per block, bit for bit, and the cases it declines', async (t) => {
  const [groups, rows, n, stride] = [6, 40, 24, 30];
  const a = values(groups * rows * n, 1),
    b = values((groups - 1) * stride + n, 2);
  const out = new Float32Array(a.length),
    want = new Float32Array(a.length);
  for (let g = 0; g < groups; g++)
    for (let r = 0; r < rows; r++)
      for (let j = 0; j < n; j++) {
        const i = (g * rows + r) * n + j;
        want[i] = a[i]! - b[g * stride + j]!;
      }
  t.ok(arithWasm('sub', a, b, 'Row', out, rows, n, groups, stride), 'runs');
  t.ok(same(out, want), 'bits');
  t.notOk(arithWasm('sub', a, b, 'Col', out, rows, n, groups, stride), "declines another layout than 'Row'");
  t.notOk(arithWasm('sub', a, b, 'Row', out, rows, n, groups, n - 1), 'declines b rows that overlap');
});
