import { emptyArray } from './empty-array.js';
import { ErrorCodes, SwitchyardError } from './errors.js';

const EMPTY = Buffer.alloc(0);

type ViewConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => Buffer;

/**
 * The class of Node's Buffers, as typed-array methods find it (`Buffer[Symbol.species]`); Buffer.from's path when
 * this runtime has none.
 */
const VIEW: ViewConstructor = (() => {
  const species = (Buffer as unknown as Record<symbol, unknown>)[Symbol.species];
  if (typeof species === 'function') {
    try {
      const probe = new (species as ViewConstructor)(new ArrayBuffer(4), 1, 2);
      if (Buffer.isBuffer(probe) && probe.byteOffset === 1 && probe.length === 2) return species as ViewConstructor;
    } catch {
      /* not a Buffer constructor: the fallback below */
    }
  }
  return function view(buffer: ArrayBufferLike, byteOffset: number, length: number): Buffer {
    return Buffer.from(buffer as ArrayBuffer, byteOffset, length);
  } as unknown as ViewConstructor;
})();

const TYPED_ARRAY_PROTOTYPE = Object.getPrototypeOf(Uint8Array.prototype) as object;
function typedArrayGetter<T>(name: 'buffer' | 'byteOffset'): (this: Uint8Array) => T {
  const descriptor = Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTOTYPE, name) as { get?: unknown } | undefined;
  return descriptor?.get as (this: Uint8Array) => T;
}
const BUFFER_GETTER = typedArrayGetter<ArrayBufferLike>('buffer');
const BYTE_OFFSET_GETTER = typedArrayGetter<number>('byteOffset');

/**
 * `view.buffer` and `view.byteOffset` by calling the typed-array getters themselves: optimized code reaches the
 * properties through a generic property load (more than the getter's own work); a call of a known function it does not.
 */
export function memoryOf(view: Uint8Array): ArrayBufferLike {
  return BUFFER_GETTER.call(view);
}

export function offsetOf(view: Uint8Array): number {
  return BYTE_OFFSET_GETTER.call(view);
}

/**
 * A Buffer over `length` bytes of `buffer` from `byteOffset` (no copy), without Buffer.from's argument checks. For hot
 * paths that know the memory already: a Buffer's `buffer` and `byteOffset` are getters that optimized code reaches
 * through a generic property load, which costs more than making the view.
 */
export function viewOf(buffer: ArrayBufferLike, byteOffset: number, length: number): Buffer {
  return new VIEW(buffer, byteOffset, length);
}

/** Options of a {@link ByteList}. */
export interface ByteListOptions {
  /**
   * Most bytes the list may hold. `append` throws SWY_BUFFER_OVERFLOW (and appends nothing) when the new
   * length would exceed it. Default: unlimited.
   */
  limit?: number;
}

/**
 * A queue of Buffers read as one byte sequence, for decoders on the hot path.
 *
 * - `append` stores the chunk by reference (no copy; never `Buffer.concat` per chunk). Do not mutate a chunk after
 *   appending it: frames returned by `consume` may share its memory.
 * - Positions are relative to the current head (the first unconsumed byte).
 * - `consume(n)` returns a zero-copy `subarray` when the n bytes lie in one chunk, else one copy.
 * - A head offset into the first chunk avoids re-slicing on every consume; a cursor cache makes sequential
 *   `byteAt` / `indexOf(…, from)` calls near the tail O(1) even with thousands of tiny chunks.
 */
export class ByteList {
  #chunks: Buffer[] = [];
  /** Index in `chunks` of the first live chunk. */
  #head = 0;
  /** Offset of the first unconsumed byte inside `chunks[head]`. */
  #offset = 0;
  #len = 0;
  /** Absolute (since creation) position of the head; lets the cursor cache survive consumes. */
  #consumed = 0;
  /** Cursor cache: index of a live chunk and the absolute position of its first byte (chunk-relative 0). */
  #cIdx = -1;
  #cAbs = 0;
  readonly #limit: number;
  /** The chunk whose memory {@link #viewBuffer} and {@link #viewBase} describe (read once per chunk, for consume). */
  #viewOf: Buffer | undefined;
  #viewBuffer: ArrayBufferLike | undefined;
  #viewBase = 0;

