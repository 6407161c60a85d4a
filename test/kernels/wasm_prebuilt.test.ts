// kernels/wasm/prebuilt.ts holds the bytes of every emitted module so a process need not run the
// emitters (cold JS) before its first kernel call. The emitters are the source: every prebuilt
// entry must equal what its emitter builds now, and every emitted module must have an entry.
import t from 'tap';
import { PREBUILT } from '../../kernels/wasm/prebuilt.js';
import { PREBUILT_MODULES } from '../../kernels/wasm/prebuilt_modules.js';

const REGENERATE = 'run `npx tsx scripts/prebuild_wasm.ts` after changing an emitter';

t.test('every prebuilt module equals its emitter output', (t) => {
  t.same(Object.keys(PREBUILT).sort(), Object.keys(PREBUILT_MODULES).sort(), `the same modules (${REGENERATE})`);
  for (const [key, build] of Object.entries(PREBUILT_MODULES)) {
    const want = Buffer.from(build()).toString('base64');
    t.ok(PREBUILT[key] === want, `${key}: ${PREBUILT[key] === want ? 'up to date' : `stale: ${REGENERATE}`}`);
    t.ok(WebAssembly.validate(Buffer.from(PREBUILT[key] ?? '', 'base64')), `${key}: a valid module`);
  }
  t.end();
});
