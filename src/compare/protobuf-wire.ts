/**
 * The protobuf wire format read without a .proto: a message becomes a tree keyed by field number, so the comparator
 * (masks such as "/1/3", leaf diffs, digests) works on any gRPC service.
 *
 * Tree form (see docs/grpc-compare.md):
 * - a message is an object whose keys are field numbers ("1", "2", ...); a field seen more than once becomes an array
 *   of its values in wire order; fields in different order on the wire give the same tree (canonical JSON sorts keys);
 * - varint → number (a decimal string above 2^53 - 1: 64-bit values are never rounded); fixed32 → unsigned number;
 *   fixed64 → like a varint (without a descriptor the proxy cannot tell a double or a signed value from an unsigned one);
 * - length-delimited → a nested message when its bytes parse completely and plausibly as one (not text made only of
 *   printable characters; field numbers 1..2^29-1 outside 19000-19999; no groups; nesting and total work bounded),
 *   else a string when they are UTF-8 without NUL, else `{ base64 }` (`{ sha256, length }` over 64 KiB);
 * - groups (wire types 3 and 4, deprecated since proto2) are rejected with a {@link ProtobufDecodeError}.
 *
 * Decoding never throws anything but {@link ProtobufDecodeError}, and its work is bounded by the input's length.
 */
import { isUtf8 } from 'node:buffer';
import { bytesLeaf, setKey, type MTree } from '../protocols/lift.js';

/** Input that is not a protobuf message (or a part of one that cannot be read); `offset` is where reading failed. */
export class ProtobufDecodeError extends Error {
  readonly code = 'PROTOBUF_DECODE';
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`protobuf: ${message} at byte ${offset}`);
    this.name = 'ProtobufDecodeError';
    this.offset = offset;
  }
}

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/** The largest field number protobuf allows. */
export const MAX_FIELD_NUMBER = 2 ** 29 - 1;

/** One field as it is on the wire. Varints and fixed64 are unsigned bigints only when they do not fit a safe integer. */
export type WireField =
  | { readonly number: number; readonly wireType: 0 | 1; readonly value: number | bigint; readonly offset: number }
  | { readonly number: number; readonly wireType: 5; readonly value: number; readonly offset: number }
  | { readonly number: number; readonly wireType: 2; readonly value: Buffer; readonly offset: number };

/** An unsigned varint at `pos`: [value, next position]. Throws on truncation and on more than 64 bits. */
export function readVarint(buf: Buffer, pos: number, end = buf.length): [number | bigint, number] {
  let value = 0;
  let p = pos;
  // the first 7 bytes (49 bits) in exact double arithmetic, the common case
  for (let i = 0; i < 7; i++) {
    if (p >= end) throw new ProtobufDecodeError('truncated varint', pos);
    const b = buf[p++]!;
    value += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) return [value, p];
  }
  let big = BigInt(value);
  for (let i = 7; i < 10; i++) {
    if (p >= end) throw new ProtobufDecodeError('truncated varint', pos);
    const b = buf[p++]!;
    if (i === 9 && b > 1) throw new ProtobufDecodeError('varint longer than 64 bits', pos);
    big |= BigInt(b & 0x7f) << BigInt(7 * i);
    if (b < 0x80) return [big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big, p];
  }
  throw new ProtobufDecodeError('varint longer than 10 bytes', pos);
}

function readFixed64(buf: Buffer, pos: number): number | bigint {
  const v = buf.readBigUInt64LE(pos);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/**
 * The fields of the message in `buf[start, end)`, in wire order. Throws {@link ProtobufDecodeError} when the bytes
 * are not a complete message: truncated values, field number 0 or above 2^29-1, wire types 3/4 (groups), 6 and 7.
 */
export function readFields(buf: Buffer, start = 0, end = buf.length): WireField[] {
  const out: WireField[] = [];
  let pos = start;
  while (pos < end) {
    const at = pos;
    const [tag, next] = readVarint(buf, pos, end);
    pos = next;
    if (typeof tag === 'bigint' || tag > 0xffffffff) throw new ProtobufDecodeError('field tag above 32 bits', at);
    const number = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (number === 0) throw new ProtobufDecodeError('field number 0', at);
    if (number > MAX_FIELD_NUMBER) throw new ProtobufDecodeError(`field number ${number} above ${MAX_FIELD_NUMBER}`, at);
    switch (wireType) {
      case WIRE_VARINT: {
        const [value, p] = readVarint(buf, pos, end);
        pos = p;
        out.push({ number, wireType: 0, value, offset: at });
        break;
      }
      case WIRE_FIXED64:
        if (pos + 8 > end) throw new ProtobufDecodeError(`field ${number}: truncated fixed64`, at);
        out.push({ number, wireType: 1, value: readFixed64(buf, pos), offset: at });
        pos += 8;
        break;
      case WIRE_FIXED32:
        if (pos + 4 > end) throw new ProtobufDecodeError(`field ${number}: truncated fixed32`, at);
        out.push({ number, wireType: 5, value: buf.readUInt32LE(pos), offset: at });
        pos += 4;
        break;
      case WIRE_LEN: {
        const [len, p] = readVarint(buf, pos, end);
        if (typeof len === 'bigint' || len > end - p) throw new ProtobufDecodeError(`field ${number}: length ${len} beyond the end of the message`, at);
        out.push({ number, wireType: 2, value: buf.subarray(p, p + len), offset: at });
        pos = p + len;
        break;
      }
      case 3:
      case 4:
        throw new ProtobufDecodeError(`field ${number}: groups (wire type ${wireType}) are not supported`, at);
      default:
        throw new ProtobufDecodeError(`field ${number}: invalid wire type ${wireType}`, at);
    }
  }
  return out;
}

/** A 64-bit unsigned value as a tree leaf: a number when exact, else its decimal string. */
export function uintLeaf(v: number | bigint): number | string {
  return typeof v === 'bigint' ? v.toString() : v;
}

/** Bytes that are UTF-8 text made only of printable characters (tab, CR, LF allowed): never tried as a message. */
export function isPrintableText(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!;
    if (b < 0x20 ? b !== 0x09 && b !== 0x0a && b !== 0x0d : b === 0x7f) return false;
  }
  return isUtf8(buf);
}

