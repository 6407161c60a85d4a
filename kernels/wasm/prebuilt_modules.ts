/**
 * Every WASM module the kernels emit, by the key kernels/wasm/index.ts looks it up under, with
 * the emitter call that builds it. scripts/prebuild_wasm.ts writes their bytes to prebuilt.ts
 * and test/kernels/wasm_prebuilt.test.ts checks those bytes against these calls. (Imported by the
 * script and the test only, so the runtime does not load the emitters it does not run.)
 */
import { buildAdamModule } from './adam_kernel.js';
import { buildArithModule } from './arith_kernel.js';
import { buildCopyModule } from './copy.js';
import { buildEmaModule } from './ema.js';
import { buildMaskModule } from './mask_kernel.js';
import { buildGemmModule, DEFAULT_CONFIG } from './matmul_kernel.js';
import { buildRowwiseModule } from './rowwise_kernel.js';

export const PREBUILT_MODULES: Readonly<Record<string, () => Uint8Array<ArrayBuffer>>> = {
  gemm: () => buildGemmModule({ ...DEFAULT_CONFIG, fma: false }),
  arith: () => buildArithModule(),
  rowwise: () => buildRowwiseModule(),
  adam: () => buildAdamModule(),
  mask: () => buildMaskModule(),
  copy: () => buildCopyModule(),
  ema: () => buildEmaModule(),
};
