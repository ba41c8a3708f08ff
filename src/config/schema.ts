/**
 * The configuration schema (zod v4). `buildConfigSchema(framers, {chaos})` turns user-friendly input (addresses as
 * strings, "5s", "64KiB", `framing: line`, ...) into the normalised types of types.ts, with defaults. Plugins
 * contribute their option schemas through the catalogs passed in (runtime/config.ts passes the built-in ones).
 *
 * Every object is strict (unknown keys are errors, with a did-you-mean). `validateConfig` reports ALL issues,
 * each with a path like `listeners[0].framing.toUpstream.maxLength` and a message saying what was expected and
 * what was found. Keys and defaults are documented in docs/configuration.md: keep the two in step.
 */
import { z } from 'zod';
import type { ChaosCatalogs, FramerCatalog } from './catalogs.js';
import type { ClusterConfig, ListenerConfig, RouteConfig, SwitchyardConfig } from './types.js';
import { addIssue, duration, oneOf, text } from './fields.js';
import { type ConfigValidationResult, configError, validateWith } from './issues.js';
import { adminSchema, toxiproxySchema } from './admin-schema.js';
import { listenerSchema } from './listener-schema.js';
import { clusterSchema } from './cluster-schema.js';
import { routeSchemaWith } from './route-schema.js';
import { replicationSchemas } from './replication-schema.js';
import { crossReferenceIssues } from './cross-references.js';
import { routeShadowWarnings } from './route-checks.js';

export interface ConfigSchemaOptions {
  /** Environment for admin.token's fallback (SWITCHYARD_ADMIN_TOKEN). Default: process.env. */
  env?: Record<string, string | undefined>;
  /** Protocol modules and fault types the `protocol` and `faults` keys may name. */
  chaos: ChaosCatalogs;
}

export const seedSchema = z.number().int().min(0).max(2 ** 32 - 1);

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** The schema of a whole config file; plugins contribute through `framers` and `options.chaos`. */
export function buildConfigSchema(framers: FramerCatalog, options: ConfigSchemaOptions): z.ZodType<SwitchyardConfig> {
  return z
    .strictObject({
      admin: adminSchema(options.env ?? process.env).optional(),
      log: z.strictObject({ level: oneOf(LOG_LEVELS).default('info') }).prefault({}),
      shutdown: z.strictObject({ drainTimeout: duration().default(10_000) }).prefault({}),
      seed: seedSchema.optional(),
      toxiproxy: toxiproxySchema(options.env ?? process.env).optional(),
      plugins: z.strictObject({ faults: z.array(text('a module path')).default(() => []) }).optional(),
      divergences: replicationSchemas().divergences.optional(),
      listeners: z.array(listenerSchema(framers, options.chaos)).default(() => []),
      clusters: z.array(clusterSchema).default(() => []),
      routes: z.array(routeSchemaWith(options.chaos)).default(() => []),
    })
    .superRefine(
      (cfg, ctx) => {
        for (const issue of crossReferenceIssues(cfg, options.chaos.protocols, options.chaos.faults)) addIssue(ctx, issue.message, issue.segments, issue.code);
      },
      { when: () => true },
    );
}

/** Validate a parsed document: `{ok: true, config, warnings?}` with defaults applied, or every issue found. */
export function validateConfig(raw: unknown, framers: FramerCatalog, options: ConfigSchemaOptions): ConfigValidationResult {
  const r = validateWith(buildConfigSchema(framers, options), raw);
  if (!r.ok) return { ok: false, errors: r.errors };
  const warnings = routeShadowWarnings(r.value.routes);
  return warnings.length > 0 ? { ok: true, config: r.value, warnings } : { ok: true, config: r.value };
}

/**
 * Validate one object for the admin API (POST bodies): same validation and defaults as in a config file, minus
 * the checks between objects. Throws SwitchyardError(SWY_CONFIG_INVALID) with `details.issues`.
 */
export function parseObjectConfig(kind: 'listener', body: unknown, framers: FramerCatalog, chaos: ChaosCatalogs): ListenerConfig;
export function parseObjectConfig(kind: 'cluster', body: unknown, framers: FramerCatalog | undefined, chaos: ChaosCatalogs): ClusterConfig;
export function parseObjectConfig(kind: 'route', body: unknown, framers: FramerCatalog | undefined, chaos: ChaosCatalogs): RouteConfig;
export function parseObjectConfig(
  kind: 'listener' | 'cluster' | 'route',
  body: unknown,
  framers: FramerCatalog | undefined,
  chaos: ChaosCatalogs,
): ListenerConfig | ClusterConfig | RouteConfig;
export function parseObjectConfig(
  kind: 'listener' | 'cluster' | 'route',
  body: unknown,
  framers: FramerCatalog | undefined,
  chaos: ChaosCatalogs,
): ListenerConfig | ClusterConfig | RouteConfig {
  let schema: z.ZodType<ListenerConfig | ClusterConfig | RouteConfig>;
  if (kind === 'listener') {
    if (!framers) throw new TypeError('parseObjectConfig: a listener needs the framer registry');
    schema = listenerSchema(framers, chaos);
  } else {
    schema = kind === 'cluster' ? clusterSchema : routeSchemaWith(chaos);
  }
  const r = validateWith(schema, body);
  if (!r.ok) throw configError(r.errors, kind);
  return r.value;
}
