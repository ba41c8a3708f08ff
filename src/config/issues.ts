/**
 * Configuration issues: the ConfigIssue type, the zod error map giving every parse its "expected ..., got ..."
 * messages, and the conversion of zod issues into ConfigIssues with paths like
 * `listeners[0].framing.toUpstream.maxLength`. Shared by every schema part of this folder and the loader.
 */
import type { z } from 'zod';
import type { SwitchyardConfig } from './types.js';
import { suggestionSuffix } from './did-you-mean.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { describeValue } from './describe-value.js';

/** What kind of problem an issue is; `message` is the human text. `shadowed` is a warning (a route that can never match). */
export type ConfigIssueCode = 'syntax' | 'env' | 'unknown_key' | 'invalid' | 'reference' | 'duplicate' | 'shadowed';

export interface ConfigIssue {
  /** `listeners[0].framing.toUpstream.maxLength`; '' for the document itself (syntax errors, wrong root type). */
  path: string;
  /** The same path as keys and indexes. */
  segments: Array<string | number>;
  /** What was expected and what was found. */
  message: string;
  code: ConfigIssueCode;
  /** 1-based position in the source text, when the loader could locate it. */
  line?: number;
  column?: number;
}

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; errors: ConfigIssue[] };
/** `warnings`: what is valid but probably not meant (shadowed routes); the CLI prints them, the runtime logs them. */
export type ConfigValidationResult = { ok: true; config: SwitchyardConfig; warnings?: ConfigIssue[] } | { ok: false; errors: ConfigIssue[] };

/** `listeners[0].tls.sni["api.example.com"].cert` */
export function formatPath(segments: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of segments) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

export { describeValue } from './describe-value.js';

const EXPECTED_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  record: 'an object',
  null: 'null',
  bigint: 'an integer',
  date: 'a date',
};

function plural(n: number | bigint, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function sizeOf(input: unknown): string {
  if (Array.isArray(input)) return plural(input.length, 'item');
  if (typeof input === 'string') return plural(input.length, 'character');
  return describeValue(input);
}

/**
 * Messages for zod's own issues (used for every parse, including framer plugins' option schemas).
 * Unknown keys produce one line per key, in `keys` order; zodIssuesToConfigIssues splits them again.
 */
export const configErrorMap: z.core.$ZodErrorMap = (iss) => {
  const input: unknown = iss.input;
  switch (iss.code) {
    case 'invalid_type': {
      const expected = EXPECTED_NAMES[iss.expected] ?? iss.expected;
      return input === undefined ? `missing (expected ${expected})` : `expected ${expected}, got ${describeValue(input)}`;
    }
    case 'unrecognized_keys': {
      const def = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def;
      const known = def?.shape ? Object.keys(def.shape) : [];
      return iss.keys.map((k) => `unknown key${suggestionSuffix(k, known)}`).join('\n');
    }
    case 'invalid_value': {
      const values = iss.values.map((v) => (typeof v === 'string' ? JSON.stringify(v) : String(v)));
      const hint = typeof input === 'string' ? suggestionSuffix(input, iss.values.filter((v): v is string => typeof v === 'string')) : '';
      const expected = values.length === 1 ? values[0] : `one of ${values.join(', ')}`;
      return `expected ${expected}, got ${describeValue(input)}${hint}`;
    }
    case 'too_small': {
      const op = iss.inclusive === false ? '>' : '>=';
      if (iss.origin === 'array') return `expected at least ${plural(iss.minimum, 'item')}, got ${sizeOf(input)}`;
      if (iss.origin === 'string') return `expected at least ${plural(iss.minimum, 'character')}, got ${describeValue(input)}`;
      return `expected a number ${op} ${iss.minimum}, got ${describeValue(input)}`;
    }
    case 'too_big': {
      const op = iss.inclusive === false ? '<' : '<=';
      if (iss.origin === 'array') return `expected at most ${plural(iss.maximum, 'item')}, got ${sizeOf(input)}`;
      if (iss.origin === 'string') return `expected at most ${plural(iss.maximum, 'character')}, got ${sizeOf(input)}`;
      return `expected a number ${op} ${iss.maximum}, got ${describeValue(input)}`;
    }
    case 'invalid_format':
      return `expected ${iss.format}${iss.pattern ? ` matching ${iss.pattern}` : ''}, got ${describeValue(input)}`;
    case 'not_multiple_of':
      return `expected a multiple of ${iss.divisor}, got ${describeValue(input)}`;
    case 'invalid_union':
      return `got ${describeValue(input)}, which matches none of the allowed forms`;
    default:
      return undefined;
  }
};

/** zod issues → ConfigIssues (one per unknown key), paths prefixed by `prefix`, duplicates removed. */
export function zodIssuesToConfigIssues(issues: readonly z.core.$ZodIssue[], prefix: ReadonlyArray<string | number> = []): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const seen = new Set<string>();
  const push = (segments: Array<string | number>, message: string, code: ConfigIssueCode): void => {
    const path = formatPath(segments);
    const key = `${path}\0${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ path, segments, message, code });
  };
  for (const iss of issues) {
    const segments = [...prefix, ...iss.path.map((p) => (typeof p === 'number' ? p : String(p)))];
    if (iss.code === 'unrecognized_keys') {
      const lines = iss.message.split('\n');
      iss.keys.forEach((k, i) => push([...segments, k], lines.length === iss.keys.length ? lines[i]! : 'unknown key', 'unknown_key'));
      continue;
    }
    const tagged = iss.code === 'custom' ? (iss.params as { code?: unknown } | undefined)?.code : undefined;
    push(segments, iss.message, typeof tagged === 'string' ? (tagged as ConfigIssueCode) : 'invalid');
  }
  return out;
}

/**
 * One issue per line: `  listeners[0].listen: expected ..., got "8080" (at good.yaml:4:13)`.
 * Issues without a path (syntax errors) read `  good.yaml:4:13: message`.
 */
export function formatConfigIssue(issue: ConfigIssue, source?: string): string {
  const where = issue.line === undefined ? source : `${source ?? 'line'}${source === undefined ? ' ' : ':'}${issue.line}:${issue.column ?? 1}`;
  if (issue.path === '') return where === undefined ? issue.message : `${where}: ${issue.message}`;
  return issue.line === undefined ? `${issue.path}: ${issue.message}` : `${issue.path}: ${issue.message} (at ${where})`;
}

/** The SwitchyardError(SWY_CONFIG_INVALID) for a list of issues: a header, then one issue per line. */
export function configError(issues: ConfigIssue[], what = 'configuration', source?: string): SwitchyardError {
  const header = `invalid ${what}${source === undefined ? '' : ` in ${source}`} (${issues.length} ${issues.length === 1 ? 'issue' : 'issues'}):`;
  const lines = issues.map((i) => `  ${formatConfigIssue(i, source)}`);
  return new SwitchyardError(ErrorCodes.CONFIG_INVALID, [header, ...lines].join('\n'), {
    details: { issues, ...(source === undefined ? {} : { source }) },
  });
}

/** Parse with the config error messages; ok → the normalised value, else every issue. */
export function validateWith<T>(schema: z.ZodType<T>, raw: unknown): ValidationResult<T> {
  const r = schema.safeParse(raw, { error: configErrorMap });
  return r.success ? { ok: true, value: r.data } : { ok: false, errors: zodIssuesToConfigIssues(r.error.issues) };
}
