/**
 * The shapes-only meta device (kernels/meta.ts) and the Backend.hostData flag: ops on meta give the
 * shapes and dtypes the cpu gives, without data; hostData is true exactly where readSync hands out
 * live storage.
 */
import t from 'tap';
import { cloneData, randn, tensor, type Tensor } from '../../engine/index.js';
import { cpu, cpuRef } from '../../kernels/cpu/backend.js';
import { metaBackend, onMeta } from '../../kernels/meta.js';
import { Linear } from '../../nn/layers.js';

t.test('ops on meta: same shapes and dtypes as on cpu, no data', async (t) => {
  const run = (): Tensor[] => {
    const a = randn([2, 3, 4]),
      b = randn([4, 5]),
      ids = tensor([2, 0], { dtype: 'int32' });
    return [
      a.matmul(b),
      a.sum(1),
      a.argmax(-1),
      a.softmax(-1),
      a.permute(2, 0, 1).contiguous().add(1),
      a.indexSelect(2, ids),
      a.narrow(1, 1, 2).mul(a.narrow(1, 0, 2)),
      cloneData(a),
      a.to('float64'),
      a.gt(0),
    ];
  };
  const onCpu = run(),
    meta = onMeta(run);
  t.same(
    meta.map((x) => [x.shape, x.dtype]),
    onCpu.map((x) => [x.shape, x.dtype]),
  );
  t.ok(
    meta.every((x) => x.device === 'meta' && x.dataSync().every((v) => v === 0)),
    'reads give zeros',
  );
  t.equal(randn([2]).device, 'cpu', 'onMeta restores the default device');
});

t.test('a layer builds and runs forward and backward on meta', async (t) => {
  const y = onMeta(() => {
    const lin = new Linear(8, 3);
    const x = randn([5, 8]).requiresGrad_();
    const out = lin.forward(x);
    out.sum().backward();
    return { out, gx: x.grad!, gw: lin.weight.grad! };
  });
  t.same(
    [y.out.shape, y.gx.shape, y.gw.shape],
    [
      [5, 3],
      [5, 8],
      [3, 8],
    ],
  );
});

t.test('hostData: readSync returns live storage exactly where it is true', async (t) => {
  for (const be of [cpu, cpuRef, metaBackend]) {
    const raw = be.full(2, 0, 'float32'),
      a = be.readSync(raw);
    a[0] = 1;
    const live = be.readSync(raw) === a && be.readSync(raw)[0] === 1;
    t.equal(be.hostData, live, `${be.device}: hostData ${be.hostData}`);
  }
  t.equal(metaBackend.hostData, false);
});
