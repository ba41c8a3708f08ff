/**
 * Response comparison for N-variant execution: one complete message per variant is lifted to a JSON-like tree by
 * its protocol module's lifter (`protocols/lift.ts`; raw bytes without one), normalised (path masks, regex masks on
 * text leaves), digested (sha256 of canonical sorted-key JSON: equal digests = agreement), flattened to leaf paths
 * for field diffs, and rendered as a readable diff (one line per differing path, unified diffs for multi-line text).
 *
 * Paths are JSON pointers (RFC 6901, see pointer.ts); masks are pointers with glob segments (see pointer-mask.ts),
 * which a lifter may first respell the way its trees spell keys (`Lifter.maskPointer`).
 */
import { invalidTree, isTreeArray, type Lifter, type LifterOptions, type MessageKind, type Tree } from '../protocols/lift.js';
import type { ProtocolRegistry } from '../protocols/registry.js';
import { canonOf, type Canon } from './canon.js';
import { treeDigest } from './canonical-json.js';
import { configError } from './config-error.js';
import { pruneTree } from './ignore-trie.js';
import { diffFlat, type FieldDiff } from './leaf-diff.js';
import { createRawLifter, lifterFor } from './lifters.js';
import { applyMaskSet, compileMasks } from './pointer-mask.js';
import { applyRegex, compileRegexMasks, type RegexMask } from './regex-mask.js';
import { renderDiff } from './render.js';

export interface NormaliseOptions {
  /** HTTP: extra header names (case-insensitive) to ignore, added to the lifter's defaults. */
  ignoreHeaders?: readonly string[];
  /** HTTP: compare headers at all (default true). */
  compareHeaders?: boolean;
  /** Masks over the lifted tree, as JSON pointers with glob segments: "/body/id", "/body/items/*\/id",
   *  "/body/**\/createdAt" (`*` = one segment, `**` = any depth incl. zero), "/headers/x-request-id".
   *  A masked field is REMOVED from the tree (so absent vs present-but-masked compare equal). */
  masks?: readonly string[];
  /** Regex masks applied to text leaves (string values, text bodies, raw text frames) before comparison. */
  regex?: readonly RegexMask[];
}

/** Where {@link buildComparator} finds the lifter, and what it tells it about the messages. */
export interface ComparatorContext {
  /** The protocol modules (default: the built-in ones). */
  readonly protocols?: ProtocolRegistry;
  /** The messages come from variants that each reach the proxy on their own address (see LifterOptions). */
  readonly perVariantAddress?: boolean;
}

export interface Comparator {
  /** Lift + normalise one complete message (the wire frames of one response, or one request for merges). Never
   *  throws on garbage: unparseable input becomes a tree like { invalid: "<reason>", raw: "<base64 up to 4 KiB>" }. */
  canonical(frames: readonly Buffer[], kind: MessageKind): Canon;
  /** Digest of `canon` with the given paths (and everything below them) removed, for per-request noise fields;
   *  containers left empty by the removal are removed too. Same as canon.digest when nothing is removed. */
  digestWithout(canon: Canon, ignore: ReadonlySet<string>): string;
  /** Leaf paths that differ between a and b (ignoring `ignore` and everything below its paths), sorted. */
  diff(a: Canon, b: Canon, ignore?: ReadonlySet<string>): FieldDiff[];
  /** Readable diff between two variants' canons (see {@link renderDiff}). */
  render(a: Canon, b: Canon, labels: readonly [string, string], ignore?: ReadonlySet<string>): string;
  /** The endpoint key for noise learning, from a request message's frames (the lifter's; '*' when it fails). */
  endpoint(requestFrames: readonly Buffer[]): string;
}

/** Nesting deeper than this is not compared structurally (the message becomes `invalid`). */
export const MAX_TREE_DEPTH = 512;

function depthExceeds(t: Tree, max: number): boolean {
  if (t === null || typeof t !== 'object') return false;
  if (max <= 0) return true;
  if (isTreeArray(t)) {
    for (const v of t) if (depthExceeds(v, max - 1)) return true;
    return false;
  }
  for (const k in t) if (Object.prototype.hasOwnProperty.call(t, k) && depthExceeds(t[k]!, max - 1)) return true;
  return false;
}

