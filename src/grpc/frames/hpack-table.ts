/**
 * What the HPACK decoder and encoder share (RFC 7541): the error, the static table, the dynamic table's FIFO with its
 * size accounting, and the limits.
 */

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
export const STATIC_COUNT = STATIC.length; // 61
export const STATIC_NAMES = STATIC.map((e) => e[0]);
export const STATIC_VALUES = STATIC.map((e) => e[1]);

/** The encoder's view of the static table: per name, its first index and the indexes of its name/value pairs. */
export interface StaticName {
  readonly index: number;
  readonly values: Map<string, number>;
}
export const STATIC_BY_NAME = new Map<string, StaticName>();
STATIC.forEach(([name, value], i) => {
  let e = STATIC_BY_NAME.get(name);
  if (e === undefined) STATIC_BY_NAME.set(name, (e = { index: i + 1, values: new Map() }));
  // entries with an empty value are name-only in practice; an empty value still matches exactly
  if (!e.values.has(value)) e.values.set(value, i + 1);
});

/** Entry overhead (RFC 7541 §4.1). */
export const ENTRY_OVERHEAD = 32;
/** HTTP/2's initial SETTINGS_HEADER_TABLE_SIZE. */
export const DEFAULT_TABLE_SIZE = 4096;
/** Integers above this are rejected (far above any table size, string length or index a block can carry). */
export const MAX_INT = 0x3fffffff;
export const NO_FIELDS: readonly number[] = Object.freeze([]);

/**
 * A FIFO of header fields, newest first by HPACK index: a ring of names and values with the RFC's size accounting.
 * Shared by the decoder; the encoder keeps its own lookup maps beside one.
 */
export class DynamicTable {
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

/** A header name for an error message: printable ASCII kept, the rest escaped, long names cut. */
export function printable(name: string): string {
  const s = name.length > 64 ? `${name.slice(0, 64)}…` : name;
  return JSON.stringify(s);
}

export function checkSize(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_INT) throw new RangeError(`HPACK: ${what} must be an integer 0..${MAX_INT}, got ${n}`);
  return n;
}

declare global {
  interface Buffer {
    /** Node's latin1 decoder without toString's argument handling (present in every Node version). */
    latin1Slice(start: number, end: number): string;
    latin1Write(s: string, offset: number, length: number): number;
  }
}
