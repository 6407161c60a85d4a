/**
 * The dtype table of the safetensors reader and writer: what each file dtype is called, its item size,
 * which record dtype it loads as, and how its little-endian bytes are converted when they are not
 * already that record's layout. We write only F32, F64 and I32; the rest exist so that a file PyTorch
 * wrote (half precision weights, int64 index buffers, bool masks) still loads.
 */

/** Element types a {@link TensorRecord} can hold. float32 is the production dtype. */
export type RecordDtype = 'float32' | 'float64' | 'int32';

/** The typed array behind each record dtype. */
export interface RecordArrays {
  float32: Float32Array;
  float64: Float64Array;
  int32: Int32Array;
}

/**
 * A tensor as plain data, independent of the Tensor class.
 *
 * `data` is contiguous row-major and holds exactly prod(shape) elements; `shape: []` is a 0-d scalar
 * with one element, and any 0 in the shape makes an empty tensor.
 */
export type TensorRecord = {
  [D in RecordDtype]: { dtype: D; shape: number[]; data: RecordArrays[D] };
}[RecordDtype];

/** Reports a problem with one tensor's values; throws. */
export type Fail = (problem: string) => never;

/** Converts n elements of raw little-endian bytes (any alignment) into a fresh typed array. */
type Decode = (src: DataView, n: number, fail: Fail) => RecordArrays[RecordDtype];

interface FileDtype {
  readonly itemsize: number;
  readonly to: RecordDtype;
  /** Absent when the bytes already are the record layout and only need copying into aligned memory. */
  readonly decode?: Decode;
}

/** Every file dtype the reader accepts, keyed by its safetensors name. */
export const FILE_DTYPES = {
  F32: { itemsize: 4, to: 'float32' },
  F64: { itemsize: 8, to: 'float64' },
  I32: { itemsize: 4, to: 'int32' },
  F16: { itemsize: 2, to: 'float32', decode: decodeF16 },
  BF16: { itemsize: 2, to: 'float32', decode: decodeBF16 },
  I64: { itemsize: 8, to: 'int32', decode: decodeI64 },
  U64: { itemsize: 8, to: 'int32', decode: decodeU64 },
  U32: { itemsize: 4, to: 'int32', decode: decodeU32 },
  I16: { itemsize: 2, to: 'int32', decode: widen((s, i) => s.getInt16(2 * i, true)) },
  U16: { itemsize: 2, to: 'int32', decode: widen((s, i) => s.getUint16(2 * i, true)) },
  I8: { itemsize: 1, to: 'int32', decode: widen((s, i) => s.getInt8(i)) },
  U8: { itemsize: 1, to: 'int32', decode: widen((s, i) => s.getUint8(i)) },
  // torch writes bools as 0/1 bytes; any other byte is read as true, as numpy's bool cast would.
  BOOL: { itemsize: 1, to: 'int32', decode: widen((s, i) => (s.getUint8(i) === 0 ? 0 : 1)) },
} as const satisfies Record<string, FileDtype>;

/** A safetensors dtype name the reader accepts. */
export type FileDtypeName = keyof typeof FILE_DTYPES;

/** The file dtype each record dtype is written as. */
export const WRITE_DTYPE = { float32: 'F32', float64: 'F64', int32: 'I32' } as const satisfies Record<
  RecordDtype,
  FileDtypeName
>;

/** The typed array constructor for each record dtype. */
export const RECORD_ARRAY = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;

/** True if `s` names a file dtype the reader accepts (own keys only: "toString" is no dtype). */
export function isFileDtype(s: string): s is FileDtypeName {
  return Object.hasOwn(FILE_DTYPES, s);
}

/** The table entry for a dtype, typed as the general FileDtype so `decode` may be absent. */
export function fileDtype(name: FileDtypeName): FileDtype {
  return FILE_DTYPES[name];
}

/** True when the host stores numbers little-endian, so file bytes can be copied into typed arrays as-is. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * IEEE binary16 bits -> binary32 bits. Every finite value and infinity converts exactly (subnormals are
 * normalized); a NaN keeps its sign and payload and comes out quiet, as F16C hardware and PyTorch do.
 */
export function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant === 0 ? 0 : 0x400000) | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal half mant·2^-24: shift until the implicit bit appears, lowering the float exponent.
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

// Float results are written through a Uint32Array view: storing a NaN as a JS number may change its payload.
function decodeF16(src: DataView, n: number): Float32Array {
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) bits[i] = halfToFloatBits(src.getUint16(2 * i, true));
  return out;
}

function decodeBF16(src: DataView, n: number): Float32Array {
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) bits[i] = src.getUint16(2 * i, true) << 16;
  return out;
}

function decodeI64(src: DataView, n: number, fail: Fail): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const lo = src.getUint32(8 * i, true);
    // The value fits in int32 exactly when the high word is the sign extension of the low word.
    if (src.getInt32(8 * i + 4, true) !== (lo | 0) >> 31) {
      fail(`I64 element ${i} = ${src.getBigInt64(8 * i, true)} does not fit in int32`);
    }
    out[i] = lo | 0;
  }
  return out;
}

function decodeU64(src: DataView, n: number, fail: Fail): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const lo = src.getUint32(8 * i, true);
    if (src.getUint32(8 * i + 4, true) !== 0 || lo > 0x7fffffff) {
      fail(`U64 element ${i} = ${src.getBigUint64(8 * i, true)} does not fit in int32`);
    }
    out[i] = lo;
  }
  return out;
}

function decodeU32(src: DataView, n: number, fail: Fail): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = src.getUint32(4 * i, true);
    if (v > 0x7fffffff) fail(`U32 element ${i} = ${v} does not fit in int32`);
    out[i] = v;
  }
  return out;
}

function widen(read: (src: DataView, i: number) => number): Decode {
  return (src, n) => {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = read(src, i);
    return out;
  };
}
