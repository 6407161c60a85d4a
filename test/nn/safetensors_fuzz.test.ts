// Hostile and broken files: every one must end in a CheckpointError, quickly, never a crash, a hang
// or a huge allocation. A case over the time bound is rerun once, so one GC pause on a busy CI
// machine cannot fail the suite while a real slow path (it is slow every time) still does.
import fc from 'fast-check';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CheckpointError, deserialize, load, serialize } from '../../nn/safetensors_node.js';
import { arbStateDict, craft } from '../fixtures/safetensors/records.js';

const BOUND_MS = 50;

/** Runs deserialize; returns the error it threw (undefined if it accepted) and the time it took. */
function attempt(bytes: Uint8Array): { error: unknown; ms: number } {
  const run = () => {
    const start = performance.now();
    try {
      deserialize(bytes);
      return { error: undefined, ms: performance.now() - start };
    } catch (error) {
      return { error, ms: performance.now() - start };
    }
  };
  const first = run();
  return first.ms < BOUND_MS ? first : run();
}

/** True if `bytes` are refused with a CheckpointError (or accepted), in time; false on any other outcome. */
function refusedOrValid(bytes: Uint8Array): boolean {
  const { error, ms } = attempt(bytes);
  return ms < BOUND_MS && (error === undefined || error instanceof CheckpointError);
}

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
const f32 = (shape: unknown, offsets: unknown) => ({ dtype: 'F32', shape, data_offsets: offsets });
const d8 = new Uint8Array(8);

