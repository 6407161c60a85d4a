/**
 * Checkpoints in the safetensors format, on plain typed-array records (no Tensor class needed).
 *
 * Layout: an 8-byte little-endian u64 N, N bytes of JSON header padded with spaces to a multiple of 8,
 * then the raw little-endian data buffer; each header entry is
 * `{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}` with offsets into that buffer, and
 * the optional `__metadata__` entry maps strings to strings.
 *
 * Writing keeps the state dict's key order (the official writer sorts by dtype, then name; readers
 * must accept any order) and emits only F32/F64/I32. Reading validates the whole header before it
 * allocates tensor memory (see safetensors_header.ts), accepts the other dtypes PyTorch writes, and
 * always copies into fresh aligned arrays that the caller owns.
 *
 * This module works on bytes and runs anywhere (a browser included); `save` and `load` on files are
 * in safetensors_node.ts (the `vlgrad/node` entry point).
 */
import { concatUint8Arrays, splitUint8Array } from 'typed-array-utils';
import { CheckpointError, quote } from './checkpoint_error.js';
import {
  type Fail,
  fileDtype,
  HOST_IS_LITTLE_ENDIAN,
  RECORD_ARRAY,
  type RecordDtype,
  type TensorRecord,
  WRITE_DTYPE,
} from './safetensors_dtype.js';
import {
  type HeaderEntry,
  MAX_HEADER_BYTES,
  MAX_RANK,
  parseHeader,
  readHeaderLength,
  setOwn,
} from './safetensors_header.js';

export { CheckpointError } from './checkpoint_error.js';
export type { RecordDtype, TensorRecord } from './safetensors_dtype.js';

/** Named tensors, in the order they are saved. */
export type StateDict = Record<string, TensorRecord>;

/** Free-form string-to-string notes stored in the header's `__metadata__`. */
export type Metadata = Record<string, string>;

/** What a checkpoint holds: tensors in file (offset) order, and the metadata (`{}` if none). */
export interface Checkpoint {
  tensors: StateDict;
  metadata: Metadata;
}

/**
 * Encodes a state dict as safetensors bytes, in memory.
 *
 * Tensors are laid out in key order. Throws {@link CheckpointError} for a record whose dtype, data
 * type, shape or length disagree, for the reserved name `__metadata__`, or for a non-string metadata value.
 */
export function serialize(sd: StateDict, metadata: Metadata = {}): Uint8Array {
  return concatMany(encodeParts(sd, metadata, '<serialize>'));
}

/**
 * Decodes and validates safetensors bytes, in memory.
 *
 * Applies exactly the checks {@link load} applies; `label` names the source in error messages.
 * The returned arrays never share memory with `bytes`.
 */
export function deserialize(bytes: Uint8Array | ArrayBuffer, label = '<bytes>'): Checkpoint {
  requireLittleEndian(label);
  const all = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const n = readHeaderLength(all, all.length, label);
  const [headerBytes, buffer] = splitUint8Array(all.subarray(8), n);
  const header = parseHeader(headerBytes, buffer.length, label);
  const tensors: StateDict = {};
  for (const e of header.entries) {
    setOwn(tensors, e.name, decodeEntry(e, buffer.subarray(e.begin, e.end), false, label));
  }
  return { tensors, metadata: header.metadata };
}

/**
 * Decodes a safetensors `Blob` (a browser `File` from an `<input type="file">`, a `fetch` Response's
 * blob, or anything with `arrayBuffer()`), with exactly the checks of {@link deserialize}.
 * To save in a browser, wrap {@link serialize}'s bytes: `new Blob([serialize(sd)])`.
 */
export async function deserializeBlob(
  blob: { arrayBuffer(): Promise<ArrayBuffer> },
  label = '<blob>',
): Promise<Checkpoint> {
  return deserialize(await blob.arrayBuffer(), label);
}

