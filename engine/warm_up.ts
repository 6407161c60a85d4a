/**
 * The engine's part of `startThreads` (kernels/wasm/start_hooks.ts runs it once, after the workers are
 * ready). A fresh process's first op runs JavaScript V8 has never compiled: the op dispatch, shape
 * checks, result allocation and the autograd tape. That cost ~1.5 ms on the first 512^3 matmul
 * through the Tensor API (its median over fresh 2-thread processes went from 36 to 45 GFLOP/s
 * when a small product ran first), so `startThreads` runs two small products on the `cpu` device
 * here, big enough for the GEMM's worker threads, one under noGrad and one recorded for autograd.
 * Other ops' first calls are left to pay for themselves: warming them all cost ~20 ms of start-up.
 * It uses no random generator and leaves no tensor behind.
 */
import { getBackend } from '../kernels/select.js';
import { onStartThreads, PARALLEL_MIN_WORK } from '../kernels/wasm/index.js';
import { tensor } from './creation.js';
import { tidy } from './memory.js';
import { noGrad } from './op.js';
import { Tensor } from './tensor.js';

/** Side of the warm-up's square operand: the smallest product the GEMM shares with its workers, so
 * the caller's side of a parallel call is compiled too (192: 0.3 ms on 2 threads). */
const N = Math.round(Math.cbrt(PARALLEL_MIN_WORK));

export function warmUpEngine(): void {
  const device = getBackend('cpu');
  const values = Float32Array.from({ length: N * N }, (_, i) => ((i * 37) % 17) / 17 - 0.5);
  tidy(
    () => {
      const a = tensor(values, { shape: [N, N], device, requiresGrad: true });
      noGrad(() => a.matmul(a));
      a.matmul(a); // recorded on the tape: the grad-mode path
    },
    (v): v is Tensor => v instanceof Tensor,
  );
}

onStartThreads(warmUpEngine);
