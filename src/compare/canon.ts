/**
 * A canon: one normalised message as the comparator keeps it (tree, digest, summary, and its leaves on demand).
 */
import type { Tree } from '../protocols/lift.js';
import { treeDigest } from './canonical-json.js';
import { flatten } from './leaf-diff.js';

export interface Canon {
  readonly tree: Tree;
  /** Flattened leaves: JSON-pointer path → stable JSON of the leaf value (arrays/objects expanded to leaves; empty
   *  array/object are leaves "[]"/"{}"). */
  readonly flat: ReadonlyMap<string, string>;
  /** sha256 hex of the canonical (sorted-key) JSON of `tree`. */
  readonly digest: string;
  /** Short human summary: e.g. "200 application/json 1234 B" or "+OK" or "CommandComplete SELECT 1". */
  readonly summary: string;
}

class CanonImpl implements Canon {
  readonly tree: Tree;
  readonly digest: string;
  readonly summary: string;
  #flat: Map<string, string> | undefined;

  constructor(tree: Tree, summary: string) {
    this.tree = tree;
    this.summary = summary;
    this.digest = treeDigest(tree);
  }

  get flat(): ReadonlyMap<string, string> {
    this.#flat ??= flatten(this.tree);
    return this.#flat;
  }

  toJSON(): { tree: Tree; digest: string; summary: string } {
    return { tree: this.tree, digest: this.digest, summary: this.summary };
  }
}

/** Build a Canon from an already lifted tree (no masks applied). */
export function canonOf(tree: Tree, summary = ''): Canon {
  return new CanonImpl(tree, summary);
}
