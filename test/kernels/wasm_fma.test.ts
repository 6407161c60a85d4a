// Relaxed SIMD's fused multiply-add in the GEMM: detected at run time, never required. Node 20
// validates f32x4.relaxed_madd only under --experimental-wasm-relaxed-simd, so each case is a
// child process (test/helpers/fma_child.ts) with or without the flag and VLGRAD_WASM_FMA=0.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestT } from '../nn/nn_helpers.js';

const script = fileURLToPath(new URL('../helpers/fma_child.ts', import.meta.url));

interface Out {
  fma: boolean;
  results: { m: number; maxErr: number; threadsSame: boolean }[];
  digest: number;
  fusedProbe: number;
}

function child(flags: string[], env: Record<string, string> = {}): Out {
  const r = spawnSync(process.execPath, [...flags, '--import', 'tsx', script], {
    timeout: 120_000,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  if (r.signal || r.status !== 0)
    throw new Error(`fma child ${flags.join(' ')} failed (${r.signal ?? r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Out;
}

function checkProducts(t: TestT, out: Out): void {
  for (const { m, maxErr, threadsSame } of out.results) {
    // Sums of up to 517 products of values in [-1, 1) (plus a start value): float32 rounding ~1e-5.
    t.ok(maxErr < 2e-3, `m=${m}: matches the TS fallback (max |error| ${maxErr})`);
    t.ok(threadsSame, `m=${m}: 1 and 2 threads give the same bits`);
  }
}

const plain = child([]);
const flagged = child(['--experimental-wasm-relaxed-simd']);
const optedOut = child(['--experimental-wasm-relaxed-simd'], { VLGRAD_WASM_FMA: '0' });

t.test('with --experimental-wasm-relaxed-simd the GEMM uses relaxed_madd, and its products are right', async (t) => {
  t.ok(flagged.fma, 'wasmFma() under the flag');
  checkProducts(t, flagged);
  // relaxed_madd may or may not fuse; x86 with FMA3 fuses, which this shows when it does.
  t.ok(flagged.fusedProbe === 2 ** -24 || flagged.fusedProbe === 0, `probe ${flagged.fusedProbe}`);
});

t.test('VLGRAD_WASM_FMA=0 turns it off: the same bits as a process without relaxed SIMD', async (t) => {
  t.notOk(optedOut.fma);
  checkProducts(t, optedOut);
  t.equal(optedOut.fusedProbe, 0, 'mul + add rounds the product');
  if (plain.fma) t.comment('this runtime ships relaxed SIMD without a flag: no flag-free mul + add process to compare');
  else t.equal(optedOut.digest, plain.digest, 'bit-identical to the flag-free process');
});

t.test(
  'without the flag (Node 20) nothing changes',
  { skip: plain.fma && 'relaxed SIMD is on by default here' },
  async (t) => {
    t.notOk(plain.fma);
    checkProducts(t, plain);
  },
);
