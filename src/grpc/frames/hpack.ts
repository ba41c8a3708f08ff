/**
 * HPACK (RFC 7541): header compression for the frame-level HTTP/2 engine. One decoder and one encoder per HTTP/2
 * connection and direction (each holds that connection's dynamic table). Header names and values are octet strings
 * carried as latin1 JS strings (one character per octet), so any octet survives decode → encode unchanged.
 */
import {
  HUFFMAN_EOS,
  huffmanDecode,
  huffmanDecodedBound,
  huffmanEncode,
  huffmanEncodedLength,
} from './huffman.js';

/** A malformed or over-limit header block (an HTTP/2 COMPRESSION_ERROR unless `tableIntact`). */
export class HpackError extends Error {
  /**
   * True when the whole block was decoded and the dynamic table is in step with the peer's (the header list was too
   * large): the connection can go on and only the stream be refused. False for malformed input.
   */
  readonly tableIntact: boolean;
  constructor(message: string, tableIntact = false) {
    super(message);
    this.name = 'HpackError';
    this.tableIntact = tableIntact;
  }
}

/** RFC 7541 Appendix A, index 1 first. */
const STATIC: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_COUNT = STATIC.length; // 61
const STATIC_NAMES = STATIC.map((e) => e[0]);
const STATIC_VALUES = STATIC.map((e) => e[1]);

/** The encoder's view of the static table: per name, its first index and the indexes of its name/value pairs. */
interface StaticName {
  readonly index: number;
  readonly values: Map<string, number>;
}
const STATIC_BY_NAME = new Map<string, StaticName>();
STATIC.forEach(([name, value], i) => {
  let e = STATIC_BY_NAME.get(name);
  if (e === undefined) STATIC_BY_NAME.set(name, (e = { index: i + 1, values: new Map() }));
  // entries with an empty value are name-only in practice; an empty value still matches exactly
  if (!e.values.has(value)) e.values.set(value, i + 1);
});

/** Entry overhead (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32;
/** HTTP/2's initial SETTINGS_HEADER_TABLE_SIZE. */
const DEFAULT_TABLE_SIZE = 4096;
/** Integers above this are rejected (far above any table size, string length or index a block can carry). */
const MAX_INT = 0x3fffffff;
const NO_FIELDS: readonly number[] = Object.freeze([]);

/**
 * A FIFO of header fields, newest first by HPACK index: a ring of names and values with the RFC's size accounting.
 * Shared by the decoder; the encoder keeps its own lookup maps beside one.
 */
class DynamicTable {
  names: string[] = new Array<string>(16);
  values: string[] = new Array<string>(16);
  /** Ring position of the oldest entry. */
  first = 0;
  count = 0;
  /** Sum of the entries' sizes. */
  size = 0;
  capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Name of the entry with dynamic index d (0 = newest); d < count. */
  name(d: number): string {
    return this.names[(this.first + this.count - 1 - d) & (this.names.length - 1)]!;
  }

  value(d: number): string {
    return this.values[(this.first + this.count - 1 - d) & (this.values.length - 1)]!;
  }

  /** Evicts oldest entries until size + room fits the capacity; calls onEvict for each. */
  evictFor(room: number, onEvict?: (name: string, value: string) => void): void {
    const mask = this.names.length - 1;
    while (this.count > 0 && this.size + room > this.capacity) {
      const name = this.names[this.first]!;
      const value = this.values[this.first]!;
      this.size -= name.length + value.length + ENTRY_OVERHEAD;
      this.names[this.first] = '';
      this.values[this.first] = '';
      this.first = (this.first + 1) & mask;
      this.count--;
      onEvict?.(name, value);
    }
  }

  /** Adds a field (RFC 7541 §4.4: one larger than the capacity empties the table and is not added). */
  add(name: string, value: string, onEvict?: (name: string, value: string) => void): boolean {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    this.evictFor(size, onEvict);
    if (size > this.capacity) return false;
    if (this.count === this.names.length) this.#grow();
    const at = (this.first + this.count) & (this.names.length - 1);
    this.names[at] = name;
    this.values[at] = value;
    this.count++;
    this.size += size;
    return true;
  }

