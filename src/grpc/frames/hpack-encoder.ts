/** The HPACK encoder (RFC 7541 §6): one per HTTP/2 connection, for the header blocks we send. */
import { huffmanEncode, huffmanEncodedLength } from './huffman.js';
import {
  DEFAULT_TABLE_SIZE,
  DynamicTable,
  ENTRY_OVERHEAD,
  HpackError,
  STATIC_BY_NAME,
  STATIC_COUNT,
  checkSize,
  printable,
} from './hpack-table.js';

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
