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
    if (alternatives.length === 1) {
      const only = alternatives[0]!;
      return (attrs) => {
        const v = attrs[key];
        return v !== undefined && only(v);
      };
    }
    return (attrs) => {
      const v = attrs[key];
      if (v === undefined) return false;
      return alternatives.some((t) => t(v));
    };
  });
  if (tests.length === 1) return tests[0]!;
  return (attrs) => tests.every((t) => t(attrs));
}

/**
 * The lower-case form of an attribute value, remembered for the last value asked: a table of routes tests one
 * request's `path` against every route in turn, and lower-cases it once instead of once per route.
 */
let lastValue: string | undefined;
let lastLower = '';
function lowered(v: AttributeValue): string {
  const s = typeof v === 'string' ? v : String(v);
  if (s !== lastValue) {
    lastValue = s;
    lastLower = s.toLowerCase();
  }
  return lastLower;
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
    return (v) => globMatch(parts, lowered(v));
  }
  return (v) => lowered(v) === lower;
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
