/**
 * Response comparison for N-variant execution: one complete message per variant is lifted to a JSON-like tree
 * (lifters.ts), normalised (volatile HTTP headers dropped by the lifter, path masks, regex masks on text leaves),
 * digested (sha256 of canonical sorted-key JSON: equal digests = agreement), flattened to leaf paths for field
 * diffs, and rendered as a readable diff (one line per differing path, unified diffs for multi-line text).
 *
 * Paths are JSON pointers (RFC 6901: "/body/items/0/id", "~1" for "/" and "~0" for "~" in keys; "" is the root).
 * Masks are pointers whose segments may be globs: `*` matches one segment, `**` any number of segments including
 * zero (so a key literally named "*" or "**" cannot be named on its own). A masked node is removed (array elements
 * are removed, shifting the ones after). For http, the segment after "/headers/" is lower-cased (header names in
 * trees are lower case).
 */
import { createHash } from 'node:crypto';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { lifterFor, type ProtocolLifter } from '../replication/lifters.js';

export type Tree = null | boolean | number | string | readonly Tree[] | { readonly [k: string]: Tree };

export interface RegexMask {
  pattern: string;
  flags?: string;
  /** Replacement (default '<masked>'); `$1`-style references work as in String.prototype.replace. */
  replace?: string;
}

