/**
 * Leaf paths: a tree flattened to JSON pointer → stable JSON of each leaf, and the field differences between two
 * flattened trees.
 */
import { isTreeArray, type Tree } from '../protocols/lift.js';
import { compareStrings } from './canonical-json.js';
import { isIgnored } from './ignore-trie.js';
import { escapeSegment } from './pointer.js';

export interface FieldDiff {
  path: string;
  /** changed: both have the leaf with different values; missing: only `a` has it; extra: only `b` has it. */
  kind: 'changed' | 'missing' | 'extra';
  /** Stable JSON of a's leaf. */
  a?: string;
  /** Stable JSON of b's leaf. */
  b?: string;
}

function leafJson(t: null | boolean | number | string): string {
  if (typeof t === 'number' && !Number.isFinite(t)) return 'null';
  return JSON.stringify(t);
}

/** Flattened leaves: pointer → stable JSON of the leaf ("[]" / "{}" for empty containers). */
export function flatten(tree: Tree): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (t: Tree, path: string): void => {
    if (t === null || typeof t !== 'object') {
      out.set(path, leafJson(t));
    } else if (isTreeArray(t)) {
      if (t.length === 0) out.set(path, '[]');
      for (let i = 0; i < t.length; i++) walk(t[i]!, `${path}/${i}`);
    } else {
      const keys = Object.keys(t);
      if (keys.length === 0) out.set(path, '{}');
      for (const k of keys) walk(t[k]!, `${path}/${escapeSegment(k)}`);
    }
  };
  walk(tree, '');
  return out;
}

/** Leaf differences between two flattened trees, sorted by path. */
export function diffFlat(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>, ignore?: ReadonlySet<string>): FieldDiff[] {
  const out: FieldDiff[] = [];
  for (const [path, av] of a) {
    if (isIgnored(path, ignore)) continue;
    const bv = b.get(path);
    if (bv === undefined) out.push({ path, kind: 'missing', a: av });
    else if (bv !== av) out.push({ path, kind: 'changed', a: av, b: bv });
  }
  for (const [path, bv] of b) {
    if (!a.has(path) && !isIgnored(path, ignore)) out.push({ path, kind: 'extra', b: bv });
  }
  return out.sort((x, y) => compareStrings(x.path, y.path));
}