function checkOptions(options: NormaliseOptions): void {
  if (options === null || typeof options !== 'object') throw configError('compare options: must be an object');
  if (options.ignoreHeaders !== undefined) {
    if (!Array.isArray(options.ignoreHeaders)) throw configError('ignoreHeaders: must be an array of header names');
    options.ignoreHeaders.forEach((h, i) => {
      if (typeof h !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(h)) throw configError(`ignoreHeaders ${i}: ${JSON.stringify(h)} is not a header name`);
    });
  }
  if (options.compareHeaders !== undefined && typeof options.compareHeaders !== 'boolean') throw configError('compareHeaders: must be a boolean');
}

/**
 * Check normalisation options without building a comparator (routes validate their config when they are built):
 * a bad header name, pointer or regex throws SwitchyardError CONFIG_INVALID naming it.
 */
export function validateNormalise(options: NormaliseOptions = {}): void {
  createComparator(createRawLifter(), options);
}

/**
 * The comparator over `lifter`'s trees. Validates the options now: a bad pointer or regex throws SwitchyardError
 * CONFIG_INVALID naming it.
 */
export function createComparator(lifter: Lifter, options: NormaliseOptions = {}): Comparator {
  checkOptions(options);
  let maskStrings = options.masks ?? [];
  const given: unknown = maskStrings; // checked: callers may be plain JavaScript
  if (!Array.isArray(given)) throw configError('masks: must be an array of JSON pointers');
  const maskPointer = lifter.maskPointer?.bind(lifter);
  if (maskPointer) maskStrings = maskStrings.map((m) => (typeof m === 'string' ? maskPointer(m) : m));
  const masks = compileMasks(maskStrings);
  const regex = compileRegexMasks(options.regex ?? []);

  const normalise = (tree: Tree): Tree => {
    let t = applyMaskSet(tree, masks);
    if (regex.length > 0) t = applyRegex(t, regex);
    return t;
  };

  return {
    canonical(frames, kind) {
      try {
        const lifted = lifter.liftWithSummary(frames, kind);
        if (depthExceeds(lifted.tree, MAX_TREE_DEPTH)) throw new Error(`nesting deeper than ${MAX_TREE_DEPTH}`);
        return canonOf(normalise(lifted.tree), lifted.summary);
      } catch (err) {
        // lifters do not throw; this is a last resort (stack overflow on pathological input and the like)
        const bytes = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
        const reason = `${lifter.protocol}: ${err instanceof Error ? err.message : String(err)}`;
        return canonOf(invalidTree(reason, bytes), `invalid: ${reason.slice(0, 80)}`);
      }
    },
    digestWithout(canon, ignore) {
      if (ignore.size === 0) return canon.digest;
      const pruned = pruneTree(canon.tree, ignore);
      return pruned === canon.tree ? canon.digest : treeDigest(pruned);
    },
    diff(a, b, ignore) {
      if (a.digest === b.digest) return [];
      return diffFlat(a.flat, b.flat, ignore);
    },
    render(a, b, labels, ignore) {
      return renderDiff(a, b, labels, ignore);
    },
    endpoint(requestFrames) {
      try {
        return lifter.endpoint(requestFrames);
      } catch {
        return '*';
      }
    },
  };
}

/**
 * The comparator for a protocol by name: the lifter of its module in `context.protocols` (default: the built-in
 * modules); names without a module or a lifter ('line', 'tcp', ...) compare raw bytes. Validates the options now.
 */
export function buildComparator(protocol: string, options: NormaliseOptions = {}, context: ComparatorContext = {}): Comparator {
  checkOptions(options);
  const lifterOptions: LifterOptions = {
    ...(options.ignoreHeaders !== undefined ? { ignoreHeaders: options.ignoreHeaders } : {}),
    ...(options.compareHeaders !== undefined ? { compareHeaders: options.compareHeaders } : {}),
    ...(context.perVariantAddress !== undefined ? { perVariantAddress: context.perVariantAddress } : {}),
  };
  return createComparator(lifterFor(protocol, lifterOptions, context.protocols), options);
}
