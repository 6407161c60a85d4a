/**
 * The JSON reader for safetensors headers: a parser for exactly the header's schema, used instead of
 * `JSON.parse`.
 *
 * `JSON.parse` builds whatever the text describes before we can look at it. V8 needs time and memory far
 * beyond the input's size for some shapes of input (a 98 MB `{"a":[[[…]]]}` took 120 s and 4.9 GB; a
 * flat 98 MB `{"a":[[],[],…]}` 2.4 GB), and it keeps the last of duplicated keys, so a second `"dtype"`
 * would silently change what the bytes mean. This reader knows the schema, a root object of tensor
 * entries `{"dtype": string, "shape": [numbers], "data_offsets": [numbers]}` plus an optional
 * `__metadata__` object of strings, and stops at the first character that cannot belong to it:
 * - nesting is at most three levels (the official loader, through serde_json, allows up to 127), so a
 *   deeply nested header is refused at its first misplaced bracket;
 * - a key repeated in the root, in an entry or in `__metadata__` is refused (the official loader does too);
 * - arrays stop at {@link MAX_RANK} elements, and an entry holds only the three fields (the official
 *   loader ignores unknown fields; no writer emits them, and skipping them would need a general parser);
 * so memory stays a small multiple of the header's size, and time is linear in it.
 */
import { CheckpointError, quote } from './checkpoint_error.js';

/** Highest rank accepted (numpy's limit); only a broken or hostile file has more. */
export const MAX_RANK = 64;

/** A JSON scalar as written in the header. */
export type Scalar = string | number | boolean | null;

/** One tensor entry's fields as written, before their meaning is checked (safetensors_header.ts). */
export interface RawEntry {
  name: string;
  fields: Map<string, Scalar | Scalar[]>;
}

const FIELDS = new Set(['dtype', 'shape', 'data_offsets']);
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const [QUOTE, BACKSLASH, COMMA, COLON] = [0x22, 0x5c, 0x2c, 0x3a];
const [OPEN_OBJ, CLOSE_OBJ, OPEN_ARR, CLOSE_ARR] = [0x7b, 0x7d, 0x5b, 0x5d];
/** Marks a `[` or `{` where a scalar was expected; nothing is built for it. */
const CONTAINER = Symbol('container');

/**
 * Parses the header's UTF-8 bytes against the safetensors schema. Throws {@link CheckpointError} naming
 * `file` (and the tensor, where one is at fault) for invalid UTF-8, malformed JSON or anything the schema
 * does not allow. It reads bytes, not decoded text: outside strings JSON is ASCII, so only strings need
 * decoding, and a hostile header is refused after reading no more than the prefix that gives it away.
 * Each entry goes to `onEntry` as soon as it is read, so the caller can refuse it before reading on.
 * Returns `__metadata__` (null if absent).
 */
export function parseHeaderJson(
  bytes: Uint8Array,
  file: string,
  onEntry: (e: RawEntry) => void,
): Record<string, string> | null {
  const r = new Reader(bytes, file);
  const names = new Set<string>();
  let metadata: Record<string, string> | null = null;
  r.expect(OPEN_OBJ, '"{"');
  r.members(CLOSE_OBJ, (name) => {
    if (names.has(name)) {
      if (name === '__metadata__') r.fail('__metadata__ appears twice in the header');
      r.fail(`name ${quote(name)} appears twice in the header`, name);
    }
    names.add(name);
    if (name === '__metadata__') metadata = readMetadata(r);
    else onEntry({ name, fields: readEntry(r, name) });
  });
  r.skipSpace();
  if (r.i < bytes.length) r.syntax('unexpected text after the header object');
  return metadata;
}

function readEntry(r: Reader, name: string): Map<string, Scalar | Scalar[]> {
  if (r.peek() !== OPEN_OBJ) r.fail('entry is not a JSON object', name);
  r.i++;
  const fields = new Map<string, Scalar | Scalar[]>();
  r.members(CLOSE_OBJ, (key) => {
    if (!FIELDS.has(key))
      r.fail(`unknown field ${quote(key)} (an entry holds only dtype, shape and data_offsets)`, name);
    if (fields.has(key)) r.fail(`duplicate field ${quote(key)}`, name);
    if (r.peek() === OPEN_ARR) {
      r.i++;
      fields.set(key, readArray(r, name, key));
      return;
    }
    const v = r.scalar();
    if (v === CONTAINER) r.fail(`${quote(key)} is a JSON object`, name);
    fields.set(key, v as Scalar);
  });
  return fields;
}

function readArray(r: Reader, name: string, key: string): Scalar[] {
  const out: Scalar[] = [];
  if (r.peek() === CLOSE_ARR) {
    r.i++;
    return out;
  }
  do {
    const v = r.scalar();
    if (v === CONTAINER) r.fail(`${quote(key)} holds a nested array or object, not a number`, name);
    out.push(v as Scalar);
    if (out.length > MAX_RANK) {
      r.fail(
        key === 'shape' ? `rank exceeds the limit of ${MAX_RANK}` : `${quote(key)} has more than ${MAX_RANK} elements`,
        name,
      );
    }
  } while (r.commaOr(CLOSE_ARR, '"]"'));
  return out;
}

