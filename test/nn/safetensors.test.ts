import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { compareUint8Arrays } from 'typed-array-utils';
import { CheckpointError, deserialize, load, save, serialize, type StateDict } from '../../nn/safetensors_node.js';
import { halfToFloatBits } from '../../nn/safetensors_dtype.js';
import {
  arbMetadata,
  arbStateDict,
  bytesOf,
  craft,
  diffStateDicts,
  dictOf,
  f32FromBits,
  f64FromBits,
} from '../fixtures/safetensors/records.js';

/** Every awkward value of each writable dtype, in 0-d, empty and n-d shapes. */
function specials(): StateDict {
  return {
    f32: {
      dtype: 'float32',
      shape: [3, 4],
      // 0, -0, ±inf, quiet NaN, NaN payload, negative NaN, signalling NaN, min/max subnormal, max, -1.5
      data: f32FromBits([
        0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7fc00123, 0xffc00001, 0x7f800001, 1, 0x807fffff,
        0x7f7fffff, 0xbfc00000,
      ]),
    },
    f64: {
      dtype: 'float64',
      shape: [2, 4],
      data: f64FromBits([
        0n,
        0x8000000000000000n,
        0x7ff0000000000000n,
        0xfff0000000000000n,
        0x7ff8000000000123n,
        0x7ff0000000000001n,
        1n,
        0x800fffffffffffffn,
      ]),
    },
    i32: { dtype: 'int32', shape: [5], data: new Int32Array([-2147483648, 2147483647, 0, -1, 1]) },
    f32Scalar: { dtype: 'float32', shape: [], data: f32FromBits([0x7fc0beef]) },
    f64Scalar: { dtype: 'float64', shape: [], data: new Float64Array([-0]) },
    i32Scalar: { dtype: 'int32', shape: [], data: new Int32Array([-7]) },
    f32Empty: { dtype: 'float32', shape: [0], data: new Float32Array(0) },
    f64Empty: { dtype: 'float64', shape: [3, 0, 2], data: new Float64Array(0) },
    i32Empty: { dtype: 'int32', shape: [0, 5], data: new Int32Array(0) },
  };
}

