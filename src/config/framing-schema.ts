/**
 * The `framing` key of a listener: a framer name, `{type, ...options}`, or one framer per direction. Options are
 * checked against the framer's own schema from the FramerCatalog. See docs/framing.md for framer options.
 */
import { z } from 'zod';
import type { FramerCatalog } from './catalogs.js';
import type { FramerSpec, FramingConfig } from './types.js';
import { suggestionSuffix } from './did-you-mean.js';
import { type Ctx, addIssue, forwardIssues, isPlainObject } from './fields.js';
import { configErrorMap, describeValue, zodIssuesToConfigIssues } from './issues.js';

const FRAMING_FORMS = 'a framer name like "line", {type: "line", ...options} or {toUpstream: ..., toDownstream: ...}';

/**
 * Plugins' option schemas want real numbers and booleans; a value from `${ENV}` substitution is a string.
 * Where the schema complained that a string should be a number/boolean and the string is exactly one, return a
 * copy with those values converted (else undefined), so "1024" and "true" work everywhere, as in our own fields.
 */
function coerceScalarStrings(options: Record<string, unknown>, issues: readonly z.core.$ZodIssue[]): Record<string, unknown> | undefined {
  let copy: Record<string, unknown> | undefined;
  for (const iss of issues) {
    if (iss.code !== 'invalid_type' || iss.path.length !== 1) continue;
    const key = String(iss.path[0]);
    const v = options[key];
    if (typeof v !== 'string') continue;
    let converted: number | boolean | undefined;
    if ((iss.expected === 'number' || iss.expected === 'int') && /^-?\d+(\.\d+)?$/.test(v.trim())) converted = Number(v);
    else if (iss.expected === 'boolean' && (v === 'true' || v === 'false')) converted = v === 'true';
    if (converted === undefined) continue;
    copy ??= { ...options };
    copy[key] = converted;
  }
  return copy;
}

function parseFramerSpec(v: unknown, framers: FramerCatalog, ctx: Ctx, path: Array<string | number>): FramerSpec | undefined {
  const known = framers.names();
  const knownList = known.length > 0 ? known.join(', ') : '(none registered)';
  let type: unknown;
  let options: Record<string, unknown> = {};
  let typePath = path;
  if (typeof v === 'string') {
    type = v;
  } else if (isPlainObject(v)) {
    const { type: t, ...rest } = v;
    type = t;
    options = rest;
    typePath = [...path, 'type'];
  } else {
    addIssue(ctx, `expected ${FRAMING_FORMS}, got ${describeValue(v)}`, path);
    return undefined;
  }
  if (typeof type !== 'string') {
    const found = type === undefined ? 'missing' : `got ${describeValue(type)}`;
    addIssue(ctx, `${found} (expected a framer name: ${knownList})`, typePath);
    return undefined;
  }
  const plugin = framers.get(type);
  if (!plugin) {
    addIssue(ctx, `unknown framer ${JSON.stringify(type)}${suggestionSuffix(type, known)}; known framers: ${knownList}`, typePath);
    return undefined;
  }
  let r = plugin.optionsSchema.safeParse(options, { error: configErrorMap });
  if (!r.success) {
    const coerced = coerceScalarStrings(options, r.error.issues);
    if (coerced !== undefined) r = plugin.optionsSchema.safeParse(coerced, { error: configErrorMap });
  }
  if (!r.success) {
    // A bare name cannot carry options: say which ones the framer needs.
    if (typeof v === 'string') {
      for (const i of zodIssuesToConfigIssues(r.error.issues)) {
        const where = i.path === '' ? '' : `${i.path}: `;
        addIssue(ctx, `framer "${type}" needs options, write {type: "${type}", ...}: ${where}${i.message}`, path);
      }
    } else {
      forwardIssues(ctx, r.error.issues, path);
    }
    return undefined;
  }
  return { type, options: r.data as Record<string, unknown> };
}

/** The `framing` key of a listener (default: passthrough both ways). See docs/framing.md for framer options. */
export function framingSchema(framers: FramerCatalog): z.ZodType<FramingConfig> {
  const DIRECTIONS = ['toUpstream', 'toDownstream'];
  return z
    .unknown()
    .transform((v, ctx): FramingConfig => {
      if (isPlainObject(v) && !('type' in v)) {
        const extra = Object.keys(v).filter((k) => !DIRECTIONS.includes(k));
        const directional = 'toUpstream' in v || 'toDownstream' in v;
        for (const k of extra) {
          addIssue(ctx, `unknown key${suggestionSuffix(k, [...DIRECTIONS, 'type'])}`, [k], 'unknown_key');
        }
        if (!directional) {
          addIssue(ctx, `missing "type" (expected ${FRAMING_FORMS})`, ['type']);
          return z.NEVER;
        }
        const up = parseFramerSpec(v.toUpstream ?? 'passthrough', framers, ctx, ['toUpstream']);
        const down = parseFramerSpec(v.toDownstream ?? 'passthrough', framers, ctx, ['toDownstream']);
        return up && down && extra.length === 0 ? { toUpstream: up, toDownstream: down } : z.NEVER;
      }
      if (isPlainObject(v)) {
        for (const k of DIRECTIONS) {
          if (k in v) addIssue(ctx, 'use either "type" (the same framer both ways) or "toUpstream"/"toDownstream", not both', [k]);
        }
        if (DIRECTIONS.some((k) => k in v)) return z.NEVER;
      }
      const spec = parseFramerSpec(v, framers, ctx, []);
      if (!spec) return z.NEVER;
      return { toUpstream: spec, toDownstream: { type: spec.type, options: { ...spec.options } } };
    })
    .prefault('passthrough');
}
