/**
 * Field helpers of the config schema: each accepts the user-friendly forms and says what it expected when it
 * fails. Every schema part of this folder builds on them.
 */
import { z } from 'zod';
import { ADDRESS_FORMS, parseAddress, type Address } from '../core/address.js';
import { DURATION_FORMS, parseDuration } from '../core/units.js';
import { suggestionSuffix } from './did-you-mean.js';
import { type ConfigIssueCode, describeValue } from './issues.js';

// ---------------------------------------------------------------------------------------------------------------
// Field helpers: each accepts the friendly forms and says what it expected when it fails.

export type Ctx = z.core.$RefinementCtx<unknown>;

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function addIssue(ctx: Ctx, message: string, path: Array<string | number> = [], code?: ConfigIssueCode): void {
  ctx.addIssue({ code: 'custom', message, path, ...(code ? { params: { code } } : {}) });
}

/**
 * The issue helper of the protocol and fault parts: it tags the kind under `configCode`, which
 * zodIssuesToConfigIssues does not read, so these issues report code 'invalid' (their messages say "unknown ...").
 */
export function addPluginIssue(ctx: Ctx, message: string, path: Array<string | number> = [], code: 'invalid' | 'unknown_key' = 'invalid'): void {
  ctx.addIssue({ code: 'custom', message, path, params: { configCode: code } });
}

/** Re-raise issues of a nested safeParse in the current context (paths relative to the current value). */
export function forwardIssues(ctx: Ctx, issues: readonly z.core.$ZodIssue[], prefix: Array<string | number> = [], messagePrefix = ''): void {
  for (const iss of issues) {
    const message = messagePrefix === '' ? iss.message : iss.message.split('\n').map((l) => messagePrefix + l).join('\n');
    ctx.addIssue({ ...iss, path: [...prefix, ...iss.path], message });
  }
}

/** A field parsed by hand: `parse` throws an Error whose message is the whole complaint. */
export function field<T>(expected: string, parse: (v: unknown) => T): z.ZodType<T> {
  return z.unknown().transform((v, ctx): T => {
    if (v === undefined) {
      addIssue(ctx, `missing (expected ${expected})`);
      return z.NEVER;
    }
    try {
      return parse(v);
    } catch (err) {
      addIssue(ctx, messageOf(err));
      return z.NEVER;
    }
  });
}

export function invalid(expected: string, v: unknown): never {
  throw new Error(`expected ${expected}, got ${describeValue(v)}`);
}

export function text(expected: string): z.ZodType<string> {
  return field(expected, (v) => (typeof v === 'string' && v.length > 0 ? v : invalid(expected, v)));
}

export function oneOf<const V extends string>(values: readonly V[], hints: Record<string, string> = {}): z.ZodType<V> {
  const expected = `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`;
  return field(expected, (v) => {
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as V;
    const hint = typeof v === 'string' ? (hints[v] ?? suggestionSuffix(v, values)) : '';
    throw new Error(`expected ${expected}, got ${describeValue(v)}${hint}`);
  });
}

/** Integers; digit strings are accepted too (handy with ${ENV} substitution). */
export function int(min: number, max: number = Number.MAX_SAFE_INTEGER): z.ZodType<number> {
  const expected = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer ${min}-${max}`;
  return field(expected, (v) => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
    return Number.isSafeInteger(n) && n >= min && n <= max ? n : invalid(expected, v);
  });
}

/** true/false; the strings "true"/"false" are accepted too. */
export function bool(): z.ZodType<boolean> {
  return field('true or false', (v) => {
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    return invalid('true or false', v);
  });
}

export function duration(minMs = 0): z.ZodType<number> {
  return field(DURATION_FORMS, (v) => {
    if (typeof v !== 'string' && typeof v !== 'number') invalid(DURATION_FORMS, v);
    const ms = parseDuration(v);
    if (ms < minMs) throw new Error(`expected a duration of at least ${minMs}ms, got ${describeValue(v)}`);
    return ms;
  });
}

export function address(role: 'listen' | 'connect'): z.ZodType<Address> {
  return field(ADDRESS_FORMS, (v) => (typeof v === 'string' ? parseAddress(v, { role }) : invalid(ADDRESS_FORMS, v)));
}

/** `v[key]` when v is a plain object (for checks on partial input), else undefined. */
export function get(v: unknown, key: string): unknown {
  return isPlainObject(v) ? v[key] : undefined;
}

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const ID_EXPECTED = 'an id of letters, digits, "_", "." and "-", starting with a letter or digit';

export function id(): z.ZodType<string> {
  return field(ID_EXPECTED, (v) => (typeof v === 'string' && ID_PATTERN.test(v) && v.length <= 128 ? v : invalid(ID_EXPECTED, v)));
}

export function strings(expected: string): z.ZodType<string[]> {
  return z.array(text(expected)).default(() => []);
}

