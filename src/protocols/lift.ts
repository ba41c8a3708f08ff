/**
 * The comparable-tree contract: what a protocol module's lifter produces for N-variant comparison, and the helpers
 * the lifters share. A lifter turns the complete wire bytes of ONE message (request or response) of one variant into
 * a JSON-like {@link Tree} that the comparator (src/compare/) normalises, digests and diffs; each module describes its
 * tree shapes in its `normalize.ts`.
 *
 * Lifters never throw: input they cannot read becomes `{ invalid: "<reason>", raw: "<base64 of the first 4 KiB>" }`
 * (plus `length` and `sha256` of the whole input when it is longer than 4 KiB, so two different long garbage inputs
 * do not compare equal). Byte leaves (bodies, values) that are not text become `{ base64: "..." }`, or
 * `{ sha256, length }` over 64 KiB.
 */
import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';

export type Tree = null | boolean | number | string | readonly Tree[] | { readonly [k: string]: Tree };

/** A tree under construction (mutable containers). */
export type MTree = null | boolean | number | string | MTree[] | { [k: string]: MTree };

/** Type guard for the array case of a {@link Tree} (Array.isArray does not narrow readonly arrays). */
export function isTreeArray(t: Tree): t is readonly Tree[] {
  return Array.isArray(t);
}

/** Which side of an exchange a message is. */
export type MessageKind = 'request' | 'response';

export interface LiftResult {
  tree: Tree;
  /** Short human summary: e.g. "200 application/json 1234 B" or "+OK" or "CommandComplete SELECT 1". */
  summary: string;
}

/** A protocol's lifter, as the comparator uses it. */
export interface Lifter {
  /** The protocol module's name ('raw' for the byte lifter); it prefixes the reason of an `invalid` tree. */
  readonly protocol: string;
  /** The tree and summary of one complete message. */
  liftWithSummary(frames: readonly Buffer[], kind: MessageKind): LiftResult;
  /** The tree of one complete message (the tree of {@link liftWithSummary}). */
  lift(frames: readonly Buffer[], kind: MessageKind): Tree;
  /** The endpoint key for noise learning, from a request's frames (e.g. "GET /users/:id"); '*' when there is none. */
  endpoint(requestFrames: readonly Buffer[]): string;
  /**
   * A configured mask pointer in the spelling of this lifter's trees (the HTTP lifter lower-cases the header name
   * after "/headers/"). Absent: pointers are used as written.
   */
  maskPointer?(pointer: string): string;
}

/** Options every lifter receives; each uses the ones that apply to its protocol and ignores the others. */
export interface LifterOptions {
  /** Extra header names (case-insensitive) to drop, added to the lifter's own volatile headers. */
  ignoreHeaders?: readonly string[];
  /** Keep the `headers` key at all (default true). */
  compareHeaders?: boolean;
  /**
   * The messages come from variants that each reach the proxy on their own address (merge routes): fields that
   * name the address the client connected to (HTTP: the Host header) are not compared.
   */
  perVariantAddress?: boolean;
}

/** Bodies / values above this many bytes are compared by `{ sha256, length }` when they are not text. */
export const MAX_INLINE_BINARY = 64 * 1024;
/** Bytes of garbage kept (base64) in an `invalid` tree. */
export const MAX_INVALID_RAW = 4 * 1024;

/** A parse failure inside a lifter: becomes an `invalid` tree. */
class LiftError extends Error {}

export function fail(reason: string): never {
  throw new LiftError(reason);
}

/** `obj[key] = value` that also works for the key "__proto__" (an own property, never the prototype). */
export function setKey<T extends Tree>(obj: { [k: string]: T }, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

export function concat(frames: readonly Buffer[]): Buffer {
  if (frames.length === 1) return frames[0]!;
  return Buffer.concat(frames);
}

/** sha256 hex of bytes or text. */
export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Non-text bytes as a leaf: `{ base64 }`, or `{ sha256, length }` over {@link MAX_INLINE_BINARY}. */
export function binaryLeaf(buf: Buffer): MTree {
  if (buf.length > MAX_INLINE_BINARY) return { sha256: sha256Hex(buf), length: buf.length };
  return { base64: buf.toString('base64') };
}

/** Bytes as a leaf: a string when valid UTF-8 without NULs, else {@link binaryLeaf}. */
export function bytesLeaf(buf: Buffer): MTree {
  if (isText(buf)) return buf.toString('utf8');
  return binaryLeaf(buf);
}

function isText(buf: Buffer): boolean {
  return buf.indexOf(0) < 0 && isUtf8(buf);
}

/** The tree of input that could not be read. */
export function invalidTree(reason: string, bytes: Buffer): MTree {
  const out: { [k: string]: MTree } = { invalid: reason, raw: bytes.subarray(0, MAX_INVALID_RAW).toString('base64') };
  if (bytes.length > MAX_INVALID_RAW) {
    out['length'] = bytes.length;
    out['sha256'] = sha256Hex(bytes);
  }
  return out;
}

/** Sorted-key JSON (keys by UTF-16 code units), for set ordering and non-string map keys. */
export function stable(t: MTree): string {
  if (t === null || typeof t !== 'object') return JSON.stringify(t) ?? 'null';
  if (Array.isArray(t)) return `[${t.map(stable).join(',')}]`;
  const keys = Object.keys(t).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stable(t[k]!)}`).join(',')}}`;
}

export function shorten(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** Run a lift; a parse failure (or any other exception) becomes the `invalid` tree of `bytes`. */
export function guarded(protocol: string, bytes: Buffer, fn: () => LiftResult): LiftResult {
  try {
    return fn();
  } catch (err) {
    const reason = err instanceof LiftError ? err.message : `${protocol}: ${err instanceof Error ? err.message : String(err)}`;
    return { tree: invalidTree(reason, bytes), summary: `invalid: ${shorten(reason, 80)}` };
  }
}
