/**
 * Reading configuration files: YAML or JSON → `${ENV}` substitution → schema validation (config-schema.ts).
 *
 * - Format from the extension (.yaml/.yml/.json); anything else is read as YAML (which also reads JSON).
 * - `${NAME}` and `${NAME:-default}` are substituted in string values AFTER parsing, so a variable can never
 *   inject YAML structure; `$${NAME}` is a literal `${NAME}`. An unset variable without a default is an error
 *   naming the path and the variable. `:-` uses the default when the variable is unset or empty.
 * - Syntax errors and validation issues carry line:column. All issues are reported, one per line, in a
 *   SwitchyardError(SWY_CONFIG_INVALID) whose `details.issues` holds them.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import type { FramerRegistry } from '../framing/registry.js';
import type { SwitchyardConfig } from './types.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { dirname } from 'node:path';
import { defaultChaosRegistries, type ChaosRegistries } from './faults.js';
import { loadFaultPlugins } from '../faults/plugin-loader.js';
import {
  type ConfigIssue,
  type ConfigValidationResult,
  configError,
  formatConfigIssue,
  formatPath,
  validateConfig,
} from './schema.js';

export { type ConfigIssue, formatConfigIssue };

export type ConfigFormat = 'yaml' | 'json';

export interface LoadConfigOptions {
  /** Variables for `${NAME}` substitution and the SWITCHYARD_ADMIN_TOKEN fallback. Default: process.env. */
  env?: Record<string, string | undefined>;
  /** Protocol and fault registries (default: the built-in ones; `plugins.faults` modules are loaded into it). */
  chaos?: ChaosRegistries;
}

/** 'json' for .json, 'yaml' for everything else (.yaml, .yml, unknown: YAML reads JSON too). */
export function formatFromPath(path: string): ConfigFormat {
  return extname(path).toLowerCase() === '.json' ? 'json' : 'yaml';
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing with positions

interface ParsedText {
  value: unknown;
  issues: ConfigIssue[];
  /** 1-based line/column of the node at `segments` (or of its nearest existing ancestor). */
  locate(segments: ReadonlyArray<string | number>, preferKey: boolean): { line: number; column: number } | undefined;
}

function syntaxIssue(message: string, pos: { line: number; col: number } | undefined): ConfigIssue {
  return { path: '', segments: [], message, code: 'syntax', ...(pos ? { line: pos.line, column: pos.col } : {}) };
}

function yamlDocument(text: string): { doc: Document; lines: LineCounter } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, merge: true });
  return { doc, lines };
}

function locator(doc: Document, lines: LineCounter): ParsedText['locate'] {
  return (segments, preferKey) => {
    let node: unknown = doc.contents;
    let offset: number | undefined = (doc.contents as { range?: [number, number, number] } | null)?.range?.[0];
    for (let i = 0; i < segments.length; i++) {
      if (isAlias(node)) node = node.resolve(doc);
      const seg = segments[i];
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
        if (!pair) break;
        const keyStart = (pair.key as { range?: [number, number, number] } | null)?.range?.[0];
        const valueStart = (pair.value as { range?: [number, number, number] } | null)?.range?.[0];
        if (i === segments.length - 1 && preferKey && keyStart !== undefined) {
          offset = keyStart;
          break;
        }
        offset = valueStart ?? keyStart ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        const start = (item as { range?: [number, number, number] } | null | undefined)?.range?.[0];
        if (start === undefined) break;
        offset = start;
        node = item;
      } else {
        break;
      }
    }
    if (offset === undefined) return undefined;
    const pos = lines.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
}

function parseYaml(text: string): ParsedText {
  const { doc, lines } = yamlDocument(text);
  const issues = doc.errors.map((e) => syntaxIssue(`YAML syntax error: ${e.message}`, lines.linePos(e.pos[0])));
  let value: unknown = undefined;
  if (issues.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      issues.push(syntaxIssue(`YAML error: ${(err as Error).message}`, undefined));
    }
  }
  return { value, issues, locate: locator(doc, lines) };
}

class JsonSyntax extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

/** Find the first JSON syntax error with its offset (V8's messages do not always carry a position). */
function findJsonError(text: string): JsonSyntax {
  let i = 0;
  const fail = (message: string, at = i): never => {
    throw new JsonSyntax(at >= text.length ? 'unexpected end of input' : message, at);
  };
  const found = (): string => (i >= text.length ? 'end of input' : JSON.stringify(text[i]));
  const ws = (): void => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const literal = (word: string): void => {
    if (!text.startsWith(word, i)) fail(`expected a value, got ${found()}`);
    i += word.length;
  };
  const string = (): void => {
    const start = i;
    i++;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail('invalid escape in string');
      } else if (c < ' ') {
        fail('unescaped control character (a line break?) in string');
      } else {
        i++;
      }
    }
    fail('unterminated string', start);
  };
  const NUMBER = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`expected a property name in double quotes, got ${found()}`);
        string();
        ws();
        if (text[i] !== ':') fail(`expected ":" after the property name, got ${found()}`);
        i++;
        value();
        ws();
        if (text[i] === ',') {
          const comma = i++;
          ws();
          if (text[i] === '}') fail('trailing comma before "}"', comma);
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        fail(`expected "," or "}", got ${found()}`);
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          const comma = i++;
          ws();
          if (text[i] === ']') fail('trailing comma before "]"', comma);
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        fail(`expected "," or "]", got ${found()}`);
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    NUMBER.lastIndex = i;
    if (c !== undefined && NUMBER.test(text)) {
      i = NUMBER.lastIndex;
      return;
    }
    fail(`expected a value, got ${found()}`);
  };
  try {
    value();
    ws();
    if (i < text.length) fail(`unexpected ${found()} after the JSON value`);
  } catch (err) {
    if (err instanceof JsonSyntax) return err;
    throw err;
  }
  return new JsonSyntax('invalid JSON', 0);
}