export interface NormaliseOptions {
  /** HTTP: extra header names (case-insensitive) to ignore, added to the defaults (see lifters). */
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

export interface FieldDiff {
  path: string;
  /** changed: both have the leaf with different values; missing: only `a` has it; extra: only `b` has it. */
  kind: 'changed' | 'missing' | 'extra';
  /** Stable JSON of a's leaf. */
  a?: string;
  /** Stable JSON of b's leaf. */
  b?: string;
}

export interface Comparator {
  /** Lift + normalise one complete message (the wire frames of one response, or one request for merges). Never
   *  throws on garbage: unparseable input becomes a tree like { invalid: "<reason>", raw: "<base64 up to 4 KiB>" }. */
  canonical(frames: readonly Buffer[], kind: 'request' | 'response'): Canon;
  /** Digest of `canon` with the given paths (and everything below them) removed, for per-request noise fields;
   *  containers left empty by the removal are removed too. Same as canon.digest when nothing is removed. */
  digestWithout(canon: Canon, ignore: ReadonlySet<string>): string;
  /** Leaf paths that differ between a and b (ignoring `ignore` and everything below its paths), sorted. */
  diff(a: Canon, b: Canon, ignore?: ReadonlySet<string>): FieldDiff[];
  /** Readable diff between two variants' canons (see {@link renderDiff}). */
  render(a: Canon, b: Canon, labels: readonly [string, string], ignore?: ReadonlySet<string>): string;
  /** The endpoint key for noise learning, from a request message's frames (HTTP: "GET /users/:id"; redis: the
   *  upper-case command name; postgres: the first 60 characters of the SQL with literals replaced by '?'; raw: "*"). */
  endpoint(requestFrames: readonly Buffer[]): string;
}

/** Nesting deeper than this is not compared structurally (the message becomes `invalid`). */
export const MAX_TREE_DEPTH = 512;
/** Rendered diffs are cut after about this many characters. */
export const MAX_RENDER_CHARS = 8 * 1024;
/** Values in rendered diffs are shortened to about this many characters. */
export const MAX_RENDER_VALUE = 200;
/** unifiedDiff falls back to a summary when either text has more lines than this. */
export const MAX_DIFF_LINES = 2000;

// ---------------------------------------------------------------------------------------------------------------
// tree basics

type MTree = null | boolean | number | string | MTree[] | { [k: string]: MTree };

function isArr(t: Tree): t is readonly Tree[] {
  return Array.isArray(t);
}

function setKey(obj: { [k: string]: Tree }, key: string, value: Tree): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function leafJson(t: null | boolean | number | string): string {
  if (typeof t === 'number' && !Number.isFinite(t)) return 'null';
  return JSON.stringify(t);
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

function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** sha256 hex of {@link canonicalJson}. */
export function treeDigest(tree: Tree): string {
  return sha256Hex(canonicalJson(tree));
}

/** Escape one key as a JSON-pointer segment. */
export function escapeSegment(key: string): string {
  return key.includes('~') || key.includes('/') ? key.replace(/~/g, '~0').replace(/\//g, '~1') : key;
}

/** Flattened leaves: pointer → stable JSON of the leaf ("[]" / "{}" for empty containers). */
export function flatten(tree: Tree): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (t: Tree, path: string): void => {
    if (t === null || typeof t !== 'object') {
      out.set(path, leafJson(t));
    } else if (isArr(t)) {
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

function depthExceeds(t: Tree, max: number): boolean {
  if (t === null || typeof t !== 'object') return false;
  if (max <= 0) return true;
  if (isArr(t)) {
    for (const v of t) if (depthExceeds(v, max - 1)) return true;
    return false;
  }
  for (const k in t) if (Object.prototype.hasOwnProperty.call(t, k) && depthExceeds(t[k]!, max - 1)) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// pointers and masks

function configError(message: string): SwitchyardError {
  return new SwitchyardError(ErrorCodes.CONFIG_INVALID, message);
}

/** Segments of a JSON pointer ("/a/b~1c" → ["a", "b/c"]); throws CONFIG_INVALID naming `what`. */
export function parsePointer(pointer: string, what = 'pointer'): string[] {
  if (typeof pointer !== 'string') throw configError(`${what}: must be a string, got ${typeof pointer}`);
  if (!pointer.startsWith('/')) throw configError(`${what} ${JSON.stringify(pointer)}: a JSON pointer must start with "/"`);
  return pointer
    .slice(1)
    .split('/')
    .map((seg) => {
      if (/~[^01]|~$/.test(seg)) throw configError(`${what} ${JSON.stringify(pointer)}: invalid escape in segment ${JSON.stringify(seg)} (use ~0 for "~" and ~1 for "/")`);
      return seg.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

/** Compiled masks: one segment list per mask. */
type MaskSet = readonly (readonly string[])[];

function compileMasks(masks: readonly string[], what = 'mask'): MaskSet {
  if (!Array.isArray(masks)) throw configError(`${what}s: must be an array of JSON pointers`);
  return masks.map((m, i) => parsePointer(m, `${what} ${i}`));
}

/** Matching state: pattern index and position in it. */
type MatchState = readonly [number, number];

function closeStates(patterns: MaskSet, states: MatchState[]): { states: MatchState[]; complete: boolean } {
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

function stepStates(patterns: MaskSet, states: readonly MatchState[], key: string): { states: MatchState[]; complete: boolean } {
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
  if (isArr(node)) {
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

function maskCompiled(tree: Tree, patterns: MaskSet): Tree {
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
  return maskCompiled(tree, compileMasks(masks));
}

interface CompiledRegex {
  re: RegExp;
  replace: string;
}

function compileRegexMasks(regex: readonly RegexMask[]): CompiledRegex[] {
  if (!Array.isArray(regex)) throw configError('regex masks: must be an array of { pattern, flags?, replace? }');
  return regex.map((r, i) => {
    const what = `regex mask ${i}`;
    if (r === null || typeof r !== 'object') throw configError(`${what}: must be an object { pattern, flags?, replace? }`);
    if (typeof r.pattern !== 'string' || r.pattern.length === 0) throw configError(`${what}: pattern must be a non-empty string`);
    if (r.flags !== undefined && (typeof r.flags !== 'string' || !/^[dimsuyv]*$/.test(r.flags.replace('g', '')))) {
      throw configError(`${what} ${JSON.stringify(r.pattern)}: invalid flags ${JSON.stringify(r.flags)}`);
    }
    if (r.replace !== undefined && typeof r.replace !== 'string') throw configError(`${what} ${JSON.stringify(r.pattern)}: replace must be a string`);
    const flags = (r.flags ?? '').includes('g') ? (r.flags ?? '') : `${r.flags ?? ''}g`;
    let re: RegExp;
    try {
      re = new RegExp(r.pattern, flags);
    } catch (err) {
      throw configError(`${what} ${JSON.stringify(r.pattern)}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { re, replace: r.replace ?? '<masked>' };
  });
}

function applyRegex(t: Tree, regex: readonly CompiledRegex[]): Tree {
  if (typeof t === 'string') {
    let s = t;
    for (const { re, replace } of regex) {
      re.lastIndex = 0;
      s = s.replace(re, replace);
    }
    return s;
  }
  if (t === null || typeof t !== 'object') return t;
  if (isArr(t)) {
    let changed = false;
    const out = t.map((v) => {
      const w = applyRegex(v, regex);
      if (w !== v) changed = true;
      return w;
    });
    return changed ? out : t;
  }
  let changed = false;
  const out: { [k: string]: Tree } = {};
  for (const k of Object.keys(t)) {
    const v = t[k]!;
    const w = applyRegex(v, regex);
    if (w !== v) changed = true;
    setKey(out, k, w);
  }
  return changed ? out : t;
}

// ---------------------------------------------------------------------------------------------------------------
// ignore sets (exact pointers, prefixes cover their subtrees)

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
      const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
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
  if (isArr(t)) {
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

// ---------------------------------------------------------------------------------------------------------------
// diffs

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

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

type Op = readonly [' ' | '-' | '+', string];

/** Line edit script: common prefix/suffix stripped, LCS on the middle. */
function editScript(a: readonly string[], b: readonly string[]): Op[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const am = a.slice(pre, a.length - suf);
  const bm = b.slice(pre, b.length - suf);
  const n = am.length;
  const m = bm.length;
  const ops: Op[] = [];
  for (let i = 0; i < pre; i++) ops.push([' ', a[i]!]);
  // lcs[i][j] = LCS length of am[i..] and bm[j..]
  const w = m + 1;
  const lcs = new Uint16Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] = am[i] === bm[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!);
    }
  }
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && am[i] === bm[j]) {
      ops.push([' ', am[i]!]);
      i++;
      j++;
    } else if (i < n && (j === m || lcs[(i + 1) * w + j]! >= lcs[i * w + j + 1]!)) {
      ops.push(['-', am[i]!]); // deletions before insertions within a change block
      i++;
    } else {
      ops.push(['+', bm[j]!]);
      j++;
    }
  }
  for (let k = a.length - suf; k < a.length; k++) ops.push([' ', a[k]!]);
  return ops;
}

function hunkRange(start: number, len: number): string {
  // unified diff convention: an empty range names the line before it
  const first = len === 0 ? start : start + 1;
  return len === 1 ? `${first}` : `${first},${len}`;
}

/**
 * A unified diff (`--- a`, `+++ b`, `@@ -l,s +l,s @@` hunks with `context` lines around changes) of two texts,
 * line by line (LCS). '' when the texts are equal. When either text has more than {@link MAX_DIFF_LINES} lines,
 * a short summary of the first differing line instead.
 */
export function unifiedDiff(a: string, b: string, labels: readonly [string, string], context = 3): string {
  if (a === b) return '';
  const al = splitLines(a);
  const bl = splitLines(b);
  const head = `--- ${labels[0]}\n+++ ${labels[1]}\n`;
  if (al.length > MAX_DIFF_LINES || bl.length > MAX_DIFF_LINES) {
    let k = 0;
    while (k < al.length && k < bl.length && al[k] === bl[k]) k++;
    let out = `${head}@@ texts too long to diff (${al.length} and ${bl.length} lines); first difference at line ${k + 1} @@\n`;
    if (k < al.length) out += `-${al[k]!}\n`;
    if (k < bl.length) out += `+${bl[k]!}\n`;
    return out;
  }
  const ops = editScript(al, bl);
  // positions of changes; group into hunks when the gap between changes is <= 2 * context
  const changes: number[] = [];
  for (let k = 0; k < ops.length; k++) if (ops[k]![0] !== ' ') changes.push(k);
  if (changes.length === 0) {
    // texts differ only by a trailing newline
    return `${head}@@ texts differ only in the final newline @@\n`;
  }
  const ctx = Math.max(0, Math.floor(context));
  let out = head;
  // line numbers before each op
  const aPos: number[] = [];
  const bPos: number[] = [];
  let ai = 0;
  let bi = 0;
  for (const [t] of ops) {
    aPos.push(ai);
    bPos.push(bi);
    if (t !== '+') ai++;
    if (t !== '-') bi++;
  }
  let c = 0;
  while (c < changes.length) {
    let last = c;
    while (last + 1 < changes.length && changes[last + 1]! - changes[last]! <= 2 * ctx + 1) last++;
    const from = Math.max(0, changes[c]! - ctx);
    const to = Math.min(ops.length, changes[last]! + ctx + 1);
    let aLen = 0;
    let bLen = 0;
    let body = '';
    for (let k = from; k < to; k++) {
      const [t, line] = ops[k]!;
      if (t !== '+') aLen++;
      if (t !== '-') bLen++;
      body += `${t}${line}\n`;
    }
    out += `@@ -${hunkRange(aPos[from]!, aLen)} +${hunkRange(bPos[from]!, bLen)} @@\n${body}`;
    c = last + 1;
  }
  return out;
}

function shortenValue(s: string, max = MAX_RENDER_VALUE): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function showPath(path: string): string {
  return path === '' ? '(root)' : path;
}

/** A leaf's JSON as a string when it is a multi-line string, else undefined. */
function multilineText(json: string | undefined): string | undefined {
  if (json === undefined || !json.startsWith('"') || !json.includes('\\n')) return undefined;
  try {
    const s = JSON.parse(json) as unknown;
    return typeof s === 'string' && s.includes('\n') ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Texts longer than this (together) are not line-diffed when rendering; the first difference is shown instead. */
const MAX_RENDER_DIFF_INPUT = 4 * 1024 * 1024;

/**
 * Readable diff of two canons: a title line, then one line per differing path — `~ path: a → b` (changed),
 * `- path: a` (only in the first), `+ path: b` (only in the second) — and after a changed multi-line text leaf, a
 * unified diff of the two texts. Values are shortened to ~200 characters; the whole output is capped at ~8 KiB
 * with a final "… (truncated)" line.
 */
export function renderDiff(a: Canon, b: Canon, labels: readonly [string, string], ignore?: ReadonlySet<string>): string {
  const diffs = a.digest === b.digest ? [] : diffFlat(a.flat, b.flat, ignore);
  const lines: string[] = [];
  lines.push(
    diffs.length === 0
      ? `${labels[0]} vs ${labels[1]}: no differences (${a.summary})`
      : `${labels[0]} (${a.summary}) vs ${labels[1]} (${b.summary}): ${diffs.length} differing path${diffs.length === 1 ? '' : 's'}`,
  );
  let size = lines[0]!.length + 1;
  let truncated = false;
  const push = (line: string): boolean => {
    if (size + line.length + 1 > MAX_RENDER_CHARS) {
      truncated = true;
      return false;
    }
    lines.push(line);
    size += line.length + 1;
    return true;
  };
  outer: for (const d of diffs) {
    const p = showPath(d.path);
    if (d.kind === 'missing') {
      if (!push(`- ${p}: ${shortenValue(d.a ?? '')}`)) break;
      continue;
    }
    if (d.kind === 'extra') {
      if (!push(`+ ${p}: ${shortenValue(d.b ?? '')}`)) break;
      continue;
    }
    const ta = multilineText(d.a);
    const tb = multilineText(d.b);
    const at = ta ?? (d.a?.startsWith('"') ? (JSON.parse(d.a) as string) : undefined);
    const bt = tb ?? (d.b?.startsWith('"') ? (JSON.parse(d.b) as string) : undefined);
    if ((ta !== undefined || tb !== undefined) && at !== undefined && bt !== undefined) {
      const al = splitLines(at).length;
      const bl = splitLines(bt).length;
      if (!push(`~ ${p}: text differs (${al} line${al === 1 ? '' : 's'} → ${bl} line${bl === 1 ? '' : 's'})`)) break;
      let udiff: string;
      if (at.length + bt.length > MAX_RENDER_DIFF_INPUT) {
        let k = 0;
        while (k < at.length && k < bt.length && at.charCodeAt(k) === bt.charCodeAt(k)) k++;
        udiff = `--- ${labels[0]} ${p}\n+++ ${labels[1]} ${p}\n@@ texts too long to diff; first difference at character ${k} @@\n`;
      } else udiff = unifiedDiff(at, bt, [`${labels[0]} ${p}`, `${labels[1]} ${p}`]);
      for (const line of splitLines(udiff)) if (!push(shortenValue(line))) break outer;
      continue;
    }
    if (!push(`~ ${p}: ${shortenValue(d.a ?? '')} → ${shortenValue(d.b ?? '')}`)) break;
  }
  if (truncated) lines.push('… (truncated)');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// comparator

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
 * The comparator for a protocol ('http', 'redis', 'postgres'; 'line', 'tcp' and anything else compare raw bytes).
 * Validates the options now: a bad pointer or regex throws SwitchyardError CONFIG_INVALID naming it.
 */
export function buildComparator(protocol: string, options: NormaliseOptions = {}): Comparator {
  checkOptions(options);
  const lifter: ProtocolLifter = lifterFor(protocol, {
    ...(options.ignoreHeaders !== undefined ? { ignoreHeaders: options.ignoreHeaders } : {}),
    ...(options.compareHeaders !== undefined ? { compareHeaders: options.compareHeaders } : {}),
  });
  let maskStrings = options.masks ?? [];
  if (!Array.isArray(maskStrings)) throw configError('masks: must be an array of JSON pointers');
  if (lifter.protocol === 'http') {
    maskStrings = maskStrings.map((m) => (typeof m === 'string' ? m.replace(/^\/headers\/([^/]+)/, (_, h: string) => `/headers/${h.toLowerCase()}`) : m));
  }
  const masks = compileMasks(maskStrings);
  const regex = compileRegexMasks(options.regex ?? []);

  const normalise = (tree: Tree): Tree => {
    let t = maskCompiled(tree, masks);
    if (regex.length > 0) t = applyRegex(t, regex);
    return t;
  };

  return {
    canonical(frames, kind) {
      let lifted: { tree: Tree; summary: string };
      try {
        lifted = lifter.liftWithSummary(frames, kind);
        if (depthExceeds(lifted.tree, MAX_TREE_DEPTH)) throw new Error(`nesting deeper than ${MAX_TREE_DEPTH}`);
        return new CanonImpl(normalise(lifted.tree), lifted.summary);
      } catch (err) {
        // lifters do not throw; this is a last resort (stack overflow on pathological input and the like)
        const bytes = frames.length === 1 ? frames[0]! : Buffer.concat(frames as Buffer[]);
        const reason = `${lifter.protocol}: ${err instanceof Error ? err.message : String(err)}`;
        const tree: MTree = { invalid: reason, raw: bytes.subarray(0, 4096).toString('base64') };
        if (bytes.length > 4096) {
          tree['length'] = bytes.length;
          tree['sha256'] = createHash('sha256').update(bytes).digest('hex');
        }
        return new CanonImpl(tree, `invalid: ${reason.slice(0, 80)}`);
      }
    },
    digestWithout(canon, ignore) {
      if (ignore.size === 0) return canon.digest;
      const pruned = prune(canon.tree, buildTrie(ignore));
      if (pruned === canon.tree) return canon.digest;
      return treeDigest(pruned === REMOVED ? null : pruned);
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