  constructor(options: ByteListOptions = {}) {
    this.#limit = options.limit ?? Number.POSITIVE_INFINITY;
  }

  /** Number of bytes held. */
  get length(): number {
    return this.#len;
  }

  /** Number of chunks held (for tests and diagnostics). */
  get chunkCount(): number {
    return this.#chunks.length - this.#head;
  }

  /** Append a chunk by reference. Empty chunks are ignored. Throws SWY_BUFFER_OVERFLOW above the limit. */
  append(buf: Buffer): void {
    if (buf.length === 0) return;
    if (this.#len + buf.length > this.#limit) {
      throw new SwitchyardError(
        ErrorCodes.BUFFER_OVERFLOW,
        `buffer limit exceeded: holding ${this.#len} bytes, received ${buf.length} more, limit is ${this.#limit}`,
        { details: { buffered: this.#len, received: buf.length, limit: this.#limit } },
      );
    }
    if (this.#len === 0) this.#reset();
    this.#chunks.push(buf);
    this.#len += buf.length;
  }

  /** The byte at position `i` (0 ≤ i < length). Throws RangeError outside. */
  byteAt(i: number): number {
    if (!(i >= 0 && i < this.#len)) throw new RangeError(`byteAt(${i}) outside 0..${this.#len - 1}`);
    const first = this.#chunks[this.#head]!;
    const j = this.#offset + i;
    if (j < first.length) return first[j]!;
    const idx = this.#locate(i);
    return this.#chunks[idx]![this.#consumed + i - this.#cAbs]!;
  }

  /**
   * Position of the first occurrence of `needle` (a byte value or a non-empty byte sequence) at or after `from`,
   * or -1. Matches spanning chunk boundaries are found.
   */
  indexOf(needle: number | Uint8Array, from = 0): number {
    if (from < 0) from = 0;
    if (typeof needle === 'number') return this.#indexOfByte(needle & 0xff, from);
    const m = needle.length;
    if (m === 0) throw new RangeError('indexOf: empty needle');
    if (m === 1) return this.#indexOfByte(needle[0]!, from);
    if (from + m > this.#len) return -1;
    let idx = this.#locate(from);
    let start = this.#cAbs - this.#consumed; // list position of chunks[idx][0]
    const chunks = this.#chunks;
    for (; idx < chunks.length; idx++) {
      const c = chunks[idx]!;
      const end = start + c.length; // list position just past this chunk
      const lo = Math.max(from, start);
      const local = c.indexOf(needle, lo - start);
      if (local >= 0) return start + local;
      // candidates straddling the boundary after this chunk
      for (let p = Math.max(lo, end - m + 1); p < end && p + m <= this.#len; p++) {
        if (this.matchesAt(p, needle)) return p;
      }
      start = end;
      if (start + m > this.#len) return -1;
    }
    return -1;
  }

  /** True when the bytes at `pos` equal `needle` (false when they run past the end). */
  matchesAt(pos: number, needle: Uint8Array): boolean {
    const m = needle.length;
    if (pos < 0 || pos + m > this.#len) return false;
    let idx = this.#locate(pos);
    let c = this.#chunks[idx]!;
    let j = this.#consumed + pos - this.#cAbs;
    for (let k = 0; k < m; k++) {
      while (j >= c.length) {
        c = this.#chunks[++idx]!;
        j = 0;
      }
      if (c[j++] !== needle[k]) return false;
    }
    return true;
  }

  /** Unsigned big-endian integer of `len` bytes at `offset`: a number for 1..6 bytes, a bigint for 7 or 8. */
  readUIntBE(offset: number, len: 1 | 2 | 3 | 4 | 5 | 6): number;
  readUIntBE(offset: number, len: 7 | 8): bigint;
  readUIntBE(offset: number, len: number): number | bigint;
  readUIntBE(offset: number, len: number): number | bigint {
    return this.#readUInt(offset, len, false);
  }

  /** Unsigned little-endian integer of `len` bytes at `offset`: a number for 1..6 bytes, a bigint for 7 or 8. */
  readUIntLE(offset: number, len: 1 | 2 | 3 | 4 | 5 | 6): number;
  readUIntLE(offset: number, len: 7 | 8): bigint;
  readUIntLE(offset: number, len: number): number | bigint;
  readUIntLE(offset: number, len: number): number | bigint {
    return this.#readUInt(offset, len, true);
  }

  /** Remove and return the first `n` bytes: zero-copy when they lie in one chunk, else one copy. */
  consume(n: number): Buffer {
    this.#checkCount(n, 'consume');
    if (n === 0) return EMPTY;
    const first = this.#chunks[this.#head]!;
    const avail = first.length - this.#offset;
    if (n <= avail) {
      const out = this.#view(first, n);
      this.#advance(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    while (copied < n) {
      const c = this.#chunks[this.#head]!;
      const take = Math.min(n - copied, c.length - this.#offset);
      c.copy(out, copied, this.#offset, this.#offset + take);
      copied += take;
      this.#advance(take);
    }
    return out;
  }

  /** The first `n` bytes (0 < n ≤ length) as a view, not consumed, when they lie in the first chunk; else undefined. */
  headView(n: number): Buffer | undefined {
    if (!(n > 0 && n <= this.#len)) return undefined;
    const first = this.#chunks[this.#head]!;
    return n <= first.length - this.#offset ? this.#view(first, n) : undefined;
  }

  /** Remove and return every byte held (zero-copy when held in one chunk). */
  consumeAll(): Buffer {
    if (this.#len === 0) return EMPTY;
    if (this.chunkCount === 1) return this.consume(this.#len);
    const parts: Buffer[] = [this.#chunks[this.#head]!.subarray(this.#offset)];
    for (let i = this.#head + 1; i < this.#chunks.length; i++) parts.push(this.#chunks[i]!);
    const out = Buffer.concat(parts, this.#len);
    this.#consumed += this.#len;
    this.#len = 0;
    this.#reset();
    return out;
  }

  /**
   * Remove and return the rest of the first chunk (the appended Buffer itself when none of it was consumed); an empty
   * Buffer when the list is empty. Lets chunk-preserving decoders (passthrough) hand chunks on untouched.
   */
  consumeChunk(): Buffer {
    if (this.#len === 0) return EMPTY;
    const first = this.#chunks[this.#head]!;
    if (this.#offset !== 0) return this.consume(first.length - this.#offset);
    this.#advance(first.length);
    return first; // the very Buffer that was appended
  }

  /** Discard the first `n` bytes. */
  skip(n: number): void {
    this.#checkCount(n, 'skip');
    while (n > 0) {
      const avail = this.#chunks[this.#head]!.length - this.#offset;
      const take = n < avail ? n : avail;
      this.#advance(take);
      n -= take;
    }
  }

  /** A copy of bytes [start, end) without consuming them (for diagnostics and small peeks). */
  peek(start: number, end: number = this.#len): Buffer {
    start = Math.max(0, start);
    end = Math.min(this.#len, end);
    if (end <= start) return EMPTY;
    const out = Buffer.allocUnsafe(end - start);
    for (let i = start; i < end; i++) out[i - start] = this.byteAt(i);
    return out;
  }

  // ---- internals ----

  /**
   * A view of `n` bytes of the first chunk from the head, like first.subarray(): the chunk's memory is looked up once
   * per chunk rather than once per view.
   */
  #view(first: Buffer, n: number): Buffer {
    if (this.#viewOf !== first) {
      this.#viewOf = first;
      this.#viewBuffer = memoryOf(first);
      this.#viewBase = offsetOf(first);
    }
    return viewOf(this.#viewBuffer!, this.#viewBase + this.#offset, n);
  }

  #checkCount(n: number, op: string): void {
    if (!Number.isInteger(n) || n < 0 || n > this.#len) {
      throw new RangeError(`${op}(${n}): holding ${this.#len} bytes`);
    }
  }

  /** Move the head forward by `n` bytes, all within the first live chunk. */
  #advance(n: number): void {
    this.#offset += n;
    this.#len -= n;
    this.#consumed += n;
    if (this.#offset === this.#chunks[this.#head]!.length) {
      this.#chunks[this.#head] = EMPTY; // release the memory now
      this.#head++;
      this.#offset = 0;
      if (this.#len === 0) this.#reset();
      else if (this.#head >= 64 && this.#head * 2 >= this.#chunks.length) {
        this.#chunks = this.#chunks.slice(this.#head);
        if (this.#cIdx >= 0) this.#cIdx -= this.#head;
        this.#head = 0;
      }
    }
  }

  #reset(): void {
    // the same array, emptied keeping its backing store: a new one here was an allocation per read on the data path
    emptyArray(this.#chunks);
    this.#viewOf = undefined;
    this.#viewBuffer = undefined;
    this.#head = 0;
    this.#offset = 0;
    this.#cIdx = -1;
  }

  /** Index of the chunk holding list position `pos` (< length); leaves the cursor cache on it. */
  #locate(pos: number): number {
    const abs = this.#consumed + pos;
    let idx: number;
    let chunkAbs: number;
    if (this.#cIdx >= this.#head && this.#cAbs <= abs) {
      idx = this.#cIdx;
      chunkAbs = this.#cAbs;
    } else {
      idx = this.#head;
      chunkAbs = this.#consumed - this.#offset;
    }
    const chunks = this.#chunks;
    const last = chunks.length - 1;
    while (idx < last && chunkAbs + chunks[idx]!.length <= abs) {
      chunkAbs += chunks[idx]!.length;
      idx++;
    }
    this.#cIdx = idx;
    this.#cAbs = chunkAbs;
    return idx;
  }

  #indexOfByte(byte: number, from: number): number {
    if (from >= this.#len) return -1;
    const first = this.#chunks[this.#head]!;
    if (this.#offset + from < first.length) {
      const local = first.indexOf(byte, this.#offset + from);
      if (local >= 0) return local - this.#offset;
      if (this.#head === this.#chunks.length - 1) return -1;
      from = first.length - this.#offset;
    }
    let idx = this.#locate(from);
    let start = this.#cAbs - this.#consumed;
    const chunks = this.#chunks;
    for (; idx < chunks.length; idx++) {
      const c = chunks[idx]!;
      const local = c.indexOf(byte, from > start ? from - start : 0);
      if (local >= 0) return start + local;
      start += c.length;
    }
    return -1;
  }

  #readUInt(offset: number, len: number, little: boolean): number | bigint {
    if (!Number.isInteger(len) || len < 1 || len > 8) throw new RangeError(`readUInt: length ${len} not in 1..8`);
    if (!Number.isInteger(offset) || offset < 0 || offset + len > this.#len) {
      throw new RangeError(`readUInt(${offset}, ${len}): holding ${this.#len} bytes`);
    }
    const first = this.#chunks[this.#head]!;
    const j = this.#offset + offset;
    if (j + len <= first.length) {
      if (len <= 6) return little ? first.readUIntLE(j, len) : first.readUIntBE(j, len);
      if (len === 8) return little ? first.readBigUInt64LE(j) : first.readBigUInt64BE(j);
    }
    if (len <= 6) {
      let v = 0;
      for (let k = 0; k < len; k++) {
        const b = this.byteAt(offset + (little ? len - 1 - k : k));
        v = v * 256 + b;
      }
      return v;
    }
    let hi = 0;
    let lo = 0;
    const hiLen = len - 4;
    for (let k = 0; k < len; k++) {
      const b = this.byteAt(offset + (little ? len - 1 - k : k));
      if (k < hiLen) hi = hi * 256 + b;
      else lo = lo * 256 + b;
    }
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
}