  #grow(): void {
    const n = this.names.length;
    const names = new Array<string>(n * 2);
    const values = new Array<string>(n * 2);
    for (let i = 0; i < this.count; i++) {
      names[i] = this.names[(this.first + i) & (n - 1)]!;
      values[i] = this.values[(this.first + i) & (n - 1)]!;
    }
    this.names = names;
    this.values = values;
    this.first = 0;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Decoder

export interface HpackDecoderOptions {
  /** Our SETTINGS_HEADER_TABLE_SIZE: the largest dynamic table the peer may use (default 4096). */
  maxTableSize?: number;
  /** Largest decoded header list, RFC 7540 §6.5.2 size: name + value + 32 per field (default 65536). */
  maxHeaderListSize?: number;
}

/** Scratch for Huffman-decoded strings (grown on demand; decoding is synchronous, so one per process suffices). */
let scratch = Buffer.allocUnsafe(4096);
/** Where the last readInt/readString stopped. */
let pos = 0;

function truncated(what: string): HpackError {
  return new HpackError(`HPACK: the block ends inside ${what}`);
}

/** Reads an integer whose first octet is b[p] with an N-bit prefix (mask = 2^N - 1); sets pos after it. */
function readInt(b: Uint8Array, p: number, mask: number, what: string): number {
  let v = b[p]! & mask;
  p++;
  if (v === mask) {
    let shift = 0;
    for (;;) {
      if (p >= b.length) throw truncated(what);
      const o = b[p++]!;
      v += (o & 0x7f) * 2 ** shift;
      if ((o & 0x80) === 0) break;
      shift += 7;
      if (shift > 28 || v > MAX_INT) throw new HpackError(`HPACK: ${what} is too large (integer over ${MAX_INT})`);
    }
    if (v > MAX_INT) throw new HpackError(`HPACK: ${what} is too large (integer over ${MAX_INT})`);
  }
  pos = p;
  return v;
}

/** Reads a string literal at b[p] (raw or Huffman); sets pos after it. */
function readString(b: Buffer, p: number, what: string): string {
  if (p >= b.length) throw truncated(what);
  const huffman = (b[p]! & 0x80) !== 0;
  const len = readInt(b, p, 0x7f, `the length of ${what}`);
  const start = pos;
  const end = start + len;
  if (end > b.length) throw new HpackError(`HPACK: ${what} is ${len} octets but the block has ${b.length - start} left`);
  pos = end;
  if (!huffman) return b.latin1Slice(start, end);
  const bound = huffmanDecodedBound(len);
  if (bound > scratch.length) scratch = Buffer.allocUnsafe(Math.max(bound, scratch.length * 2));
  const n = huffmanDecode(b, start, end, scratch);
  if (n < 0) {
    throw new HpackError(
      n === HUFFMAN_EOS
        ? `HPACK: the Huffman code of ${what} contains EOS`
        : `HPACK: the Huffman code of ${what} ends in padding that is longer than 7 bits or not all ones`,
    );
  }
  return scratch.latin1Slice(0, n);
}

declare global {
  interface Buffer {
    /** Node's latin1 decoder without toString's argument handling (present in every Node version). */
    latin1Slice(start: number, end: number): string;
    latin1Write(s: string, offset: number, length: number): number;
  }
}

export class HpackDecoder {
  #table: DynamicTable;
  /** Our SETTINGS_HEADER_TABLE_SIZE. */
  #max: number;
  readonly #maxListSize: number;
  /** Our setting went below the table's capacity: the next block must start with a size update. */
  #updateDue = false;
  #never: readonly number[] = NO_FIELDS;

  constructor(options: HpackDecoderOptions = {}) {
    this.#max = checkSize(options.maxTableSize ?? DEFAULT_TABLE_SIZE, 'maxTableSize');
    this.#maxListSize = options.maxHeaderListSize ?? 65536;
    this.#table = new DynamicTable(Math.min(DEFAULT_TABLE_SIZE, this.#max));
  }

