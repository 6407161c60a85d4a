// Interop with PyTorch: files gen_safetensors.py wrote (committed fixtures) load here, and files we
// write are read back by that script, which applies the official loader's checks and builds the
// tensors with torch.frombuffer.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { CheckpointError, deserialize, load, save, type StateDict, type TensorRecord } from '../../nn/safetensors_node.js';
import { f32FromBits, f64FromBits, hexBits } from '../fixtures/safetensors/records.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const SCRIPT = join(FIXTURES, 'gen_safetensors.py');
const MIXED = join(FIXTURES, 'safetensors', 'torch_mixed.safetensors');
// VLGRAD_PYTHON picks another interpreter (one with torch); set it to a missing path to see the skip.
const PYTHON = process.env.VLGRAD_PYTHON ?? '/usr/bin/python3';

interface Expected {
  dtype: string;
  shape: number[];
  bits?: string[];
  values?: number[];
}

/** A record in the form gen_safetensors.py prints: float bits as hex, ints as values. */
function asExpected(r: TensorRecord): Expected {
  return r.dtype === 'int32'
    ? { dtype: r.dtype, shape: r.shape, values: Array.from(r.data) }
    : { dtype: r.dtype, shape: r.shape, bits: hexBits(r.data) };
}

t.test('a checkpoint PyTorch wrote loads with every value as torch converts it', async (t) => {
  const want = JSON.parse(await readFile(join(FIXTURES, 'safetensors', 'torch_mixed.expected.json'), 'utf8'));
  const { tensors, metadata } = await load(MIXED);
  t.same(metadata, want.metadata);
  t.same(Object.keys(tensors).sort(), Object.keys(want.tensors).sort());
  // Official order: I64, F64, F32 (by name), I32, BF16, F16, U8, BOOL.
  t.same(Object.keys(tensors), ['i64.index', 'f64.values', 'empty', 'f32.special', 'scalar', 'i32.count', 'bf16.weight', 'f16.half', 'u8.pixels', 'bool.mask']);
  for (const [name, rec] of Object.entries(tensors)) t.same(asExpected(rec), want.tensors[name], name);
});

t.test('every proper prefix of the PyTorch file is refused', async (t) => {
  const bytes = new Uint8Array(await readFile(MIXED));
  let refused = 0;
  for (let len = 0; len < bytes.length; len++) {
    try {
      deserialize(bytes.subarray(0, len));
    } catch (e) {
      if (e instanceof CheckpointError) refused++;
      else throw e;
    }
  }
  t.equal(refused, bytes.length);
});

t.test('an int64 outside int32 range is refused, not wrapped', async (t) => {
  const file = join(FIXTURES, 'safetensors', 'torch_int64_overflow.safetensors');
  await t.rejects(load(file), { name: 'CheckpointError', tensor: 'ids', message: /I64 element 1 = 2147483648 does not fit in int32/ });
});

/** Why the PyTorch reader cannot run here, or '' if it can. */
async function pythonProblem(): Promise<string> {
  if (!existsSync(PYTHON)) return `${PYTHON} not found: cannot run the PyTorch reader`;
  // find_spec, not import: importing torch costs seconds, and the verify run imports it anyway.
  const probe = 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is None)';
  return promisify(execFile)(PYTHON, ['-c', probe]).then(
    () => '',
    () => `torch is not installed for ${PYTHON}`,
  );
}
const skip = await pythonProblem();

t.test('PyTorch reads a checkpoint we wrote', { skip: skip || false }, async (t) => {
  const sd: StateDict = {
    'encoder.w': { dtype: 'float32', shape: [2, 3], data: f32FromBits([0x3f800000, 0x80000000, 0x7f800000, 0x7fc00123, 1, 0xff7fffff]) },
    bias: { dtype: 'float64', shape: [3], data: f64FromBits([0x400921fb54442d18n, 0x7ff8000000000001n, 0x8000000000000000n]) },
    step: { dtype: 'int32', shape: [], data: new Int32Array([-2147483648]) },
    odd: { dtype: 'float32', shape: [1], data: new Float32Array([0.1]) }, // puts the next f64 at a 4-byte offset
    after: { dtype: 'float64', shape: [1, 1], data: new Float64Array([-1e-310]) },
    none: { dtype: 'int32', shape: [2, 0], data: new Int32Array(0) },
  };
  const metadata = { format: 'pt', epoch: '3' };
  const dir = await mkdtemp(join(tmpdir(), 'vlgrad-st-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'ours.safetensors');
  await save(file, sd, metadata);

  const { stdout } = await promisify(execFile)(PYTHON, [SCRIPT, 'verify', file]);
  const got = JSON.parse(stdout);
  t.equal(got.header_length % 8, 0, 'header padded to 8');
  t.same(got.metadata, metadata);
  t.same(got.order, Object.keys(sd), 'insertion order kept');
  for (const [name, rec] of Object.entries(sd)) t.same(got.tensors[name], asExpected(rec), name);
});
