/**
 * Reading configuration: YAML or JSON text (document.ts) → `${ENV}` substitution (env-substitution.ts) → schema
 * validation (schema.ts).
 *
 * - Format from the extension (.yaml/.yml/.json); anything else is read as YAML (which also reads JSON).
 * - Syntax errors and validation issues carry line:column. All issues are reported, one per line, in a
 *   SwitchyardError(SWY_CONFIG_INVALID) whose `details.issues` holds them.
 * - Loading a file with its fault plugins is runtime/config.ts's `loadConfigFile`: plugins are run-time code.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { FramerCatalog } from './catalogs.js';
import type { SwitchyardConfig } from './types.js';
import { type ConfigValidationResult, configError } from './issues.js';
import { type ConfigSchemaOptions, validateConfig } from './schema.js';
import { parseJson, parseYaml } from './document.js';
import { substituteEnv } from './env-substitution.js';

export type ConfigFormat = 'yaml' | 'json';

/** 'json' for .json, 'yaml' for everything else (.yaml, .yml, unknown: YAML reads JSON too). */
export function formatFromPath(path: string): ConfigFormat {
  return extname(path).toLowerCase() === '.json' ? 'json' : 'yaml';
}

/** Parse, substitute and validate config text without throwing; issues carry line:column where known. */
export function validateConfigText(
  text: string,
  format: ConfigFormat,
  framers: FramerCatalog,
  options: ConfigSchemaOptions,
): ConfigValidationResult {
  const env = options.env ?? process.env;
  const parsed = format === 'json' ? parseJson(text) : parseYaml(text);
  if (parsed.issues.length > 0 && parsed.value === undefined) return { ok: false, errors: parsed.issues };
  const substituted = substituteEnv(parsed.value ?? {}, env);
  const result = validateConfig(substituted.value, framers, { env, chaos: options.chaos });
  const envPaths = new Set(substituted.issues.map((i) => i.path));
  const issues = [
    ...parsed.issues,
    ...substituted.issues,
    // A value whose substitution failed would only repeat the complaint: skip its schema issue.
    ...(result.ok ? [] : result.errors.filter((e) => !envPaths.has(e.path))),
  ];
  if (issues.length === 0 && result.ok) {
    if (result.warnings === undefined) return result;
    const warnings = result.warnings.map((w) => {
      const pos = parsed.locate(w.segments, false);
      return pos ? { ...w, line: pos.line, column: pos.column } : w;
    });
    return { ...result, warnings };
  }
  const located = issues.map((issue, order) => {
    if (issue.line !== undefined || issue.code === 'syntax') return { issue, order };
    const pos = parsed.locate(issue.segments, issue.code === 'unknown_key');
    return { issue: pos ? { ...issue, line: pos.line, column: pos.column } : issue, order };
  });
  // Document order reads best; issues without a position keep their relative order at the end.
  located.sort((a, b) => {
    const la = a.issue.line ?? Infinity;
    const lb = b.issue.line ?? Infinity;
    if (la !== lb) return la - lb;
    const ca = a.issue.column ?? 0;
    const cb = b.issue.column ?? 0;
    return ca !== cb ? ca - cb : a.order - b.order;
  });
  return { ok: false, errors: located.map((l) => l.issue) };
}

/** Parse config text; throws SwitchyardError(SWY_CONFIG_INVALID) listing every issue, one per line. */
export function parseConfigText(
  text: string,
  format: ConfigFormat,
  framers: FramerCatalog,
  source: string | undefined,
  options: ConfigSchemaOptions,
): SwitchyardConfig {
  const result = validateConfigText(text, format, framers, options);
  if (!result.ok) throw configError(result.errors, 'configuration', source);
  return result.config;
}

/** Read a config file's text (a leading BOM dropped). Throws SwitchyardError(SWY_CONFIG_INVALID) when unreadable. */
export async function readConfigFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `cannot read config file ${JSON.stringify(path)}: ${(err as Error).message}`, {
      cause: err,
      details: { source: path, issues: [] },
    });
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * The module paths of `plugins.faults` as written (before validation: fault plugins must be registered before the
 * faults that use them are validated); undefined when the text declares none or they are not a list of strings.
 */
export function declaredFaultPlugins(text: string, format: ConfigFormat): string[] | undefined {
  const pre = format === 'json' ? parseJson(text) : parseYaml(text);
  const plugins = (pre.value as { plugins?: { faults?: unknown } } | undefined)?.plugins?.faults;
  return Array.isArray(plugins) && plugins.every((p) => typeof p === 'string') ? plugins : undefined;
}
