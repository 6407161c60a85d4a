/** startThreads' start hooks, and the engine's warm-up they run: once, leaving no trace. */
import t from 'tap';
import * as vg from '../../engine/index.js';
import { warmUpEngine } from '../../engine/warm_up.js';
import { onStartThreads, startThreads } from '../../kernels/wasm/index.js';

const cpuMem = () => vg.memory().find((m) => m.device === 'cpu')!;

t.test('the warm-up runs two recorded-or-not products and leaves no tensor, RNG draw or device change', async (t) => {
  const before = cpuMem(),
    rng = vg.defaultRng().getState();
  vg.setDefaultDevice('cpu-ref');
  try {
    const { stats } = vg.profile(() => warmUpEngine());
    const mm = stats.find((s) => s.op === 'matmul' && s.phase === 'forward');
    t.equal(mm?.calls, 2, 'one product under noGrad, one recorded');
    t.equal(vg.defaultBackend().device, 'cpu-ref', 'the default device is left alone');
  } finally {
    vg.setDefaultDevice('cpu');
  }
  t.same(cpuMem(), before, 'no buffer left live on cpu');
  t.same(vg.defaultRng().getState(), rng, 'no draw from the default generator');
});

t.test('startThreads runs each start hook once; a hook registered later runs at once', async (t) => {
  let early = 0,
    late = 0;
  onStartThreads(() => {
    throw new Error('a failing hook');
  });
  onStartThreads(() => early++);
  t.equal(early, 0, 'not before startThreads');
  await t.rejects(startThreads(1), /a failing hook/, "a hook's error reaches the caller");
  t.equal(early, 1, 'the hooks after a failing one still ran');
  await startThreads(1);
  t.equal(early, 1, 'once, however often startThreads is called');
  onStartThreads(() => late++);
  t.equal(late, 1, 'after the first startThreads: at once');
});