/** [what, file bytes, expected message] for each hostile shape of file the loader must name. */
const CASES: [string, Uint8Array, RegExp][] = [
  ['empty file', new Uint8Array(0), /0 bytes, too short/],
  ['7-byte file', new Uint8Array(7), /7 bytes, too short/],
  ['header length 2^64-1', craft('{}', d8, { length: 2n ** 64n - 1n }), /header length 18446744073709551615 exceeds/],
  ['header length just over the cap', craft('{}', d8, { length: 100_000_001n }), /exceeds the 100000000-byte limit/],
  ['header length past end of file', craft('{}', d8, { length: 11n }), /runs past the end of the file \(10 bytes follow/],
  ['header length 0', craft('', d8), /does not start with "\{"/],
  ['byte order mark', craft('\ufeff{}'), /does not start with "\{"/],
  ['leading space', craft(' {}'), /does not start with "\{"/],
  ['JSON array header', craft('[1,2]'), /does not start with "\{"/],
  ['invalid UTF-8', craft(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), /not valid UTF-8/],
  ['non-JSON', craft('{not json}'), /not valid JSON/],
  ['trailing garbage', craft('{}x'), /not valid JSON/],
  ['unbalanced deep nesting', craft(`{"a":${'['.repeat(100_000)}`), /not valid JSON/],
  ['deeply nested entry', craft(`{"a":${deep(10_000)}}`), /tensor "a": entry is not a JSON object/],
  ['deeply nested shape', craft(`{"a":{"dtype":"F32","shape":[${deep(10_000)}],"data_offsets":[0,0]}}`), /shape \[\[…\]\] has \[\[…\]\], not a non-negative/],
  ['entry is a number', craft({ a: 5 }), /tensor "a": entry is not a JSON object/],
  ['missing dtype', craft({ a: { shape: [], data_offsets: [0, 4] } }, new Uint8Array(4)), /"dtype" is missing/],
  ['missing shape', craft({ a: { dtype: 'F32', data_offsets: [0, 4] } }, new Uint8Array(4)), /"shape" is missing/],
  ['missing offsets', craft({ a: { dtype: 'F32', shape: [] } }, new Uint8Array(4)), /"data_offsets" is missing/],
  ['unknown dtype', craft({ a: { dtype: 'F128', shape: [], data_offsets: [0, 16] } }, new Uint8Array(16)), /unsupported dtype "F128"/],
  ['prototype key as dtype', craft({ a: { dtype: 'toString', shape: [], data_offsets: [0, 4] } }, new Uint8Array(4)), /unsupported dtype "toString"/],
  ['dtype not a string', craft({ a: { dtype: 4, shape: [], data_offsets: [0, 4] } }, new Uint8Array(4)), /"dtype" is missing or not a string/],
  ['negative dim', craft({ a: f32([-1], [0, 4]) }, new Uint8Array(4)), /has -1, not a non-negative safe integer/],
  ['fractional dim', craft({ a: f32([1.5], [0, 4]) }, new Uint8Array(4)), /has 1.5/],
  ['infinite dim', craft('{"a":{"dtype":"F32","shape":[1e400],"data_offsets":[0,4]}}', new Uint8Array(4)), /has null|not a non-negative safe integer/],
  ['dim past 2^53', craft({ a: f32([2 ** 53], [0, 4]) }, new Uint8Array(4)), /not a non-negative safe integer/],
  ['string dim', craft({ a: f32(['2'], [0, 8]) }, new Uint8Array(8)), /has "2"/],
  ['rank 65', craft({ a: f32(new Array(65).fill(1), [0, 4]) }, new Uint8Array(4)), /rank 65 exceeds the limit of 64/],
  ['huge shape product', craft({ a: f32([2 ** 26, 2 ** 26, 2 ** 26], [0, 8]) }, d8), /needs 1208925819614629174706176 bytes but data_offsets \[0, 8\] span 8/],
  ['max safe dims', craft({ a: f32([2 ** 53 - 1, 2 ** 53 - 1], [0, 8]) }, d8), /needs \d{33} bytes/],
  ['shape/byte mismatch', craft({ a: f32([3], [0, 8]) }, d8), /shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] span 8/],
  ['empty shape with bytes', craft({ a: f32([0, 2], [0, 4]) }, new Uint8Array(4)), /needs 0 bytes/],
  ['negative offset', craft({ a: f32([1], [-4, 0]) }, new Uint8Array(4)), /data_offsets \[-4, 0\] are not non-negative/],
  ['fractional offset', craft({ a: f32([1], [0, 4.5]) }, new Uint8Array(4)), /are not non-negative safe integers/],
  ['three offsets', craft({ a: f32([1], [0, 4, 8]) }, new Uint8Array(4)), /not a \[begin, end\] pair/],
  ['reversed offsets', craft({ a: f32([1], [4, 0]) }, new Uint8Array(4)), /end before they begin/],
  ['offset past buffer', craft({ a: f32([2 ** 40], [0, 2 ** 42]) }, new Uint8Array(4)), /run past the 4-byte data buffer/],
  ['overlap', craft({ a: f32([2], [0, 8]), b: f32([1], [4, 8]) }, d8), /tensor "b": data_offsets \[4, 8\] overlap tensor "a"/],
  ['identical ranges', craft({ a: f32([2], [0, 8]), b: f32([2], [0, 8]) }, d8), /overlap/],
  ['hole', craft({ a: f32([1], [0, 4]), b: f32([1], [8, 12]) }, new Uint8Array(12)), /bytes \[4, 8\) of the data buffer belong to no tensor/],
  ['not starting at 0', craft({ a: f32([1], [4, 8]) }, d8), /bytes \[0, 4\) .* belong to no tensor/],
  ['trailing bytes', craft({ a: f32([1], [0, 4]) }, d8), /bytes \[4, 8\) .* belong to no tensor/],
  ['data without tensors', craft('{}', d8), /bytes \[0, 8\) .* belong to no tensor/],
  ['metadata array', craft({ __metadata__: ['a'] }), /__metadata__ is not a JSON object/],
  ['metadata number value', craft({ __metadata__: { epoch: 3 } }), /__metadata__ value for key "epoch" is not a string/],
  ['metadata nested value', craft({ __metadata__: { a: { b: 'c' } } }), /value for key "a" is not a string/],
  ['huge name', craft({ ['n'.repeat(100_000)]: f32([2], [0, 4]) }, new Uint8Array(4)), /tensor "n{120}…\(100000 chars\)"/],
];

t.test('each hostile file is refused with a message that names the problem', async (t) => {
  for (const [what, bytes, re] of CASES) {
    const { error, ms } = attempt(bytes);
    t.type(error, CheckpointError, what);
    t.match((error as Error | undefined)?.message ?? 'accepted', re, what);
    t.ok(ms < BOUND_MS, `${what}: ${ms.toFixed(2)} ms`);
  }
});

