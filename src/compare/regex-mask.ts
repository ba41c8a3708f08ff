/**
 * Regex masks: replacements applied to every text leaf (string values, text bodies, raw text frames) of a lifted
 * tree before comparison.
 */
import { isTreeArray, setKey, type Tree } from '../protocols/lift.js';
import { configError } from './config-error.js';

export interface RegexMask {
  pattern: string;
  flags?: string;
  /** Replacement (default '<masked>'); `$1`-style references work as in String.prototype.replace. */
  replace?: string;
}

/** A validated regex mask (always global). */
export interface CompiledRegex {
  readonly re: RegExp;
  readonly replace: string;
}

/** Validate and compile regex masks; throws CONFIG_INVALID naming the bad one. */
export function compileRegexMasks(regex: readonly RegexMask[]): CompiledRegex[] {
  const given: unknown = regex; // checked: callers may be plain JavaScript
  if (!Array.isArray(given)) throw configError('regex masks: must be an array of { pattern, flags?, replace? }');
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

/** `t` with every text leaf passed through the regex masks in order (the same object when nothing changed). */
export function applyRegex(t: Tree, regex: readonly CompiledRegex[]): Tree {
  if (typeof t === 'string') {
    let s = t;
    for (const { re, replace } of regex) {
      re.lastIndex = 0;
      s = s.replace(re, replace);
    }
    return s;
  }
  if (t === null || typeof t !== 'object') return t;
  if (isTreeArray(t)) {
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
