/**
 * Line diffs of two texts as a unified diff (`--- a`, `+++ b`, `@@ -l,s +l,s @@` hunks): common prefix and suffix
 * stripped, a longest-common-subsequence table on the middle.
 */

/** unifiedDiff falls back to a summary when either text has more lines than this. */
export const MAX_DIFF_LINES = 2000;

/** The lines of a text, without the empty one after a final newline. */
export function splitLines(text: string): string[] {
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