  /** Our SETTINGS_HEADER_TABLE_SIZE: size updates in blocks may not exceed it (RFC 7541 §4.2). */
  setMaxTableSize(n: number): void {
    this.#max = checkSize(n, 'the table size');
    if (this.#table.capacity > n) this.#updateDue = true;
  }

  /**
   * Pair indexes (array index / 2) of the last decode()'s never-indexed literals (usually empty). A new array per
   * block that has any; never mutated afterwards.
   */
  get neverIndexed(): readonly number[] {
    return this.#never;
  }

  /** The dynamic table, newest first, as [name, value] pairs (for tests and diagnostics). */
  get dynamicTable(): [string, string][] {
    const out: [string, string][] = [];
    for (let d = 0; d < this.#table.count; d++) out.push([this.#table.name(d), this.#table.value(d)]);
    return out;
  }

  /** The dynamic table's size (RFC 7541 §4.1) and capacity. */
  get tableSize(): { size: number; capacity: number } {
    return { size: this.#table.size, capacity: this.#table.capacity };
  }

  /** One complete header block (HEADERS + CONTINUATION payloads joined). Flat list: names at even, values at odd indexes. */
  decode(block: Uint8Array): string[] {
    const b = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    const table = this.#table;
    const out: string[] = [];
    const end = b.length;
    let never: number[] | undefined;
    let listSize = 0;
    let p = 0;
    if (this.#updateDue) {
      if (end === 0 || (b[0]! & 0xe0) !== 0x20) {
        throw new HpackError(
          `HPACK: the block does not start with a dynamic table size update (required after the table size setting was lowered to ${this.#max})`,
        );
      }
    }
    // size updates: only before the first field (RFC 7541 §4.2)
    while (p < end && (b[p]! & 0xe0) === 0x20) {
      const n = readInt(b, p, 0x1f, 'a dynamic table size update');
      p = pos;
      if (n > this.#max) {
        throw new HpackError(`HPACK: dynamic table size update to ${n} exceeds the maximum of ${this.#max}`);
      }
      table.capacity = n;
      table.evictFor(0);
      this.#updateDue = false;
    }
    while (p < end) {
      const first = b[p]!;
      let name: string;
      let value: string;
      if (first >= 0x80) {
        // indexed field (§6.1)
        const index = readInt(b, p, 0x7f, 'an index');
        p = pos;
        if (index <= STATIC_COUNT) {
          if (index === 0) throw new HpackError('HPACK: index 0 is not a valid index');
          name = STATIC_NAMES[index - 1]!;
          value = STATIC_VALUES[index - 1]!;
        } else {
          const d = index - STATIC_COUNT - 1;
          if (d >= table.count) throw pastTable(index, table.count);
          name = table.name(d);
          value = table.value(d);
        }
      } else if (first >= 0x40 || first < 0x20) {
        // literal: with incremental indexing (01, 6-bit index) or without / never indexed (0000 / 0001, 4-bit)
        const indexing = first >= 0x40;
        const index = readInt(b, p, indexing ? 0x3f : 0x0f, 'a name index');
        p = pos;
        if (index === 0) {
          name = readString(b, p, 'a header name');
          p = pos;
        } else if (index <= STATIC_COUNT) {
          name = STATIC_NAMES[index - 1]!;
        } else {
          const d = index - STATIC_COUNT - 1;
          if (d >= table.count) throw pastTable(index, table.count);
          name = table.name(d);
        }
        value = readString(b, p, `the value of ${printable(name)}`);
        p = pos;
        if (indexing) table.add(name, value);
        else if ((first & 0x10) !== 0) (never ??= []).push(out.length >> 1);
      } else {
        throw new HpackError('HPACK: a dynamic table size update after the first header field of the block');
      }
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      out.push(name, value);
    }
    this.#never = never ?? NO_FIELDS;
    if (listSize > this.#maxListSize) {
      this.#never = NO_FIELDS;
      throw new HpackError(
        `HPACK: the header list is ${listSize} octets, over the limit of ${this.#maxListSize}`,
        true,
      );
    }
    return out;
  }
}

function pastTable(index: number, count: number): HpackError {
  return new HpackError(
    `HPACK: index ${index} is past the dynamic table (${count} ${count === 1 ? 'entry' : 'entries'})`,
  );
}

/** A header name for an error message: printable ASCII kept, the rest escaped, long names cut. */
function printable(name: string): string {
  const s = name.length > 64 ? `${name.slice(0, 64)}…` : name;
  return JSON.stringify(s);
}

function checkSize(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_INT) throw new RangeError(`HPACK: ${what} must be an integer 0..${MAX_INT}, got ${n}`);
  return n;
}

// ---------------------------------------------------------------------------------------------------------------
// Encoder

export interface HpackEncoderOptions {
  /** The peer's SETTINGS_HEADER_TABLE_SIZE (default 4096). */
  maxTableSize?: number;
  /** Huffman-code string literals when that makes them shorter (default false). */
  huffman?: boolean;
}

/** Fields whose values rarely repeat, or that should not sit in a shared table: sent without indexing. */
const NOT_INDEXED = new Set([
  'grpc-timeout', 'content-length', 'date', 'etag', 'last-modified', 'expires', 'age', 'grpc-message',
  'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-request-id', 'grpc-trace-bin',
  'traceparent', 'tracestate', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-amzn-trace-id',
]);
/** Fields never put in the table (they have static name indexes, so nothing is lost). */
const SENSITIVE = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);
/** Values longer than this are sent without indexing. */
const MAX_INDEXED_VALUE = 256;
/** Recent literal values remembered per name (a value is indexed the second time it is seen). */
const RECENT_VALUES = 4;
/** At most this many names are remembered (the memory is cleared when full). */
const RECENT_NAMES = 256;

/** The encoder's map of one name in the dynamic table. */
interface DynamicName {
  /** Insertion number of each value's newest entry. */
  readonly values: Map<string, number>;
  /** Insertion number of the newest entry with this name. */
  newest: number;
}

export class HpackEncoder {
  readonly #table: DynamicTable;
  readonly #huffman: boolean;
  /** Insertion number the next entry gets; entry k has HPACK index 62 + (#inserted - 1 - k). */
  #inserted = 0;
  readonly #byName = new Map<string, DynamicName>();
  /** Smallest capacity since the last block, when a size update is due; -1 when none is due. */
  #pendingMin = -1;
  readonly #recent = new Map<string, string[]>();
  readonly #onEvict = (name: string, value: string): void => {
    const e = this.#byName.get(name);
    if (e === undefined) return;
    // FIFO eviction: the oldest entry goes, so the evicted entry is the oldest of its name and value
    const evicted = this.#inserted - this.#table.count - 1;
    if (e.newest === evicted) this.#byName.delete(name);
    else if (e.values.get(value) === evicted) e.values.delete(value);
  };