t.test('every dtype round-trips bit for bit, in memory and on disk', async (t) => {
  const sd = specials();
  const meta = { format: 'pt', note: 'ünïcode ✓' };
  const back = deserialize(serialize(sd, meta));
  t.equal(diffStateDicts(sd, back.tensors), '');
  t.same(back.metadata, meta);

  const dir = await mkdtemp(join(tmpdir(), 'vlgrad-st-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await save(join(dir, 'm.safetensors'), sd, meta);
  const fromDisk = await load(join(dir, 'm.safetensors'));
  t.equal(diffStateDicts(sd, fromDisk.tensors), '');
  t.same(fromDisk.metadata, meta);
});

t.test('fast-check: arbitrary state dicts and metadata round-trip exactly', async (t) => {
  fc.assert(
    fc.property(arbStateDict, arbMetadata, (sd, meta) => {
      const back = deserialize(serialize(sd, meta));
      return (
        diffStateDicts(sd, back.tensors) === '' &&
        JSON.stringify(Object.entries(back.metadata)) === JSON.stringify(Object.entries(meta))
      );
    }),
    { numRuns: 300 },
  );
  const dir = await mkdtemp(join(tmpdir(), 'vlgrad-st-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await fc.assert(
    fc.asyncProperty(arbStateDict, async (sd) => {
      await save(join(dir, 'p.safetensors'), sd);
      return diffStateDicts(sd, (await load(join(dir, 'p.safetensors'))).tensors) === '';
    }),
    { numRuns: 40 },
  );
  t.pass('properties hold');
});

t.test('byte layout matches the official writer', async (t) => {
  // Expected bytes are the official crate's own serialization tests (tensor.rs), rebuilt as text.
  const attn = { dtype: 'float32' as const, shape: [1, 1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) };
  const header = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ';
  t.ok(compareUint8Arrays(serialize({ attn0: attn }), craft(header, bytesOf(attn.data))), 'forced alignment example');
  t.ok(compareUint8Arrays(serialize({}), craft('{}      ')), 'empty, no metadata');
  t.ok(
    compareUint8Arrays(serialize({}, { framework: 'pt' }), craft('{"__metadata__":{"framework":"pt"}}     ')),
    'empty with metadata',
  );

  // Insertion order is kept (the reader does not care), and the header is always padded to 8.
  const sd = { z: specials().i32!, a: specials().f64!, m: specials().f32Scalar! };
  const bytes = serialize(sd);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  t.equal(n % 8, 0);
  const json = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  t.same(Object.keys(json), ['z', 'a', 'm']);
  t.same(json.a, { dtype: 'F64', shape: [2, 4], data_offsets: [20, 84] });
});

t.test('reads tensors listed in any order, and data at any alignment', async (t) => {
  // i32 1 | f64 1.5 at byte 4 (misaligned for 8) | i32 3; keys listed out of offset order.
  const data = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 3, 0, 0, 0]);
  const header = {
    c: { dtype: 'I32', shape: [], data_offsets: [12, 16] },
    b: { dtype: 'F64', shape: [1], data_offsets: [4, 12] },
    __metadata__: { k: 'v' },
    a: { dtype: 'I32', shape: [1], data_offsets: [0, 4] },
  };
  const file = craft(header, data); // unpadded header: the data buffer starts at an odd byte
  t.not((8 + file.length - data.length) % 4, 0, 'data buffer is misaligned in the file');
  for (const shift of [0, 1, 3]) {
    // Also place the file at an odd byteOffset of a bigger buffer.
    const host = new Uint8Array(file.length + shift);
    host.set(file, shift);
    const { tensors, metadata } = deserialize(host.subarray(shift));
    t.same(Object.keys(tensors), ['a', 'b', 'c'], 'results come in file (offset) order');
    t.same(Array.from(tensors.a!.data), [1]);
    t.same(Array.from(tensors.b!.data), [1.5]);
    t.same(tensors.c, { dtype: 'int32', shape: [], data: new Int32Array([3]) });
    t.same(metadata, { k: 'v' });
    t.equal(tensors.b!.data.byteOffset % 8, 0, 'f64 copy is aligned');
  }
});

t.test("loaded arrays are the caller's own", async (t) => {
  const sd = specials();
  const bytes = serialize(sd);
  const back = deserialize(bytes);
  for (const rec of Object.values(back.tensors)) t.not(rec.data.buffer, bytes.buffer);
  bytes.fill(0x55);
  t.equal(diffStateDicts(sd, back.tensors), '', 'scribbling on the source changes nothing');
  t.equal(diffStateDicts(sd, deserialize(serialize(sd)).tensors), '', 'serialize left the input untouched');
});

t.test('names and keys that are special to JS objects stay plain data', async (t) => {
  const rec = { dtype: 'int32' as const, shape: [1], data: new Int32Array([5]) };
  const names = ['__proto__', 'constructor', 'toString', '', 'ünï.cøde ✓', '\ud800lone', '10', '2', 'hasOwnProperty'];
  const sd = dictOf(names.map((k) => [k, rec]));
  const meta = dictOf<string>([
    ['__proto__', 'x'],
    ['constructor', 'y'],
  ]);
  const back = deserialize(serialize(sd, meta));
  t.equal(diffStateDicts(sd, back.tensors), '');
  t.equal(Object.getPrototypeOf(back.tensors), Object.prototype, 'prototype untouched');
  // biome-ignore lint/suspicious/noProto: the test checks that a '__proto__' key in a file stays plain data
  t.equal(back.metadata.__proto__, 'x');
  t.same(Object.keys(back.metadata), ['__proto__', 'constructor']);
});

t.test('save refuses what it cannot write faithfully', async (t) => {
  const ok = { dtype: 'float32' as const, shape: [2], data: new Float32Array(2) };
  const cases: [string, unknown, unknown, RegExp][] = [
    ['reserved name', { __metadata__: ok }, {}, /reserved/],
    ['array type', { w: { dtype: 'float32', shape: [2], data: new Float64Array(2) } }, {}, /not a Float32Array/],
    ['unknown dtype', { w: { dtype: 'int64', shape: [2], data: new Int32Array(2) } }, {}, /cannot be written/],
    ['length', { w: { dtype: 'float32', shape: [3], data: new Float32Array(2) } }, {}, /3 elements but data has 2/],
    [
      'negative dim',
      { w: { dtype: 'float32', shape: [-2], data: new Float32Array(2) } },
      {},
      /non-negative safe integers/,
    ],
    [
      'fractional dim',
      { w: { dtype: 'float32', shape: [0.5, 4], data: new Float32Array(2) } },
      {},
      /non-negative safe integers/,
    ],
    [
      'overflowing shape',
      { w: { dtype: 'float32', shape: [2 ** 40, 2 ** 40, 0.5], data: new Float32Array(2) } },
      {},
      /safe integers/,
    ],
    ['metadata value', { w: ok }, { epoch: 3 }, /metadata value for key "epoch"/],
    ['metadata type', { w: ok }, ['a'], /metadata is not an object/],
    ['record type', { w: null }, {}, /not a TensorRecord/],
  ];
  for (const [what, sd, meta, re] of cases) {
    t.throws(() => serialize(sd as StateDict, meta as Record<string, string>), re, what);
    t.throws(() => serialize(sd as StateDict, meta as Record<string, string>), CheckpointError, what);
  }
  const dir = await mkdtemp(join(tmpdir(), 'vlgrad-st-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await t.rejects(save(join(dir, 'x.safetensors'), { __metadata__: ok }), /x\.safetensors: tensor "__metadata__"/);
});

t.test('F16 -> float32 is exact for all 65536 bit patterns', async (t) => {
  let bad = 0;
  for (let h = 0; h < 0x10000; h++) {
    const f = new Float32Array(new Uint32Array([halfToFloatBits(h)]).buffer)[0]!;
    const sign = h & 0x8000 ? -1 : 1,
      e = (h >> 10) & 0x1f,
      m = h & 0x3ff;
    if (e === 0x1f && m !== 0) {
      // NaN: sign and payload kept, quiet bit set (what torch's .float() gives; see the torch test)
      const bits = halfToFloatBits(h);
      if (!Number.isNaN(f) || bits !== (((h & 0x8000) << 16) | 0x7fc00000 | (m << 13)) >>> 0) bad++;
      continue;
    }
    const want = e === 0x1f ? sign * Infinity : e === 0 ? sign * m * 2 ** -24 : sign * (1 + m / 1024) * 2 ** (e - 15);
    if (!Object.is(f, want)) bad++;
  }
  t.equal(bad, 0);
});

t.test('other PyTorch dtypes convert, with range checks into int32', async (t) => {
  const one = (dtype: string, shape: number[], bytes: number[]) =>
    deserialize(craft({ x: { dtype, shape, data_offsets: [0, bytes.length] } }, new Uint8Array(bytes))).tensors.x!;
  t.same(Array.from(one('BF16', [2], [0x80, 0x3f, 0x49, 0xc0]).data), [1, -3.140625]);
  t.same(Array.from(one('F16', [2], [0x00, 0x3c, 0x01, 0x00]).data), [1, 2 ** -24]);
  t.same(
    Array.from(one('I64', [2], [0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0xff]).data),
    [2147483647, -2147483648],
  );
  t.same(Array.from(one('U64', [1], [5, 0, 0, 0, 0, 0, 0, 0]).data), [5]);
  t.same(Array.from(one('U32', [1], [0xff, 0xff, 0xff, 0x7f]).data), [2147483647]);
  t.same(Array.from(one('I16', [2], [0x00, 0x80, 0xff, 0x7f]).data), [-32768, 32767]);
  t.same(Array.from(one('U16', [1], [0xff, 0xff]).data), [65535]);
  t.same(Array.from(one('I8', [2], [0x80, 0x7f]).data), [-128, 127]);
  t.same(Array.from(one('U8', [2], [0, 255]).data), [0, 255]);
  t.same(Array.from(one('BOOL', [3], [0, 1, 2]).data), [0, 1, 1]);
  t.equal(one('BOOL', [3], [0, 1, 1]).dtype, 'int32');
  t.throws(
    () => one('I64', [2], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0]),
    /tensor "x": I64 element 1 = 2147483648 does not fit in int32/,
  );
  t.throws(() => one('I64', [1], [0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff]), /-2147483649 does not fit/);
  t.throws(() => one('U64', [1], [0, 0, 0, 0, 1, 0, 0, 0]), /U64 element 0 = 4294967296/);
  t.throws(() => one('U32', [1], [0, 0, 0, 0x80]), /U32 element 0 = 2147483648/);
  t.throws(() => one('F8_E4M3', [1], [0]), /unsupported dtype "F8_E4M3" \(readable: F32, F64, I32, F16, BF16/);
});