/** The file as separate pieces (prefix, header, one view per tensor), so save need not concatenate. */
/** @internal shared with safetensors_node.ts */
export function encodeParts(sd: StateDict, metadata: Metadata, file: string): Uint8Array[] {
  requireLittleEndian(file);
  const fail = (problem: string, tensor?: string): never => {
    throw new CheckpointError(file, tensor, problem);
  };
  if (!isRecordObject(sd)) fail('state dict is not an object');
  if (!isRecordObject(metadata)) fail('metadata is not an object');
  const meta = Object.entries(metadata).map(([k, v]) =>
    typeof v === 'string'
      ? `${JSON.stringify(k)}:${JSON.stringify(v)}`
      : fail(`metadata value for key ${quote(k)} is not a string`),
  );
  // The official writer omits __metadata__ when there is none; so do we, for byte-identical files.
  const fields = meta.length > 0 ? [`"__metadata__":{${meta.join(',')}}`] : [];
  const data: Uint8Array[] = [];
  let offset = 0;
  for (const [name, rec] of Object.entries(sd)) {
    if (name === '__metadata__') fail('the name "__metadata__" is reserved for the header metadata', name);
    const bytes = recordBytes(rec, (p) => fail(p, name));
    const end = offset + bytes.length;
    const entry = `{"dtype":"${WRITE_DTYPE[rec.dtype]}","shape":[${rec.shape.join(',')}],"data_offsets":[${offset},${end}]}`;
    fields.push(`${JSON.stringify(name)}:${entry}`);
    data.push(bytes);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${fields.join(',')}}`);
  // Pad with spaces to a multiple of 8, as the official writer does, so the data buffer starts aligned.
  const header = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  header.set(json);
  if (header.length > MAX_HEADER_BYTES)
    fail(`header would be ${header.length} bytes, over the ${MAX_HEADER_BYTES}-byte limit`);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(header.length), true);
  return [prefix, header, ...data];
}

/** Checks one record and returns a byte view of its data (no copy). */
function recordBytes(rec: TensorRecord, fail: Fail): Uint8Array {
  if (!isRecordObject(rec)) fail('is not a TensorRecord object');
  const { dtype, shape, data } = rec as { dtype: unknown; shape: unknown; data: unknown };
  if (typeof dtype !== 'string' || !Object.hasOwn(RECORD_ARRAY, dtype)) {
    fail(`dtype ${quote(String(dtype))} cannot be written (use float32, float64 or int32)`);
  }
  const Ctor = RECORD_ARRAY[dtype as RecordDtype];
  if (!(data instanceof Ctor)) fail(`data is not a ${Ctor.name}, as dtype ${String(dtype)} requires`);
  const dims = shape as number[];
  const valid = Array.isArray(dims) && dims.length <= MAX_RANK && dims.every((d) => Number.isSafeInteger(d) && d >= 0);
  if (!valid) fail(`shape must be an array of at most ${MAX_RANK} non-negative safe integers`);
  // An inexact (> 2^53) product can never equal a real array length, so plain multiplication is safe here.
  const numel = dims.reduce((a, d) => a * d, 1);
  const arr = data as RecordArrays;
  if (numel !== arr.length) fail(`shape [${dims.join(', ')}] has ${numel} elements but data has ${arr.length}`);
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
}

type RecordArrays = Float32Array | Float64Array | Int32Array;

/** Converts one validated entry's raw bytes into a record whose array the caller owns. */
/** @internal shared with safetensors_node.ts */
export function decodeEntry(e: HeaderEntry, raw: Uint8Array, owned: boolean, file: string): TensorRecord {
  const dt = fileDtype(e.dtype);
  const n = raw.length / dt.itemsize;
  const fail: Fail = (problem) => {
    throw new CheckpointError(file, e.name, problem);
  };
  let data: RecordArrays;
  try {
    if (dt.decode) data = dt.decode(new DataView(raw.buffer, raw.byteOffset, raw.length), n, fail);
    // A fresh, whole, aligned read buffer can become the array itself; anything else is copied.
    else if (owned && raw.buffer instanceof ArrayBuffer && raw.byteLength === raw.buffer.byteLength) {
      data = new RECORD_ARRAY[dt.to](raw.buffer, 0, n);
    } else {
      data = new RECORD_ARRAY[dt.to](n);
      new Uint8Array(data.buffer).set(raw);
    }
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(file, e.name, `cannot allocate ${raw.length} bytes (${(err as Error).message})`);
  }
  return { dtype: dt.to, shape: e.shape, data } as TensorRecord;
}

function isRecordObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** @internal shared with safetensors_node.ts */
export function requireLittleEndian(file: string): void {
  if (!HOST_IS_LITTLE_ENDIAN) throw new CheckpointError(file, undefined, 'big-endian hosts are not supported');
}

// A call spread of ~200k arrays overflows V8's stack, so very long part lists are concatenated in groups.
const GROUP = 10_000;

function concatMany(parts: Uint8Array[]): Uint8Array {
  if (parts.length <= GROUP) return concatUint8Arrays(...parts);
  const groups: Uint8Array[] = [];
  for (let i = 0; i < parts.length; i += GROUP) groups.push(concatUint8Arrays(...parts.slice(i, i + GROUP)));
  return concatMany(groups);
}
