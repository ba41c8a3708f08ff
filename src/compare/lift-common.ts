/**
 * Shared helpers for the lifters (the tree shapes are described in `lifters.ts`): the lifter interfaces, the size
 * limits, byte leaves, `invalid` trees and the guard that turns a parse failure into one. Used by the raw lifter and
 * registry in `replication/lifters.ts` and by each protocol's `protocols/<name>/normalize.ts`; it imports none of
 * them (only a type from `compare.ts`), so there is no import cycle.
 */
import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { Tree } from './compare.js';

export interface Lifter {
  lift(frames: readonly Buffer[], kind: 'request' | 'response'): Tree;
}

/** A lifter as the comparator uses it: the tree plus a short summary, and the endpoint key of a request. */
export interface ProtocolLifter extends Lifter {
  readonly protocol: 'http' | 'redis' | 'postgres' | 'raw';
  liftWithSummary(frames: readonly Buffer[], kind: 'request' | 'response'): LiftResult;
  endpoint(requestFrames: readonly Buffer[]): string;
}

export interface LiftResult {
  tree: Tree;
  summary: string;
}

export interface LifterOptions {
  /** HTTP: extra header names (case-insensitive) to drop, added to {@link DEFAULT_IGNORED_HEADERS}. */
  ignoreHeaders?: readonly string[];
  /** HTTP: keep the `headers` key at all (default true). */
  compareHeaders?: boolean;
}

/** Bodies / values above this many bytes are compared by `{ sha256, length }` when they are not text. */
export const MAX_INLINE_BINARY = 64 * 1024;
/** Decompressed HTTP bodies above this are not decoded (the encoded bytes are compared). */
export const MAX_DECODED_BODY = 64 * 1024 * 1024;
/** Bytes of garbage kept (base64) in an `invalid` tree. */
export const MAX_INVALID_RAW = 4 * 1024;

// ---------------------------------------------------------------------------------------------------------------
// shared helpers

export type MTree = null | boolean | number | string | MTree[] | { [k: string]: MTree };

/** A parse failure inside a lifter: becomes an `invalid` tree. */
class LiftError extends Error {}

export function fail(reason: string): never {
  throw new LiftError(reason);
}

/** `obj[key] = value` that also works for the key "__proto__" (an own property, never the prototype). */
export function setKey(obj: { [k: string]: MTree }, key: string, value: MTree): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

export function concat(frames: readonly Buffer[]): Buffer {
  if (frames.length === 1) return frames[0]!;
  return Buffer.concat(frames as Buffer[]);
}

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Non-text bytes as a leaf: `{ base64 }`, or `{ sha256, length }` over {@link MAX_INLINE_BINARY}. */
export function binaryLeaf(buf: Buffer): MTree {
  if (buf.length > MAX_INLINE_BINARY) return { sha256: sha256(buf), length: buf.length };
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
    out['sha256'] = sha256(bytes);
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

export function guarded(protocol: string, bytes: Buffer, fn: () => LiftResult): LiftResult {
  try {
    return fn();
  } catch (err) {
    const reason = err instanceof LiftError ? err.message : `${protocol}: ${err instanceof Error ? err.message : String(err)}`;
    return { tree: invalidTree(reason, bytes), summary: `invalid: ${shorten(reason, 80)}` };
  }
}
