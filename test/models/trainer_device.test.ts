/** startTrainingDevice: 'cpu' starts and warms its matmul threads before training; 'cpu-ref' starts nothing. */
import t from 'tap';
import { onStartThreads, threads } from '../../kernels/wasm/index.js';
import { startTrainingDevice } from '../../models/common/trainer.js';

t.test("startTrainingDevice('cpu') runs startThreads at the configured count; 'cpu-ref' does not", async (t) => {
  let started = 0;
  onStartThreads(() => started++); // startThreads runs its hooks once, when it is first called
  const configured = threads();
  t.equal((await startTrainingDevice('cpu-ref')).device, 'cpu-ref');
  t.equal(started, 0, 'cpu-ref: nothing started');
  t.equal((await startTrainingDevice('cpu')).device, 'cpu');
  t.equal(started, 1, 'cpu: startThreads ran');
  t.equal(threads(), configured, 'the thread count stays what VLGRAD_THREADS or the core count set');
});