t.test('fast-check: random bytes', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), refusedOrValid), { numRuns: 2000 });
  // Random bytes behind a well-formed length prefix, so the header parser sees them.
  const prefixed = fc.uint8Array({ maxLength: 300 }).chain((h) => fc.tuple(fc.constant(h), fc.uint8Array({ maxLength: 64 })));
  fc.assert(fc.property(prefixed, ([h, d]) => refusedOrValid(craft(h, d))), { numRuns: 2000 });
  fc.assert(fc.property(fc.json(), fc.uint8Array({ maxLength: 64 }), (j, d) => refusedOrValid(craft(`{"t":${j}}`, d))), { numRuns: 2000 });
  t.pass('no crash, no other error type, every case under the bound');
});

/** Replaces a random part of a valid header with a hostile value. */
const hostileValue = fc.oneof(
  fc.jsonValue(),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
  fc.constantFrom(-1, 0.5, 2 ** 53, 2 ** 64, 1e308, -0, '1', null, [], [0], [0, 0, 0], [2 ** 52, 2 ** 52], 'F16', 'U64', 'F8_E4M3', 'bogus'),
);
const mutation = fc.record({
  entry: fc.nat(),
  field: fc.constantFrom('dtype', 'shape', 'data_offsets', 'shape.0', 'data_offsets.0', 'data_offsets.1', 'whole', '__metadata__', 'delete'),
  value: hostileValue,
  dataDelta: fc.integer({ min: -9, max: 9 }),
  length: fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { freq: 4 }),
});

t.test('fast-check: mutated valid headers', async (t) => {
  const prop = fc.property(arbStateDict, mutation, (sd, m) => {
    const bytes = serialize(sd);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, Record<string, unknown>>;
    const names = Object.keys(header);
    const name = names.length > 0 ? names[m.entry % names.length]! : 'x';
    const e = (header[name] ??= {});
    const [key, idx] = m.field.split('.') as [string, string | undefined];
    if (m.field === 'whole') header[name] = m.value as Record<string, unknown>;
    else if (m.field === '__metadata__') header.__metadata__ = m.value as Record<string, unknown>;
    else if (m.field === 'delete') delete e[['dtype', 'shape', 'data_offsets'][m.entry % 3]!];
    else if (idx !== undefined && Array.isArray(e[key])) (e[key] as unknown[])[Number(idx)] = m.value;
    else e[key] = m.value;
    let data = bytes.subarray(8 + n);
    data = m.dataDelta < 0 ? data.subarray(0, Math.max(0, data.length + m.dataDelta)) : new Uint8Array([...data, ...new Uint8Array(m.dataDelta)]);
    const file = craft(header, data, m.length === null ? {} : { length: m.length });
    const { error, ms } = attempt(file);
    if (ms >= BOUND_MS || !(error === undefined || error instanceof CheckpointError)) return false;
    if (error) return true;
    // Accepted: then it must be self-consistent.
    return Object.values(deserialize(file).tensors).every((r) => r.data.length === r.shape.reduce((a, d) => a * d, 1));
  });
  fc.assert(prop, { numRuns: 3000 });
  t.pass('every mutation refused or consistent, in time');
});

t.test('fast-check: every proper prefix and every extension of a valid file is refused', async (t) => {
  fc.assert(
    fc.property(arbStateDict, fc.uint8Array({ minLength: 1, maxLength: 16 }), (sd, extra) => {
      const bytes = serialize(sd);
      for (let len = 0; len < bytes.length; len++) {
        const { error, ms } = attempt(bytes.subarray(0, len));
        if (!(error instanceof CheckpointError) || ms >= BOUND_MS) return false;
      }
      return attempt(new Uint8Array([...bytes, ...extra])).error instanceof CheckpointError;
    }),
    { numRuns: 200 },
  );
  t.pass('all prefixes and extensions refused');
});

t.test('load names the file, passes fs errors through, and refuses what is not a file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vlgrad-st-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const [what, bytes, re] of CASES) {
    const file = join(dir, 'hostile.safetensors');
    await writeFile(file, bytes);
    await t.rejects(load(file), re, what);
    await t.rejects(load(file), { name: 'CheckpointError', file }, what);
  }
  await t.rejects(load(join(dir, 'missing.safetensors')), { code: 'ENOENT' });
  await mkdir(join(dir, 'sub'));
  await t.rejects(load(join(dir, 'sub')), /is not a regular file/);
});
