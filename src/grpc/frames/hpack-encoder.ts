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
/** Output blocks are cut from slabs of this size (one Buffer view per block, no copy; like Node's Buffer pool). */
const SLAB_SIZE = 16 * 1024;

/** What the encoder knows of one name: its static entries and its entries in the dynamic table. */
interface NameRecord {
  /** First static index with this name, 0 if none. */
  readonly staticIndex: number;
  /** Static indexes of this name's values (shared by all encoders), undefined if none. */
  readonly staticValues: Map<string, number> | undefined;
  /** Insertion number of each value's newest entry in the dynamic table. */
  dynValues: Map<string, number> | undefined;
  /** Insertion number of the newest entry with this name; -1 if none. */
  newest: number;
  /** The value this name was last sent as an indexed field with, and how: static index (> 0) or -(insertion number + 1). */
  lastValue: string | undefined;
  lastCode: number;
  /** Recent literal values of this name that were not indexed. */
  recent: string[] | undefined;
}

function record(staticIndex: number, staticValues: Map<string, number> | undefined): NameRecord {
  return { staticIndex, staticValues, dynValues: undefined, newest: -1, lastValue: undefined, lastCode: 0, recent: undefined };
}

let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabUsed = 0;

export class HpackEncoder {
  readonly #table: DynamicTable;
  readonly #huffman: boolean;
  /** Insertion number the next entry gets; entry k has HPACK index 62 + (#inserted - 1 - k). */
  #inserted = 0;
  /** Records of the static names seen so far and of every name in the dynamic table. */
  readonly #names = new Map<string, NameRecord>();
  /** Smallest capacity since the last block, when a size update is due; -1 when none is due. */
  #pendingMin = -1;
  /** A block failed after the table changed: the peer's table and ours differ. */
  #broken = false;
  readonly #onEvict = (name: string, value: string): void => {
    const rec = this.#names.get(name);
    if (rec === undefined) return;
    // FIFO eviction: the oldest entry goes, so the evicted entry is the oldest of its name and value
    const evicted = this.#inserted - this.#table.count - 1;
    if (rec.newest === evicted) {
      if (rec.staticIndex === 0) this.#names.delete(name);
      else {
        rec.newest = -1;
        rec.dynValues = undefined;
      }
    } else if (rec.dynValues?.get(value) === evicted) rec.dynValues.delete(value);
  };

  constructor(options: HpackEncoderOptions = {}) {
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
    if (this.#broken) throw new HpackError('HPACK: the encoder failed on an earlier block and its table may no longer match the peer\'s');
    if ((fields.length & 1) !== 0) throw new HpackError(`HPACK: a header list has names and values in pairs, got ${fields.length} entries`);
    const inserted = this.#inserted;
    const count = this.#table.count;
    const pendingMin = this.#pendingMin;
    try {
      return this.#encode(fields, neverIndexed);
    } catch (e) {
      // a string that is not latin1: the block is dropped; the encoder stays usable if its table did not change
      if (this.#inserted !== inserted || this.#table.count !== count) this.#broken = true;
      else this.#pendingMin = pendingMin;
      throw e;
    }
  }

  #encode(fields: readonly string[], neverIndexed: readonly number[] | undefined): Buffer {
    let bound = 12;
    for (let i = 0; i < fields.length; i++) bound += fields[i]!.length + 6;
    if (slabUsed + bound > slab.length) {
      slab = Buffer.allocUnsafeSlow(Math.max(SLAB_SIZE, bound));
      slabUsed = 0;
    }
    const out = slab;
    const start = slabUsed;
    let p = start;
    if (this.#pendingMin >= 0) {
      const final = this.#table.capacity;
      if (this.#pendingMin < final) p = writeInt(out, p, this.#pendingMin, 0x1f, 0x20);
      p = writeInt(out, p, final, 0x1f, 0x20);
      this.#pendingMin = -1;
    }
    const names = this.#names;
    const anyNever = neverIndexed !== undefined && neverIndexed.length > 0;
    const n = fields.length - 1;
    for (let i = 0; i < n; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      let rec = names.get(name);
      if (rec === undefined) {
        const st = STATIC_BY_NAME.get(name);
        if (st !== undefined) names.set(name, (rec = record(st.index, st.values)));
      }
      const never = anyNever && neverIndexed.includes(i >> 1);
      if (rec !== undefined && !never) {
        // an indexed field: the value last sent with this name (if still in the table), or a lookup
        let code = rec.lastValue === value ? rec.lastCode : 0;
        if (code < 0 && -code - 1 < this.#inserted - this.#table.count) code = 0; // evicted since
        if (code === 0) {
          code = rec.staticValues?.get(value) ?? 0;
          if (code === 0) {
            const k = rec.dynValues?.get(value);
            if (k !== undefined) code = -k - 1;
          }
          if (code !== 0) {
            rec.lastValue = value;
            rec.lastCode = code;
          }
        }
        if (code !== 0) {
          p = writeInt(out, p, code > 0 ? code : STATIC_COUNT + this.#inserted + code + 1, 0x7f, 0x80);
          continue;
        }
      }
      const nameIndex =
        rec === undefined ? 0 : rec.staticIndex !== 0 ? rec.staticIndex : rec.newest >= 0 ? STATIC_COUNT + this.#inserted - rec.newest : 0;
      const indexing = !never && this.#shouldIndex(rec, name, value, nameIndex !== 0);
      if (indexing) p = writeInt(out, p, nameIndex, 0x3f, 0x40);
      else p = writeInt(out, p, nameIndex, 0x0f, never ? 0x10 : 0x00);
      if (nameIndex === 0) p = this.#writeString(out, p, name);
      p = this.#writeString(out, p, value);
      // (the table changes only after the strings were written: they throw if not latin1)
      if (indexing && this.#table.add(name, value, this.#onEvict)) {
        const k = this.#inserted++;
        // (the eviction above may have dropped this name's record)
        rec = names.get(name);
        if (rec === undefined) names.set(name, (rec = record(0, undefined)));
        (rec.dynValues ??= new Map()).set(value, k);
        rec.newest = k;
      }
    }
    slabUsed = (p + 7) & ~7;
    return out.subarray(start, p);
  }

  /**
   * Index a literal when its value was seen recently (values that change per call stay out of the table), when it
   * is not long nor larger than half the table, and its name is not in NOT_INDEXED; but the first field of a name
   * the tables do not know yet is indexed anyway (if it is not sensitive), so later literals can refer to its name.
   */
  #shouldIndex(rec: NameRecord | undefined, name: string, value: string, named: boolean): boolean {
    if (value.length > MAX_INDEXED_VALUE || name.length + value.length + ENTRY_OVERHEAD > this.#table.capacity >> 1) {
      return false;
    }
    if (NOT_INDEXED.has(name)) return !named && !SENSITIVE.has(name);
    if (rec === undefined) return true;
    const recent = rec.recent;
    if (recent === undefined) {
      rec.recent = [value];
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
