/**
 * The whole config through the admin API:
 *   GET /api/v1/config                 the configuration running now (secrets redacted)
 *   PUT /api/v1/config[?dryRun=true]   a whole config file (YAML or JSON): validated, planned, applied as a hot reload
 */
import { ErrorCodes } from '../core/errors.js';
import { formatAddress, type Address } from '../core/address.js';
import { configError } from '../config/issues.js';
import type { BodyTypes } from '../http-kit/access.js';
import type { RequestContext } from '../http-kit/context.js';
import { HttpError } from '../http-kit/http-error.js';
import { validateConfigText } from '../runtime/config.js';
import { applyConfig, currentConfig, rejectConfig } from '../runtime/reload.js';
import type { Switchyard } from '../runtime/switchyard.js';

/** What PUT /api/v1/config admits besides JSON: YAML, or no content type (then sniffed). */
export const CONFIG_BODY_TYPES: BodyTypes = {
  test: /^$|^(application|text)\/(x-)?yaml\s*(;|$)/i,
  expected: 'application/json, application/yaml or text/yaml',
};

const SECRET_KEYS = /^(token|password|passphrase|secret)$/i;

/** A config as a file would write it (addresses as `HOST:PORT` or paths, framers as `{type, ...options}`), secrets replaced by `<redacted>`. */
function presentable(value: unknown, key = ''): unknown {
  if (typeof value === 'string' && (SECRET_KEYS.test(key) || value.includes('PRIVATE KEY'))) return '<redacted>';
  if (Array.isArray(value)) return value.map((v) => presentable(v));
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value)) return value;
  const o = value as Record<string, unknown>;
  if ((o['kind'] === 'tcp' && typeof o['host'] === 'string' && typeof o['port'] === 'number') || (o['kind'] === 'unix' && typeof o['path'] === 'string')) {
    if (Object.keys(o).length === (o['kind'] === 'tcp' ? 3 : 2)) return formatAddress(o as unknown as Address);
  }
  // A framer's or protocol's normalised `{type, options}` is written `{type, ...options}` in a config file.
  const keys = Object.keys(o);
  if (keys.length === 2 && typeof o['type'] === 'string' && isRecord(o['options'])) return presentable({ type: o['type'], ...o['options'] });
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = presentable(v, k);
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function getConfig(yard: Switchyard, ctx: RequestContext): void {
  ctx.send(200, presentable(currentConfig(yard)));
}

/** JSON by content type, else YAML (which reads JSON too): an absent type is sniffed from the first character. */
function formatOf(type: string, text: string): 'json' | 'yaml' {
  if (/json/i.test(type)) return 'json';
  if (type === '') return /^\s*[{[]/.test(text) ? 'json' : 'yaml';
  return 'yaml';
}

function dryRunOf(url: URL): boolean {
  const v = url.searchParams.get('dryRun');
  if (v === null || v === 'false' || v === '0') return false;
  if (v === '' || v === 'true' || v === '1') return true;
  throw new HttpError(400, ErrorCodes.BAD_REQUEST, `dryRun: expected true or false, got ${JSON.stringify(v)}`);
}

export async function putConfig(yard: Switchyard, ctx: RequestContext): Promise<void> {
  const dryRun = dryRunOf(ctx.url);
  const text = await ctx.text();
  if (text.trim() === '') throw new HttpError(400, ErrorCodes.BAD_REQUEST, 'request body is empty; expected a whole config (YAML or JSON)');
  const format = formatOf(ctx.req.headers['content-type'] ?? '', text);
  const source = 'PUT /api/v1/config';
  const result = validateConfigText(text, format, yard.framers, { chaos: { protocols: yard.protocols, faults: yard.faultTypes } });
  if (!result.ok) {
    if (!dryRun) rejectConfig(yard, result.errors, source);
    throw configError(result.errors, 'configuration', 'request body');
  }
  const outcome = await applyConfig(yard, result.config, { dryRun, source });
  if (outcome.result === 'failed') {
    ctx.send(500, { error: { code: ErrorCodes.INTERNAL, message: `reload failed at "${outcome.failedStep ?? '?'}": ${outcome.error ?? ''}` }, ...outcome });
    return;
  }
  ctx.send(200, outcome);
}
