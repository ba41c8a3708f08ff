/**
 * Masks: JSON pointers whose segments may be globs — `*` matches one segment, `**` any number of segments including
 * zero (so a key literally named "*" or "**" cannot be named on its own). A masked node is removed (array elements
 * are removed, shifting the ones after), so absent and present-but-masked compare equal.
 */
import { isTreeArray, setKey, type Tree } from '../protocols/lift.js';
import { configError } from './config-error.js';
import { parsePointer } from './pointer.js';

/** Compiled masks: one segment list per mask. */
export type MaskSet = readonly (readonly string[])[];

/** Matching state: pattern index and position in it. */
type MatchState = readonly [number, number];

interface Step {
  states: MatchState[];
  /** A pattern matched completely: the node is masked. */
  complete: boolean;
}

/** Parse mask pointers; throws CONFIG_INVALID naming the bad one. */
export function compileMasks(masks: readonly string[], what = 'mask'): MaskSet {
  const given: unknown = masks; // checked: callers may be plain JavaScript
  if (!Array.isArray(given)) throw configError(`${what}s: must be an array of JSON pointers`);
  return masks.map((m, i) => parsePointer(m, `${what} ${i}`));
}

function closeStates(patterns: MaskSet, states: MatchState[]): Step {
  const seen = new Set<number>();
  const out: MatchState[] = [];
  let complete = false;
  const add = (p: number, i: number): void => {
    const id = p * 4096 + i;
    if (seen.has(id)) return;
    seen.add(id);
    const segs = patterns[p]!;
    if (i === segs.length) {
      complete = true;
      return;
    }
    out.push([p, i]);
    if (segs[i] === '**') add(p, i + 1); // `**` matching zero segments
  };
  for (const [p, i] of states) add(p, i);
  return { states: out, complete };
}

function stepStates(patterns: MaskSet, states: readonly MatchState[], key: string): Step {
  const next: MatchState[] = [];
  for (const [p, i] of states) {
    const seg = patterns[p]![i]!;
    if (seg === '**') next.push([p, i]);
    else if (seg === '*' || seg === key) next.push([p, i + 1]);
  }
  return next.length === 0 ? { states: next, complete: false } : closeStates(patterns, next);
}

function applyMasks(node: Tree, patterns: MaskSet, states: readonly MatchState[]): Tree {
  if (node === null || typeof node !== 'object' || states.length === 0) return node;
  let changed = false;
  if (isTreeArray(node)) {
    const out: Tree[] = [];
    for (let i = 0; i < node.length; i++) {
      const child = node[i]!;
      const s = stepStates(patterns, states, String(i));
      if (s.complete) {
        changed = true;
        continue;
      }
      const masked = applyMasks(child, patterns, s.states);
      if (masked !== child) changed = true;
      out.push(masked);
    }
    return changed ? out : node;
  }
  const out: { [k: string]: Tree } = {};
  for (const k of Object.keys(node)) {
    const child = node[k]!;
    const s = stepStates(patterns, states, k);
    if (s.complete) {
      changed = true;
      continue;
    }
    const masked = applyMasks(child, patterns, s.states);
    if (masked !== child) changed = true;
    setKey(out, k, masked);
  }
  return changed ? out : node;
}

/** `tree` without the nodes matched by compiled masks (the same object when nothing matched). */
export function applyMaskSet(tree: Tree, patterns: MaskSet): Tree {
  if (patterns.length === 0) return tree;
  const start = closeStates(
    patterns,
    patterns.map((_, p) => [p, 0] as const),
  );
  if (start.complete) return null; // a mask matching the root ("/**")
  return applyMasks(tree, patterns, start.states);
}

/** `tree` without the nodes matched by `masks` (pointers with `*` / `**` segments). Throws CONFIG_INVALID on a bad pointer. */
export function maskTree(tree: Tree, masks: readonly string[]): Tree {
  return applyMaskSet(tree, compileMasks(masks));
}
