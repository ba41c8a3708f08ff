import type { AttributeValue, Attributes } from '../protocols/protocol.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { MATCH_NOT, type MatchSpec, type MatchValue } from '../config/fault-input.js';
import { compileSafeRegex } from '../config/regex-safety.js';

/** A compiled MatchSpec (config/fault-input.ts describes the forms): true when a request's attributes match. */
export type Matcher = (attributes: Attributes | undefined) => boolean;

/**
 * Compile a match spec. Throws SwitchyardError(SWY_BAD_REQUEST) naming the key when a regex is invalid or could
 * backtrack catastrophically (the config schema reports the same before anything runs). A request without
 * attributes (raw TCP, unsolicited server messages) never matches, `not` included.
 */
export function compileMatch(spec: MatchSpec): Matcher {
  const test = compileSpec(spec, '');
  return (attrs) => attrs !== undefined && test(attrs);
}

function compileSpec(spec: MatchSpec, prefix: string): (attrs: Attributes) => boolean {
  const tests = Object.entries(spec).map(([key, value]): ((attrs: Attributes) => boolean) => {
    if (key === MATCH_NOT && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const inner = compileSpec(value as MatchSpec, `${prefix}${key}.`);
      return (attrs) => !inner(attrs);
    }
    const alternatives = (Array.isArray(value) ? (value as readonly AttributeValue[]) : [value as AttributeValue]).map((v) => compileValue(v, `${prefix}${key}`));
    return (attrs) => {
      const v = attrs[key];
      if (v === undefined) return false;
      return alternatives.some((t) => t(v));
    };
  });
  return (attrs) => tests.every((t) => t(attrs));
}

function compileValue(value: AttributeValue | MatchValue, key: string): (v: AttributeValue) => boolean {
  if (typeof value !== 'string') return (v) => v === value || String(v) === String(value);
  let rx: RegExp | undefined;
  try {
    rx = compileSafeRegex(value);
  } catch (err) {
    throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `match.${key}: ${(err as Error).message}`, { details: { reason: 'invalid_match' } });
  }
  if (rx) {
    const r = rx;
    return (v) => r.test(String(v));
  }
  const lower = value.toLowerCase();
  if (value.includes('*')) {
    const parts = lower.split('*');
    return (v) => globMatch(parts, String(v).toLowerCase());
  }
  return (v) => String(v).toLowerCase() === lower;
}

/**
 * `*` wildcards without a regex: the literal pieces between the stars must appear in order, the first at the start
 * and the last at the end. Greedy leftmost search, linear in the text per piece (a regex `.*a.*a.*` backtracks).
 */
function globMatch(parts: readonly string[], text: string): boolean {
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (text.length < first.length + last.length || !text.startsWith(first) || !text.endsWith(last)) return false;
  let pos = first.length;
  const end = text.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const piece = parts[i]!;
    if (piece === '') continue;
    const at = text.indexOf(piece, pos);
    if (at < 0 || at + piece.length > end) return false;
    pos = at + piece.length;
  }
  return true;
}