function parseJson(text: string): ParsedText {
  const { doc, lines } = yamlDocument(text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const err = findJsonError(text);
    return { value: undefined, issues: [syntaxIssue(`JSON syntax error: ${err.message}`, lines.linePos(err.offset))], locate: () => undefined };
  }
  // JSON.parse silently keeps the last of duplicate keys; the YAML reader (JSON is YAML 1.2) notices them.
  const issues = doc.errors
    .filter((e) => e.code === 'DUPLICATE_KEY')
    .map((e) => syntaxIssue(`JSON error: duplicate key (${e.message})`, lines.linePos(e.pos[0])));
  return { value, issues, locate: doc.errors.length === 0 ? locator(doc, lines) : () => undefined };
}

// ---------------------------------------------------------------------------------------------------------------
// ${ENV} substitution

const VARIABLE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([\s\S]*))?$/;

function substituteString(s: string, env: Record<string, string | undefined>, fail: (message: string) => void): string {
  if (!s.includes('$')) return s;
  let out = '';
  let i = 0;
  while (i < s.length) {
    if (s.startsWith('$${', i)) {
      out += '${';
      i += 3;
      continue;
    }
    if (!s.startsWith('${', i)) {
      out += s[i];
      i++;
      continue;
    }
    const close = s.indexOf('}', i + 2);
    if (close < 0) {
      fail(`unterminated "\${" in ${JSON.stringify(s)} (write "$\${" for a literal "\${")`);
      return s;
    }
    const body = s.slice(i + 2, close);
    const m = VARIABLE.exec(body);
    if (!m) {
      fail(`invalid variable reference "\${${body}}": expected \${NAME} or \${NAME:-default} (write "$\${" for a literal "\${")`);
      return s;
    }
    const name = m[1]!;
    const fallback = m[2];
    const set = env[name];
    if (fallback !== undefined && (set === undefined || set === '')) {
      out += fallback;
    } else if (set === undefined) {
      fail(`environment variable ${name} is not set (write \${${name}:-default} to give a default)`);
      return s;
    } else {
      out += set;
    }
    i = close + 1;
  }
  return out;
}

/**
 * Substitute `${NAME}` / `${NAME:-default}` in every string value (not keys) of a parsed document.
 * Returns the new value and an issue per failed string (the string is then left as written).
 */
export function substituteEnv(
  value: unknown,
  env: Record<string, string | undefined> = process.env,
): { value: unknown; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const walk = (v: unknown, segments: Array<string | number>): unknown => {
    if (typeof v === 'string') {
      return substituteString(v, env, (message) => issues.push({ path: formatPath(segments), segments: [...segments], message, code: 'env' }));
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(item, [...segments, i]));
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) out[k] = walk(item, [...segments, k]);
      return out;
    }
    return v;
  };
  return { value: walk(value, []), issues };
}

// ---------------------------------------------------------------------------------------------------------------
// Entry points

/** Parse, substitute and validate config text without throwing; issues carry line:column where known. */
export function validateConfigText(
  text: string,
  format: ConfigFormat,
  registry: FramerRegistry,
  options: LoadConfigOptions = {},
): ConfigValidationResult {
  const env = options.env ?? process.env;
  const parsed = format === 'json' ? parseJson(text) : parseYaml(text);
  if (parsed.issues.length > 0 && parsed.value === undefined) return { ok: false, errors: parsed.issues };
  const substituted = substituteEnv(parsed.value ?? {}, env);
  const result = validateConfig(substituted.value, registry, { env, ...(options.chaos ? { chaos: options.chaos } : {}) });
  const envPaths = new Set(substituted.issues.map((i) => i.path));
  const issues = [
    ...parsed.issues,
    ...substituted.issues,
    // A value whose substitution failed would only repeat the complaint: skip its schema issue.
    ...(result.ok ? [] : result.errors.filter((e) => !envPaths.has(e.path))),
  ];
  if (issues.length === 0 && result.ok) return result;
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
  registry: FramerRegistry,
  source?: string,
  options: LoadConfigOptions = {},
): SwitchyardConfig {
  const result = validateConfigText(text, format, registry, options);
  if (!result.ok) throw configError(result.errors, 'configuration', source);
  return result.config;
}

/** Read and parse a config file (format from the extension). Throws SwitchyardError(SWY_CONFIG_INVALID). */
export async function loadConfigFile(path: string, registry: FramerRegistry, options: LoadConfigOptions = {}): Promise<SwitchyardConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `cannot read config file ${JSON.stringify(path)}: ${(err as Error).message}`, {
      cause: err,
      details: { source: path, issues: [] },
    });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const format = formatFromPath(path);
  // Custom fault plugins must be registered before the faults that use them are validated.
  const pre = format === 'json' ? parseJson(text) : parseYaml(text);
  const plugins = (pre.value as { plugins?: { faults?: unknown } } | undefined)?.plugins?.faults;
  if (Array.isArray(plugins) && plugins.every((p) => typeof p === 'string')) {
    await loadFaultPlugins(plugins as string[], (options.chaos ?? defaultChaosRegistries()).faults, dirname(path));
  }
  return parseConfigText(text, format, registry, path, options);
}