/** Limits of the no-proto lifter. */
export interface WireLiftOptions {
  /** Nested messages deeper than this are not tried (their bytes become text or bytes). Default 32. */
  maxDepth?: number;
}

/** Work bound: bytes scanned by nested-message attempts, per lift. */
export interface Budget {
  left: number;
}

const RESERVED_LOW = 19000;
const RESERVED_HIGH = 19999;

/** `fields` as a tree keyed by field number; values by `leaf`. Repeated numbers become arrays in wire order. */
export function collect(fields: readonly WireField[], key: (f: WireField) => string, leaf: (f: WireField) => MTree): { [k: string]: MTree } {
  const out: { [k: string]: MTree } = {};
  const repeated = new Set<string>();
  for (const f of fields) {
    const k = key(f);
    const v = leaf(f);
    if (!Object.prototype.hasOwnProperty.call(out, k)) setKey(out, k, v);
    else if (repeated.has(k)) (out[k] as MTree[]).push(v);
    else {
      repeated.add(k);
      setKey(out, k, [out[k]!, v]);
    }
  }
  return out;
}

function tryMessage(buf: Buffer, depth: number, max: number, budget: Budget): MTree | undefined {
  if (buf.length === 0 || depth >= max || budget.left < buf.length || isPrintableText(buf)) return undefined;
  budget.left -= buf.length;
  let fields: WireField[];
  try {
    fields = readFields(buf);
  } catch (err) {
    if (err instanceof ProtobufDecodeError) return undefined;
    throw err;
  }
  for (const f of fields) if (f.number >= RESERVED_LOW && f.number <= RESERVED_HIGH) return undefined;
  return liftFields(fields, depth + 1, max, budget);
}

/** A length-delimited value without a schema: nested message, else text, else bytes. */
function lenLeaf(buf: Buffer, depth: number, max: number, budget: Budget): MTree {
  return tryMessage(buf, depth, max, budget) ?? bytesLeaf(buf);
}

function liftFields(fields: readonly WireField[], depth: number, max: number, budget: Budget): { [k: string]: MTree } {
  return collect(
    fields,
    (f) => String(f.number),
    (f) => (f.wireType === WIRE_LEN ? lenLeaf(f.value, depth, max, budget) : uintLeaf(f.value)),
  );
}

/** A fresh work budget for one message of `length` bytes (nested attempts may rescan each byte about 40 times). */
export function wireBudget(length: number): Budget {
  return { left: 1024 * 1024 + 40 * length };
}

/**
 * The tree of one protobuf message without its schema (see the module comment). Throws {@link ProtobufDecodeError}
 * when the bytes are not a message (an empty buffer is the empty message `{}`).
 */
export function liftProtobuf(buf: Buffer, options: WireLiftOptions = {}): { [k: string]: MTree } {
  return liftFields(readFields(buf), 0, options.maxDepth ?? 32, wireBudget(buf.length));
}

/** The tree of a length-delimited value of unknown type (as a field's value would be lifted). Never throws. */
export function liftUnknownBytes(buf: Buffer, options: WireLiftOptions = {}): MTree {
  return lenLeaf(buf, 0, options.maxDepth ?? 32, wireBudget(buf.length));
}

/** One wire field's value without a schema (for fields a descriptor does not know), sharing `budget`. */
export function rawLeaf(f: WireField, budget: Budget, depth = 1, max = 32): MTree {
  return f.wireType === WIRE_LEN ? lenLeaf(f.value, depth, max, budget) : uintLeaf(f.value);
}
