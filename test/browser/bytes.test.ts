/** The browser-side byte paths: PNG without node:zlib, checkpoints from a Blob. */
import { inflateSync } from 'node:zlib';
import t from 'tap';
import { zlibStored } from '../../data/png.js';
import { CheckpointError, deserializeBlob, serialize } from '../../nn/safetensors.js';

t.test('zlibStored: a valid zlib stream of stored blocks (the PNG path without node:zlib)', async (t) => {
  for (const n of [0, 1, 65535, 65536, 200_000]) {
    const raw = Uint8Array.from({ length: n }, (_, i) => (i * 7919) % 251);
    t.same(new Uint8Array(inflateSync(zlibStored(raw))), raw, `${n} bytes round-trip through inflate`);
  }
});

t.test('deserializeBlob reads what serialize wrote, and rejects a truncated blob', async (t) => {
  const data = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const bytes = serialize({ w: { dtype: 'float32', shape: [2, 3], data } }, { note: 'x' });
  const ck = await deserializeBlob(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  t.same(ck.metadata, { note: 'x' });
  t.same([...ck.tensors.w!.data], [...data]);
  t.same(ck.tensors.w!.shape, [2, 3]);
  await t.rejects(
    deserializeBlob(new Blob([bytes.subarray(0, bytes.length - 4) as Uint8Array<ArrayBuffer>]), 'model.safetensors'),
    CheckpointError,
  );
});
