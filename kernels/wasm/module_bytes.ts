/** Where the kernels' WASM module binaries come from (see prebuilt.ts). */
import { PREBUILT } from './prebuilt.js';

/**
 * The bytes of module `key`: its prebuilt copy (prebuilt.ts, generated from the emitters by
 * scripts/prebuild_wasm.ts and checked against them by a test), else `build()`. Emitting is cold
 * JS in a fresh process (~10 ms for the GEMM module), which the first matmul used to pay.
 */
export function moduleBytes(key: string, build: () => Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const b64 = PREBUILT[key];
  if (b64 === undefined) return build();
  const text = atob(b64),
    bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}