  constructor(options: { maxTableSize?: number; huffman?: boolean } = {}) {
    this.#table = new DynamicTable(DEFAULT_TABLE_SIZE);
    this.#huffman = options.huffman ?? false;
    if (options.maxTableSize !== undefined) this.setMaxTableSize(options.maxTableSize);
  }

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE: the encoder's table capacity from now on. A size update goes at the start
   * of the next block when the capacity changed (the smallest one first if it went down and up again).
   */
  setMaxTableSize(n: number): void {
    checkSize(n, 'the table size');
    if (n === this.#table.capacity && this.#pendingMin < 0) return;
    this.#pendingMin = this.#pendingMin < 0 ? Math.min(n, this.#table.capacity) : Math.min(this.#pendingMin, n);
    this.#table.capacity = n;
    this.#table.evictFor(0, this.#onEvict);
  }

  /**
   * Flat name/value list (lowercase names, as HTTP/2 requires); fields whose pair index is in neverIndexed use the
   * never-indexed literal form. Names and values are latin1 strings (characters up to U+00FF).
   */
  encode(fields: readonly string[], neverIndexed?: readonly number[]): Buffer {
    let bound = 12;
    for (let i = 0; i < fields.length; i++) bound += fields[i]!.length + 6;
    const out = Buffer.allocUnsafe(bound);
    let p = 0;
    if (this.#pendingMin >= 0) {
      const final = this.#table.capacity;
      if (this.#pendingMin < final) p = writeInt(out, p, this.#pendingMin, 0x1f, 0x20);
      p = writeInt(out, p, final, 0x1f, 0x20);
      this.#pendingMin = -1;
    }
    const table = this.#table;
    const n = fields.length - 1;
    for (let i = 0; i < n; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      const st = STATIC_BY_NAME.get(name);
      const dyn = this.#byName.get(name);
      const never = neverIndexed !== undefined && neverIndexed.length > 0 && neverIndexed.includes(i >> 1);
      if (!never) {
        const si = st?.values.get(value);
        if (si !== undefined) {
          p = writeInt(out, p, si, 0x7f, 0x80);
          continue;
        }
        const k = dyn?.values.get(value);
        if (k !== undefined) {
          p = writeInt(out, p, STATIC_COUNT + this.#inserted - k, 0x7f, 0x80);
          continue;
        }
      }
      const nameIndex = st !== undefined ? st.index : dyn !== undefined ? STATIC_COUNT + this.#inserted - dyn.newest : 0;
      if (never) {
        p = writeInt(out, p, nameIndex, 0x0f, 0x10);
      } else if (this.#shouldIndex(name, value, nameIndex !== 0)) {
        p = writeInt(out, p, nameIndex, 0x3f, 0x40);
        if (table.add(name, value, this.#onEvict)) {
          const k = this.#inserted++;
          const e = this.#byName.get(name);
          if (e === undefined) this.#byName.set(name, { values: new Map([[value, k]]), newest: k });
          else {
            e.values.set(value, k);
            e.newest = k;
          }
        }
      } else {
        p = writeInt(out, p, nameIndex, 0x0f, 0x00);
      }
      if (nameIndex === 0) p = this.#writeString(out, p, name);
      p = this.#writeString(out, p, value);
    }
    return out.subarray(0, p);
  }

  /**
   * Index a literal when its value was seen recently (values that change per call stay out of the table), when it
   * is not long nor larger than half the table, and its name is not in NOT_INDEXED; but the first field of a name
   * the tables do not know yet is indexed anyway (if it is not sensitive), so later literals can refer to its name.
   */
  #shouldIndex(name: string, value: string, named: boolean): boolean {
    if (value.length > MAX_INDEXED_VALUE || name.length + value.length + ENTRY_OVERHEAD > this.#table.capacity >> 1) {
      return false;
    }
    if (NOT_INDEXED.has(name)) return !named && !SENSITIVE.has(name);
    const recent = this.#recent.get(name);
    if (recent === undefined) {
      if (this.#recent.size >= RECENT_NAMES) this.#recent.clear();
      this.#recent.set(name, [value]);
      return !named;
    }
    const at = recent.indexOf(value);
    if (at >= 0) {
      recent.splice(at, 1);
      return true;
    }
    if (recent.length >= RECENT_VALUES) recent.shift();
    recent.push(value);
    return !named;
  }

  #writeString(out: Buffer, p: number, s: string): number {
    const len = s.length;
    if (this.#huffman && len > 0) {
      const hlen = huffmanEncodedLength(s);
      if (hlen < len) {
        p = writeInt(out, p, hlen, 0x7f, 0x80);
        checkLatin1(s);
        return huffmanEncode(s, out, p);
      }
    }
    p = writeInt(out, p, len, 0x7f, 0x00);
    if (len < 32) {
      let all = 0;
      for (let i = 0; i < len; i++) {
        const c = s.charCodeAt(i);
        all |= c;
        out[p + i] = c;
      }
      if (all > 0xff) throw notLatin1(s);
      return p + len;
    }
    checkLatin1(s);
    return p + out.latin1Write(s, p, len);
  }
}

/** Writes an integer with an N-bit prefix (mask = 2^N - 1) and the given high bits; returns the position after it. */
function writeInt(out: Uint8Array, p: number, v: number, mask: number, high: number): number {
  if (v < mask) {
    out[p] = high | v;
    return p + 1;
  }
  out[p++] = high | mask;
  v -= mask;
  while (v >= 0x80) {
    out[p++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[p] = v;
  return p + 1;
}

// eslint-disable-next-line no-control-regex
const NOT_LATIN1 = /[^\u0000-\u00ff]/;

function checkLatin1(s: string): void {
  if (NOT_LATIN1.test(s)) throw notLatin1(s);
}

function notLatin1(s: string): HpackError {
  return new HpackError(`HPACK: ${printable(s)} has a character above U+00FF (header octets are latin1)`);
}
