/**
 * The config entry points with the plugins filled in: config/ validates against catalogs it is given, and this
 * module gives it the built-in protocol and fault registries when a caller passes none, and loads a config file's
 * fault plugins (run-time code) before validating. The CLI, the admin and compatibility APIs and the library use
 * these; the versions taking every catalog explicitly are in config/schema.ts and config/loader.ts.
 */
import type { z } from 'zod';
import { dirname } from 'node:path';
import type { ClusterConfig, ListenerConfig, RouteConfig, SwitchyardConfig } from '../config/types.js';
import { configError, type ConfigIssue, type ConfigValidationResult } from '../config/issues.js';
import * as schema from '../config/schema.js';
import * as loader from '../config/loader.js';
import { listenerSchema as listenerSchemaOf } from '../config/listener-schema.js';
import { routeSchemaWith as routeSchemaOf } from '../config/route-schema.js';
import type { FramerRegistry } from '../framing/registry.js';
import type { ProtocolRegistry } from '../protocols/registry.js';
import { createProtocolRegistry } from '../protocols/builtins.js';
import type { FaultRegistry } from '../faults/registry.js';
import { createFaultRegistry } from '../faults/builtins.js';
import { loadFaultPlugins } from '../faults/plugin-loader.js';

/** The protocol modules and fault types a config may name. */
export interface ChaosRegistries {
  protocols: ProtocolRegistry;
  faults: FaultRegistry;
}

let defaults: ChaosRegistries | undefined;
/** The built-in registries, made once (used when a caller passes none). */
export function defaultChaosRegistries(): ChaosRegistries {
  defaults ??= { protocols: createProtocolRegistry(), faults: createFaultRegistry() };
  return defaults;
}

export interface LoadConfigOptions {
  /** Variables for `${NAME}` substitution and the SWITCHYARD_ADMIN_TOKEN fallback. Default: process.env. */
  env?: Record<string, string | undefined>;
  /** Protocol and fault registries (default: the built-in ones; `plugins.faults` modules are loaded into it). */
  chaos?: ChaosRegistries;
  /** Called with the warnings of a valid config (shadowed routes), each with its line:column when known. */
  onWarnings?: (warnings: ConfigIssue[]) => void;
}

function withChaos(options: LoadConfigOptions): schema.ConfigSchemaOptions {
  return { ...(options.env ? { env: options.env } : {}), chaos: options.chaos ?? defaultChaosRegistries() };
}

/** One listener (also the body of the admin API's POST /listeners). */
export function listenerSchema(registry: FramerRegistry, chaos: ChaosRegistries = defaultChaosRegistries()): z.ZodType<ListenerConfig> {
  return listenerSchemaOf(registry, chaos);
}

/** One route (also the body of the admin API's POST /routes). References are checked by the whole config. */
export function routeSchemaWith(chaos: ChaosRegistries = defaultChaosRegistries()): z.ZodType<RouteConfig> {
  return routeSchemaOf(chaos);
}
export const routeSchema: z.ZodType<RouteConfig> = routeSchemaWith();

/** The schema of a whole config file; plugins contribute through `registry`. */
export function buildConfigSchema(registry: FramerRegistry, options: LoadConfigOptions = {}): z.ZodType<SwitchyardConfig> {
  return schema.buildConfigSchema(registry, withChaos(options));
}

/** Validate a parsed document: `{ok: true, config}` with defaults applied, or every issue found. */
export function validateConfig(raw: unknown, registry: FramerRegistry, options: LoadConfigOptions = {}): ConfigValidationResult {
  return schema.validateConfig(raw, registry, withChaos(options));
}

/**
 * Validate one object for the admin API (POST bodies): same validation and defaults as in a config file, minus
 * the checks between objects. Throws SwitchyardError(SWY_CONFIG_INVALID) with `details.issues`.
 */
export function parseObjectConfig(kind: 'listener', body: unknown, registry: FramerRegistry): ListenerConfig;
export function parseObjectConfig(kind: 'cluster', body: unknown, registry?: FramerRegistry): ClusterConfig;
export function parseObjectConfig(kind: 'route', body: unknown, registry?: FramerRegistry): RouteConfig;
export function parseObjectConfig(
  kind: 'listener' | 'cluster' | 'route',
  body: unknown,
  registry?: FramerRegistry,
): ListenerConfig | ClusterConfig | RouteConfig;
export function parseObjectConfig(
  kind: 'listener' | 'cluster' | 'route',
  body: unknown,
  registry?: FramerRegistry,
): ListenerConfig | ClusterConfig | RouteConfig {
  return schema.parseObjectConfig(kind, body, registry, defaultChaosRegistries());
}

/** Parse, substitute and validate config text without throwing; issues carry line:column where known. */
export function validateConfigText(
  text: string,
  format: loader.ConfigFormat,
  registry: FramerRegistry,
  options: LoadConfigOptions = {},
): ConfigValidationResult {
  return loader.validateConfigText(text, format, registry, withChaos(options));
}

/** Parse config text; throws SwitchyardError(SWY_CONFIG_INVALID) listing every issue, one per line. */
export function parseConfigText(
  text: string,
  format: loader.ConfigFormat,
  registry: FramerRegistry,
  source?: string,
  options: LoadConfigOptions = {},
): SwitchyardConfig {
  return loader.parseConfigText(text, format, registry, source, withChaos(options));
}

/**
 * Read and parse a config file (format from the extension). Custom fault plugins (`plugins.faults`) are loaded
 * into the fault registry first, so the faults that use them validate. Throws SwitchyardError(SWY_CONFIG_INVALID).
 */
export async function loadConfigFile(path: string, registry: FramerRegistry, options: LoadConfigOptions = {}): Promise<SwitchyardConfig> {
  const text = await loader.readConfigFile(path);
  const format = loader.formatFromPath(path);
  const chaos = options.chaos ?? defaultChaosRegistries();
  const plugins = loader.declaredFaultPlugins(text, format);
  if (plugins !== undefined) await loadFaultPlugins(plugins, chaos.faults, dirname(path));
  const result = loader.validateConfigText(text, format, registry, withChaos({ ...options, chaos }));
  if (!result.ok) throw configError(result.errors, 'configuration', path);
  if (result.warnings !== undefined) options.onWarnings?.(result.warnings);
  return result.config;
}
