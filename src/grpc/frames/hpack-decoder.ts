/** The HPACK decoder (RFC 7541 §3, §6): one per HTTP/2 connection, for the header blocks the peer sends. */
import { HUFFMAN_EOS, huffmanDecode, huffmanDecodedBound } from './huffman.js';
import {
  DEFAULT_TABLE_SIZE,
  DynamicTable,
  ENTRY_OVERHEAD,
  HpackError,
  MAX_INT,
  NO_FIELDS,
  STATIC_COUNT,
  STATIC_NAMES,
  STATIC_VALUES,
  checkSize,
  printable,
} from './hpack-table.js';

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

/** readInt's answers besides a value: the block ends inside the integer, or the integer is over MAX_INT. */
const INT_TRUNCATED = -1;
const INT_TOO_LARGE = -2;

/**
 * Reads an integer whose first octet is b[p] with an N-bit prefix (mask = 2^N - 1); sets pos after it. Returns the
 * value, or INT_TRUNCATED / INT_TOO_LARGE (the caller names what it was reading: no message built on the hot path).
 */
function readInt(b: Uint8Array, p: number, mask: number): number {
  let v = b[p]! & mask;
  p++;
  if (v === mask) {
    let shift = 0;
    for (;;) {
      if (p >= b.length) return INT_TRUNCATED;
      const o = b[p++]!;
      v += (o & 0x7f) * 2 ** shift;
      if ((o & 0x80) === 0) break;
      shift += 7;
      if (shift > 28) return INT_TOO_LARGE;
    }
    if (v > MAX_INT) return INT_TOO_LARGE;
  }
  pos = p;
  return v;
}

function intError(code: number, what: string): HpackError {
  return new HpackError(
    code === INT_TRUNCATED ? `HPACK: the block ends inside ${what}` : `HPACK: ${what} is too large (integer over ${MAX_INT})`,
  );
}

/** What readString reads, for its errors: a header name, or the value of this header. */
function stringWhat(valueOf: string | undefined): string {
  return valueOf === undefined ? 'a header name' : `the value of ${printable(valueOf)}`;
}

/** Reads a string literal at b[p] (raw or Huffman); sets pos after it. valueOf: the field's name when reading its value. */
function readString(b: Buffer, p: number, valueOf: string | undefined): string {
  if (p >= b.length) throw new HpackError(`HPACK: the block ends inside ${stringWhat(valueOf)}`);
  const huffman = b[p]! >= 0x80;
  const len = readInt(b, p, 0x7f);
  if (len < 0) throw intError(len, `the length of ${stringWhat(valueOf)}`);
  const start = pos;
  const end = start + len;
  if (end > b.length) {
    throw new HpackError(`HPACK: ${stringWhat(valueOf)} is ${len} octets but the block has ${b.length - start} left`);
  }
  pos = end;
  if (!huffman) return b.latin1Slice(start, end);
  const bound = huffmanDecodedBound(len);
  if (bound > scratch.length) scratch = Buffer.allocUnsafe(Math.max(bound, scratch.length * 2));
  const n = huffmanDecode(b, start, end, scratch);
  if (n < 0) {
    throw new HpackError(
      n === HUFFMAN_EOS
        ? `HPACK: the Huffman code of ${stringWhat(valueOf)} contains EOS`
        : `HPACK: the Huffman code of ${stringWhat(valueOf)} ends in padding that is longer than 7 bits or not all ones`,
    );
  }
  return scratch.latin1Slice(0, n);
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

  /**
   * Our SETTINGS_HEADER_TABLE_SIZE, to call when the peer acknowledges the SETTINGS frame that carries it: size
   * updates in blocks may not exceed it, and when it is below the table's current capacity the next block must start
   * with a size update (RFC 7541 §4.2).
   */
  setMaxTableSize(n: number): void {
    this.#max = checkSize(n, 'the table size');
    this.#updateDue = this.#table.capacity > n;
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
      const n = readInt(b, p, 0x1f);
      if (n < 0) throw intError(n, 'a dynamic table size update');
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
        const index = readInt(b, p, 0x7f);
        if (index < 0) throw intError(index, 'an index');
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
        const index = readInt(b, p, indexing ? 0x3f : 0x0f);
        if (index < 0) throw intError(index, 'a name index');
        p = pos;
        if (index === 0) {
          name = readString(b, p, undefined);
          p = pos;
        } else if (index <= STATIC_COUNT) {
          name = STATIC_NAMES[index - 1]!;
        } else {
          const d = index - STATIC_COUNT - 1;
          if (d >= table.count) throw pastTable(index, table.count);
          name = table.name(d);
        }
        value = readString(b, p, name);
        p = pos;
        if (indexing) table.add(name, value);
        else if ((first & 0x10) !== 0) (never ??= []).push(out.length >> 1);
      } else {
        throw new HpackError('HPACK: a dynamic table size update after the first header field of the block');
      }
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      // (past the limit the block is still decoded, to keep the table in step, but its fields are not kept)
      if (listSize <= this.#maxListSize) out.push(name, value);
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