function readMetadata(r: Reader): Record<string, string> {
  const out = new Map<string, string>();
  if (r.peek() !== OPEN_OBJ) {
    // The official writer omits an empty __metadata__; serde also reads null as absent.
    if (r.scalar() === null) return {};
    r.fail('__metadata__ is not a JSON object');
  }
  r.i++;
  r.members(CLOSE_OBJ, (key) => {
    if (out.has(key)) r.fail(`__metadata__ has the key ${quote(key)} twice`);
    const v = r.peek() === QUOTE ? r.string() : undefined;
    if (v === undefined) r.fail(`__metadata__ value for key ${quote(key)} is not a string`);
    out.set(key, v as string);
  });
  // fromEntries defines own data properties: a key "__proto__" stays data, never a prototype change.
  return Object.fromEntries(out);
}

/** A cursor over the header bytes with JSON's lexical rules. */
class Reader {
  i = 0;

  constructor(
    readonly bytes: Uint8Array,
    readonly file: string,
  ) {}

  fail(problem: string, tensor?: string): never {
    throw new CheckpointError(this.file, tensor, problem);
  }

  syntax(what: string): never {
    this.fail(`header is not valid JSON (${what} at byte ${this.i})`);
  }

  skipSpace(): void {
    const s = this.bytes;
    for (let c = s[this.i]; c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = s[++this.i]);
  }

  /** The next non-space byte (-1 at the end). */
  peek(): number {
    this.skipSpace();
    return this.i < this.bytes.length ? this.bytes[this.i]! : -1;
  }

  expect(c: number, what: string): void {
    if (this.peek() !== c) this.syntax(`expected ${what}`);
    this.i++;
  }

  /** After a value: consumes "," (true: another follows) or `close` (false), else a syntax error. */
  commaOr(close: number, what: string): boolean {
    const c = this.peek();
    this.i++;
    if (c === COMMA) return true;
    if (c === close) return false;
    this.i--;
    return this.syntax(`expected "," or ${what}`);
  }

  /** Reads `"key": ` pairs up to `close` (the opening brace already consumed), calling `value` for each. */
  members(close: number, value: (key: string) => void): void {
    if (this.peek() === close) {
      this.i++;
      return;
    }
    do {
      if (this.peek() !== QUOTE) this.syntax('expected a string key');
      const key = this.string();
      this.expect(COLON, '":"');
      value(key);
    } while (this.commaOr(close, '"}"'));
  }

  /** A JSON string at the cursor (which is on its opening quote). */
  string(): string {
    const s = this.bytes;
    const start = this.i;
    let escaped = false;
    let ascii = true;
    for (let j = start + 1; j < s.length; j++) {
      const c = s[j]!;
      if (c === QUOTE) {
        const text = ascii ? asciiText(s, start + 1, j) : this.utf8(start + 1, j);
        this.i = j + 1;
        if (!escaped) return text;
        try {
          return JSON.parse(`"${text}"`) as string;
        } catch {
          this.i = start;
          return this.syntax('bad escape in string');
        }
      }
      if (c === BACKSLASH) {
        escaped = true;
        j++;
      } else if (c >= 0x80) {
        ascii = false;
      } else if (c < 0x20) {
        this.i = j;
        this.syntax('control character in string');
      }
    }
    this.i = start;
    return this.syntax('unterminated string');
  }

  /** Bytes [a, b) as UTF-8 text; invalid UTF-8 is a CheckpointError. */
  utf8(a: number, b: number): string {
    try {
      return UTF8.decode(this.bytes.subarray(a, b));
    } catch {
      return this.fail('header is not valid UTF-8');
    }
  }

  /** A string, number, true, false or null; CONTAINER (consuming nothing) if an array or object starts here. */
  scalar(): Scalar | typeof CONTAINER {
    const c = this.peek();
    if (c === QUOTE) return this.string();
    if (c === OPEN_ARR || c === OPEN_OBJ) return CONTAINER;
    for (const [word, v] of LITERALS) {
      if (word.every((b, k) => this.bytes[this.i + k] === b)) {
        this.i += word.length;
        return v;
      }
    }
    // Take the run of number characters, then check it against JSON's number grammar.
    let j = this.i;
    while (j < this.bytes.length && NUMBER_CHAR[this.bytes[j]!]) j++;
    const token = String.fromCharCode(...this.bytes.subarray(this.i, Math.min(j, this.i + 400)));
    if (j === this.i || j - this.i > 400 || !NUMBER.test(token)) this.syntax('expected a value');
    this.i = j;
    return Number(token);
  }
}

/** ASCII bytes [a, b) as text. A TextDecoder call costs microseconds, too much per key of a big header. */
function asciiText(bytes: Uint8Array, a: number, b: number): string {
  if (b - a === 1) return String.fromCharCode(bytes[a]!);
  let out = '';
  for (let k = a; k < b; k += 4096) {
    out += String.fromCharCode.apply(null, bytes.subarray(k, Math.min(b, k + 4096)) as unknown as number[]);
  }
  return out;
}

const LITERALS: [number[], Scalar][] = [
  ['true', true] as const,
  ['false', false] as const,
  ['null', null] as const,
].map(([w, v]) => [[...w].map((ch) => ch.charCodeAt(0)), v]);
const NUMBER_CHAR = new Uint8Array(256);
for (const ch of '0123456789+-.eE') NUMBER_CHAR[ch.charCodeAt(0)] = 1;
