/**
 * Canonical JSON of a tree and its digest: equal digests mean the two normalised messages agree.
 */
import { sha256Hex, type Tree } from '../protocols/lift.js';

/** Order of strings by UTF-16 code units (the order of keys in canonical JSON and of paths in diffs). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** JSON.stringify replacer that rebuilds objects whose keys are not in sorted order. */
function sortKeys(this: unknown, _key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  let sorted = true;
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) {
      sorted = false;
      break;
    }
  }
  if (sorted) return value;
  keys.sort(compareStrings);
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    if (k === '__proto__') Object.defineProperty(out, k, { value: obj[k], enumerable: true, writable: true, configurable: true });
    else out[k] = obj[k];
  }
  return out;
}

/**
 * Canonical JSON, the input of every digest: no whitespace, object keys in sorted order — as JavaScript orders
 * properties, integer-like keys ("0", "17") come first in numeric order, then the others by UTF-16 code units.
 * Non-finite numbers are null, -0 is 0.
 */
export function canonicalJson(tree: Tree): string {
  return JSON.stringify(tree, sortKeys) ?? 'null';
}

/** sha256 hex of {@link canonicalJson}. */
export function treeDigest(tree: Tree): string {
  return sha256Hex(canonicalJson(tree));
}
