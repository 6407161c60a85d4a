/**
 * Validation of a safetensors header, done in full before any tensor memory is allocated.
 * The rules follow the official loader (huggingface/safetensors `read_metadata` + `validate`):
 * the header length is capped, the header is a UTF-8 JSON object starting with `{` that fits the schema
 * with no duplicated key at any level (safetensors_json.ts, which replaces JSON.parse), every tensor has
 * a known dtype, a shape of non-negative safe integers and in-bounds offsets whose span equals
 * prod(shape)·itemsize, and the spans, sorted, tile the data buffer with no overlap and no hole.
 */
import { CheckpointError, quote } from './checkpoint_error.js';
import { FILE_DTYPES, type FileDtypeName, isFileDtype } from './safetensors_dtype.js';
import { MAX_RANK, parseHeaderJson, type RawEntry } from './safetensors_json.js';

export { MAX_RANK } from './safetensors_json.js';

/** Sets an own enumerable property, so that a key like "__proto__" is data, never a prototype change. */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The official loader's cap on the header; a larger one is refused before it is read. */
export const MAX_HEADER_BYTES = 100_000_000;

/** One validated tensor entry. `begin`/`end` are byte offsets into the data buffer. */
export interface HeaderEntry {
  name: string;
  dtype: FileDtypeName;
  shape: number[];
  begin: number;
  end: number;
}

/** A validated header: entries sorted by offset, and the string-to-string `__metadata__`. */
export interface Header {
  entries: HeaderEntry[];
  metadata: Record<string, string>;
}

/**
 * Reads the 8-byte little-endian header length N and checks it against the cap and the file size.
 * Returns N; throws {@link CheckpointError} if the file is too short or N does not fit.
 */
export function readHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw new CheckpointError(file, undefined, `file is ${fileSize} bytes, too short for the 8-byte header length`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new CheckpointError(file, undefined, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  if (n > BigInt(fileSize - 8)) {
    const rest = fileSize - 8;
    throw new CheckpointError(
      file,
      undefined,
      `header length ${n} runs past the end of the file (${rest} bytes follow the length)`,
    );
  }
  return Number(n);
}

/**
 * Parses the header bytes and validates every entry against a data buffer of `bufferLen` bytes.
 * Never allocates in proportion to the shapes or offsets it reads; any violation throws
 * {@link CheckpointError} naming the file and, where one is at fault, the tensor.
 */
export function parseHeader(bytes: Uint8Array, bufferLen: number, file: string): Header {
  const fail = (problem: string, tensor?: string): never => {
    throw new CheckpointError(file, tensor, problem);
  };
  if (bytes[0] !== 0x7b) fail('header does not start with "{"');
  const entries: HeaderEntry[] = [];
  const metadata = parseHeaderJson(bytes, file, (e) => entries.push(parseEntry(e, bufferLen, fail)));
  checkTiling(entries, bufferLen, fail);
  return { entries, metadata: metadata ?? {} };
}

function parseEntry(
  { name, fields }: RawEntry,
  bufferLen: number,
  fail: (p: string, tensor?: string) => never,
): HeaderEntry {
  const bad = (problem: string): never => fail(problem, name);
  const dtype = fields.get('dtype'),
    shape = fields.get('shape'),
    offsets = fields.get('data_offsets');
  if (typeof dtype !== 'string') bad('"dtype" is missing or not a string');
  if (!isFileDtype(dtype as string)) {
    bad(`unsupported dtype ${quote(dtype as string)} (readable: ${Object.keys(FILE_DTYPES).join(', ')})`);
  }
  const dt = dtype as FileDtypeName;
  if (!Array.isArray(shape)) bad('"shape" is missing or not an array');
  const dims = shape as unknown[];
  if (dims.length > MAX_RANK) bad(`rank exceeds the limit of ${MAX_RANK}`); // the reader stops at MAX_RANK + 1
  for (const d of dims) if (!isCount(d)) bad(`shape ${brief(dims)} has ${brief(d)}, not a non-negative safe integer`);
  if (!Array.isArray(offsets) || offsets.length !== 2) bad('"data_offsets" is missing or not a [begin, end] pair');
  const [begin, end] = offsets as unknown[];
  if (!isCount(begin) || !isCount(end)) bad(`data_offsets ${brief(offsets)} are not non-negative safe integers`);
  const b = begin as number,
    e = end as number;
  if (b > e) bad(`data_offsets [${b}, ${e}] end before they begin`);
  if (e > bufferLen) bad(`data_offsets [${b}, ${e}] run past the ${bufferLen}-byte data buffer`);
  const { itemsize } = FILE_DTYPES[dt];
  if (spanBytes(dims as number[], itemsize, bufferLen) !== e - b) {
    const need = exactBytes(dims as number[], itemsize);
    bad(`shape [${dims.join(', ')}] of ${dt} needs ${need} bytes but data_offsets [${b}, ${e}] span ${e - b}`);
  }
  return { name, dtype: dt, shape: dims as number[], begin: b, end: e };
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** A short rendering of a hostile value for a message (arrays hold only scalars: see the reader). */
function brief(v: unknown): string {
  if (!Array.isArray(v)) return scalar(v);
  const items = v.slice(0, 8).map(scalar).join(', ');
  return `[${items}${v.length > 8 ? ', …' : ''}]`;
}

function scalar(v: unknown): string {
  if (Array.isArray(v)) return '[…]';
  if (typeof v === 'object' && v !== null) return '{…}';
  return String(JSON.stringify(v)).slice(0, 40);
}

/**
 * prod(shape)·itemsize if it is at most `cap`, else Infinity. Overflow-safe: the running product stays
 * ≤ cap < 2^53 before each multiply, so every product that is kept was computed exactly.
 */
function spanBytes(shape: number[], itemsize: number, cap: number): number {
  if (shape.includes(0)) return 0;
  let n = itemsize;
  for (const d of shape) {
    n *= d;
    if (n > cap) return Infinity;
  }
  return n;
}

/** The exact byte count for a message, in BigInt so a hostile shape prints its true size. */
function exactBytes(shape: number[], itemsize: number): string {
  return shape.reduce((acc, d) => acc * BigInt(d), BigInt(itemsize)).toString();
}

/** Sorted by offset, the spans must tile [0, bufferLen) exactly: no overlap, no hole, no tail. */
function checkTiling(entries: HeaderEntry[], bufferLen: number, fail: (p: string, tensor?: string) => never): void {
  entries.sort((x, y) => x.begin - y.begin || x.end - y.end);
  let pos = 0;
  let prev: HeaderEntry | undefined;
  for (const e of entries) {
    if (e.begin < pos) fail(`data_offsets [${e.begin}, ${e.end}] overlap tensor ${quote(prev?.name ?? '')}`, e.name);
    if (e.begin > pos) fail(`bytes [${pos}, ${e.begin}) of the data buffer belong to no tensor`);
    pos = e.end;
    prev = e;
  }
  if (pos !== bufferLen) fail(`bytes [${pos}, ${bufferLen}) of the data buffer belong to no tensor`);
}
