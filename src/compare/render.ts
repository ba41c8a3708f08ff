/**
 * Readable diffs of two canons: one line per differing path, and unified diffs under changed multi-line texts.
 */
import type { Canon } from './canon.js';
import { diffFlat } from './leaf-diff.js';
import { splitLines, unifiedDiff } from './unified-diff.js';

/** Rendered diffs are cut after about this many characters. */
export const MAX_RENDER_CHARS = 8 * 1024;
/** Values in rendered diffs are shortened to about this many characters. */
export const MAX_RENDER_VALUE = 200;

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
