/**
 * Ignore sets: exact JSON pointers (per-request noise paths) whose subtrees are left out of a digest or a diff.
 */
import { isTreeArray, setKey, type Tree } from '../protocols/lift.js';
import { unescapeSegment } from './pointer.js';

/** True when `path` or one of its ancestors is in `ignore`. */
export function isIgnored(path: string, ignore: ReadonlySet<string> | undefined): boolean {
  if (ignore === undefined || ignore.size === 0) return false;
  if (ignore.has(path) || ignore.has('')) return true;
  for (let i = path.indexOf('/', 1); i > 0; i = path.indexOf('/', i + 1)) if (ignore.has(path.slice(0, i))) return true;
  return false;
}

interface Trie {
  end: boolean;
  children: Map<string, Trie>;
}

function buildTrie(ignore: ReadonlySet<string>): Trie {
  const root: Trie = { end: false, children: new Map() };
  for (const path of ignore) {
    if (path === '') {
      root.end = true;
      continue;
    }
    if (!path.startsWith('/')) continue;
    let node = root;
    for (const raw of path.slice(1).split('/')) {
      const seg = unescapeSegment(raw);
      let next = node.children.get(seg);
      if (!next) {
        next = { end: false, children: new Map() };
        node.children.set(seg, next);
      }
      node = next;
    }
    node.end = true;
  }
  return root;
}

const REMOVED = Symbol('removed');

/** `t` without the trie's paths; containers emptied by the removal are removed too. */
function prune(t: Tree, trie: Trie): Tree | typeof REMOVED {
  if (trie.end) return REMOVED;
  if (t === null || typeof t !== 'object' || trie.children.size === 0) return t;
  let changed = false;
  if (isTreeArray(t)) {
    const out: Tree[] = [];
    for (let i = 0; i < t.length; i++) {
      const sub = trie.children.get(String(i));
      const v = sub ? prune(t[i]!, sub) : t[i]!;
      if (v !== t[i]) changed = true;
      if (v !== REMOVED) out.push(v);
    }
    if (!changed) return t;
    return out.length === 0 && t.length > 0 ? REMOVED : out;
  }
  const out: { [k: string]: Tree } = {};
  let kept = 0;
  const keys = Object.keys(t);
  for (const k of keys) {
    const sub = trie.children.get(k);
    const v = sub ? prune(t[k]!, sub) : t[k]!;
    if (v !== t[k]) changed = true;
    if (v !== REMOVED) {
      setKey(out, k, v);
      kept++;
    }
  }
  if (!changed) return t;
  return kept === 0 && keys.length > 0 ? REMOVED : out;
}

/**
 * `tree` without the paths in `ignore` and everything below them; containers left empty by the removal are removed
 * too, and null when nothing is left. The same object when nothing was removed.
 */
export function pruneTree(tree: Tree, ignore: ReadonlySet<string>): Tree {
  const pruned = prune(tree, buildTrie(ignore));
  return pruned === REMOVED ? null : pruned;
}
