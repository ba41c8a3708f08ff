/**
 * The configuration schema (zod v4). `buildConfigSchema(registry)` turns user-friendly input (addresses as
 * strings, "5s", "64KiB", `framing: line`, ...) into the normalised types of config-types.ts, with defaults.
 * Framer plugins contribute their option schemas through the FramerRegistry passed in.
 *
 * Every object is strict (unknown keys are errors, with a did-you-mean). `validateConfig` reports ALL issues,
 * each with a path like `listeners[0].framing.toUpstream.maxLength` and a message saying what was expected and
 * what was found. Keys and defaults are documented in docs/configuration.md: keep the two in step.
 */
import { z } from 'zod';
import type { FramerRegistry } from '../framing/registry.js';
import type {
  AdminConfig,
  Address,
  ClientTlsConfig,
  ClusterConfig,
  EndpointConfig,
  FramerSpec,
  FramingConfig,
  ListenerConfig,
  RouteConfig,
  SwitchyardConfig,
} from './types.js';
import { ADDRESS_FORMS, parseAddress } from '../core/address.js';
import { DURATION_FORMS, parseDuration, sizeOption } from '../core/units.js';
import { suggestionSuffix } from './did-you-mean.js';
import { replicationSchemas } from './replication.js';
import { type Ctx, addIssue, address, bool, duration, field, forwardIssues, id, int, invalid, isPlainObject, messageOf, oneOf, strings, text } from './fields.js';
export { ID_PATTERN, address, bool, duration, field, id, int, invalid, isPlainObject, oneOf, strings, text } from './fields.js';
import { defaultChaosRegistries, faultListSchema, protocolSchema, seedSchema, type ChaosRegistries } from './faults.js';
import {
  type ConfigIssue,
  type ConfigIssueCode,
  type ConfigValidationResult,
  configError,
  configErrorMap,
  describeValue,
  formatPath,
  validateWith,
  zodIssuesToConfigIssues,
} from './issues.js';

// The issue types and formatting live in config-issues.ts; re-exported so existing importers keep working.
export {
  type ConfigIssue,
  type ConfigIssueCode,
  type ConfigValidationResult,
  type ValidationResult,
  configError,
  configErrorMap,
  describeValue,
  formatConfigIssue,
  formatPath,
  validateWith,
  zodIssuesToConfigIssues,
} from './issues.js';

const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

// ---------------------------------------------------------------------------------------------------------------
// Shared blocks

const socketSchema = z
  .strictObject({
    noDelay: bool().default(true),
    keepAlive: duration().default(0),
  })
  .prefault({});

const udpSchema = z
  .strictObject({
    flowIdleTimeout: duration(1).default(60_000),
    maxFlows: int(1).default(10_000),
    maxDatagramSize: sizeOption(1, 65_535).default(65_507),
  })
  .prefault({});

const serverTlsSchema = z.strictObject({
  cert: text('a PEM certificate file path'),
  key: text('a PEM private key file path'),
  sni: z
    .record(z.string(), z.strictObject({ cert: text('a PEM certificate file path'), key: text('a PEM private key file path') }))
    .default(() => ({})),
  ca: text('a PEM CA bundle file path').optional(),
  requestClientCert: bool().default(false),
  rejectUnauthorized: bool().default(true),
  minVersion: oneOf(TLS_VERSIONS).optional(),
  alpn: strings('a protocol name like "h2"'),
});

const clientTlsObject = z
  .strictObject({
    ca: text('a PEM CA bundle file path').optional(),
    servername: text('a server name').optional(),
    rejectUnauthorized: bool().default(true),
    cert: text('a PEM certificate file path').optional(),
    key: text('a PEM private key file path').optional(),
    minVersion: oneOf(TLS_VERSIONS).optional(),
    alpn: strings('a protocol name like "h2"'),
  })
  .superRefine((t, ctx) => {
    if (t.cert !== undefined && t.key === undefined) addIssue(ctx, 'missing (a client certificate needs its key)', ['key']);
    if (t.key !== undefined && t.cert === undefined) addIssue(ctx, 'missing (a client key needs its certificate)', ['cert']);
  });

/** `tls: true` = verify with defaults, `tls: false` = plain, or an object of options. */
const clientTlsSchema: z.ZodType<ClientTlsConfig | undefined> = z.unknown().transform((v, ctx): ClientTlsConfig | undefined => {
  if (v === undefined || v === false) return undefined;
  const r = clientTlsObject.safeParse(v === true ? {} : v, { error: configErrorMap });
  if (r.success) return r.data;
  if (!isPlainObject(v)) {
    addIssue(ctx, `expected true, false or an object of TLS options, got ${describeValue(v)}`);
    return z.NEVER;
  }
  forwardIssues(ctx, r.error.issues);
  return z.NEVER;
});

// ---------------------------------------------------------------------------------------------------------------
// Framing

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

function parseFramerSpec(v: unknown, registry: FramerRegistry, ctx: Ctx, path: Array<string | number>): FramerSpec | undefined {
  const known = registry.names();
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
  const plugin = registry.get(type);
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
export function framingSchema(registry: FramerRegistry): z.ZodType<FramingConfig> {
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
        const up = parseFramerSpec(v.toUpstream ?? 'passthrough', registry, ctx, ['toUpstream']);
        const down = parseFramerSpec(v.toDownstream ?? 'passthrough', registry, ctx, ['toDownstream']);
        return up && down && extra.length === 0 ? { toUpstream: up, toDownstream: down } : z.NEVER;
      }
      if (isPlainObject(v)) {
        for (const k of DIRECTIONS) {
          if (k in v) addIssue(ctx, 'use either "type" (the same framer both ways) or "toUpstream"/"toDownstream", not both', [k]);
        }
        if (DIRECTIONS.some((k) => k in v)) return z.NEVER;
      }
      const spec = parseFramerSpec(v, registry, ctx, []);
      if (!spec) return z.NEVER;
      return { toUpstream: spec, toDownstream: { type: spec.type, options: { ...spec.options } } };
    })
    .prefault('passthrough');
}

// ---------------------------------------------------------------------------------------------------------------
// Listeners, clusters, routes, admin

export function get(v: unknown, key: string): unknown {
  return isPlainObject(v) ? v[key] : undefined;
}

/** One listener (also the body of the admin API's POST /listeners). */
export function listenerSchema(registry: FramerRegistry, chaos: ChaosRegistries = defaultChaosRegistries()): z.ZodType<ListenerConfig> {
  return z
    .strictObject({
      protocol: protocolSchema(chaos.protocols).optional(),
      faults: faultListSchema(chaos.faults).optional(),
      id: id(),
      transport: oneOf(['tcp', 'udp'], { unix: ' (a Unix socket listener is transport "tcp" with listen: unix:/path)' }).default('tcp'),
      listen: address('listen'),
      tls: serverTlsSchema.optional(),
      framing: framingSchema(registry),
      maxConnections: int(0).default(10_000),
      idleTimeout: duration().default(0),
      backlog: int(0, 65_535).default(511),
      socket: socketSchema,
      udp: udpSchema,
    })
    .superRefine(
      (l, ctx) => {
        // Runs even when other fields failed (so every issue is reported): the value may be partial.
        if (get(l, 'transport') !== 'udp') return;
        if (get(get(l, 'listen'), 'kind') === 'unix') addIssue(ctx, 'a unix socket needs transport "tcp", not "udp"', ['listen']);
        if (get(l, 'tls') !== undefined) addIssue(ctx, 'TLS needs transport "tcp", not "udp"', ['tls']);
        if (get(l, 'protocol') !== undefined) addIssue(ctx, 'a protocol needs transport "tcp", not "udp"', ['protocol']);
        if (get(l, 'faults') !== undefined) addIssue(ctx, 'faults need transport "tcp", not "udp"', ['faults']);
      },
      { when: () => true },
    );
}

const endpointObject = z.strictObject({
  address: address('connect'),
  weight: int(1, 10_000).default(1),
});

/** An endpoint: `"10.0.0.1:6379"` or `{address: "10.0.0.1:6379", weight: 2}`. */
const endpointSchema: z.ZodType<EndpointConfig> = z.unknown().transform((v, ctx): EndpointConfig => {
  if (typeof v === 'string') {
    try {
      return { address: parseAddress(v, { role: 'connect' }), weight: 1 };
    } catch (err) {
      addIssue(ctx, messageOf(err));
      return z.NEVER;
    }
  }
  if (!isPlainObject(v)) {
    addIssue(ctx, `expected an address (${ADDRESS_FORMS}) or {address, weight}, got ${describeValue(v)}`);
    return z.NEVER;
  }
  const r = endpointObject.safeParse(v, { error: configErrorMap });
  if (r.success) return r.data;
  forwardIssues(ctx, r.error.issues);
  return z.NEVER;
});

/** One cluster (also the body of the admin API's POST /clusters). */
export const clusterSchema: z.ZodType<ClusterConfig> = z.strictObject({
  id: id(),
  endpoints: z.array(endpointSchema).min(1),
  balancer: oneOf(['round_robin', 'random', 'least_connections']).default('round_robin'),
  connectTimeout: duration(1).default(5_000),
  tls: clientTlsSchema.optional(),
  socket: socketSchema,
});

/** One route (also the body of the admin API's POST /routes). References are checked by the whole config. */
export function routeSchemaWith(chaos: ChaosRegistries = defaultChaosRegistries()): z.ZodType<RouteConfig> {
  const rs = replicationSchemas();
  return z
    .strictObject({
      id: id(),
      listener: text('a listener id').optional(),
      cluster: text('a cluster id').optional(),
      faults: faultListSchema(chaos.faults).optional(),
      replicate: rs.replicate.optional(),
      merge: rs.merge.optional(),
      mirror: rs.mirror.optional(),
    })
    .transform((r, ctx): RouteConfig => {
      const need = (key: 'listener' | 'cluster', why: string): void => addIssue(ctx, `missing (expected a ${key} id${why})`, [key]);
      const forbid = (key: string, why: string): void => addIssue(ctx, `not allowed ${why}`, [key]);
      if (r.merge) {
        if (r.listener !== undefined) forbid('listener', 'on a merge route (its listeners are merge.listeners)');
        if (r.cluster === undefined) need('cluster', ': the backend the variants share');
        if (r.replicate) forbid('replicate', 'together with merge');
        if (r.mirror) forbid('mirror', 'together with merge');
      } else {
        if (r.listener === undefined) need('listener', '');
        if (r.replicate) {
          if (r.cluster !== undefined) forbid('cluster', 'on a replicate route (its destinations are replicate.variants)');
          if (r.mirror) forbid('mirror', 'together with replicate');
        } else if (r.cluster === undefined) need('cluster', ' (or replicate: { variants: [...] })');
      }
      const out: RouteConfig = { id: r.id, listener: r.listener ?? r.merge?.listeners[0] ?? '' };
      if (r.cluster !== undefined) out.cluster = r.cluster;
      if (r.faults !== undefined) out.faults = r.faults;
      if (r.replicate) out.replicate = r.replicate;
      if (r.merge) out.merge = r.merge;
      if (r.mirror) out.mirror = r.mirror;
      return out;
    }) as unknown as z.ZodType<RouteConfig>;
}
export const routeSchema: z.ZodType<RouteConfig> = routeSchemaWith();

export const ADMIN_DEFAULT_LISTEN = '127.0.0.1:9901';

export function adminSchema(env: Record<string, string | undefined> = process.env): z.ZodType<AdminConfig> {
  return z
    .strictObject({
      listen: address('listen').default(() => parseAddress(ADMIN_DEFAULT_LISTEN)),
      token: text('a token (omit the key for no token)').optional(),
    })
    .transform((a): AdminConfig => {
      const fromEnv = env.SWITCHYARD_ADMIN_TOKEN;
      const token = a.token ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined);
      return token === undefined ? { listen: a.listen } : { listen: a.listen, token };
    });
}

// ---------------------------------------------------------------------------------------------------------------
// The whole document

export interface ConfigSchemaOptions {
  /** Environment for admin.token's fallback (SWITCHYARD_ADMIN_TOKEN). Default: process.env. */
  env?: Record<string, string | undefined>;
  /** Protocol and fault registries (default: the built-in ones). */
  chaos?: ChaosRegistries;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** The schema of a whole config file; plugins contribute through `registry`. */
export function buildConfigSchema(registry: FramerRegistry, options: ConfigSchemaOptions = {}): z.ZodType<SwitchyardConfig> {
  return z
    .strictObject({
      admin: adminSchema(options.env ?? process.env).optional(),
      log: z.strictObject({ level: oneOf(LOG_LEVELS).default('info') }).prefault({}),
      shutdown: z.strictObject({ drainTimeout: duration().default(10_000) }).prefault({}),
      seed: seedSchema.optional(),
      toxiproxy: z.strictObject({ listen: address('listen').default(() => parseAddress('127.0.0.1:8474')) }).optional(),
      plugins: z.strictObject({ faults: z.array(text('a module path')).default(() => []) }).optional(),
      divergences: replicationSchemas().divergences.optional(),
      listeners: z.array(listenerSchema(registry, options.chaos)).default(() => []),
      clusters: z.array(clusterSchema).default(() => []),
      routes: z.array(routeSchemaWith(options.chaos)).default(() => []),
    })
    .superRefine(
      (cfg, ctx) => {
        for (const issue of crossReferenceIssues(cfg)) addIssue(ctx, issue.message, issue.segments, issue.code);
      },
      { when: () => true },
    );
}

/**
 * Checks between objects: unique ids per kind, routes naming existing listeners and clusters, one route per
 * listener, and UDP listeners only routed to plain (non-TLS, non-unix) clusters. Defensive: works on partial
 * or raw input, skipping whatever is not yet well-formed.
 */
export function crossReferenceIssues(cfg: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const push = (segments: Array<string | number>, message: string, code: ConfigIssueCode): void => {
    issues.push({ path: formatPath(segments), segments, message, code });
  };
  const list = (key: string): unknown[] => {
    const v = get(cfg, key);
    return Array.isArray(v) ? v : [];
  };
  const index = (kind: 'listeners' | 'clusters' | 'routes', noun: string): Map<string, number> => {
    const ids = new Map<string, number>();
    list(kind).forEach((item, i) => {
      const itemId = get(item, 'id');
      if (typeof itemId !== 'string') return;
      const first = ids.get(itemId);
      if (first === undefined) ids.set(itemId, i);
      else push([kind, i, 'id'], `duplicate ${noun} id ${JSON.stringify(itemId)} (also ${kind}[${first}])`, 'duplicate');
    });
    return ids;
  };
  const listeners = index('listeners', 'listener');
  const clusters = index('clusters', 'cluster');
  index('routes', 'route');

  const unknownRef = (noun: string, ref: string, ids: Map<string, number>): string => {
    const known = [...ids.keys()];
    const tail = known.length === 0 ? `no ${noun}s are defined` : `known: ${known.join(', ')}`;
    return `no ${noun} with id ${JSON.stringify(ref)}${suggestionSuffix(ref, known)}; ${tail}`;
  };

  const routeOf = new Map<string, number>();
  list('routes').forEach((route, i) => {
    const replicate = get(route, 'replicate');
    const variants = get(replicate, 'variants');
    if (Array.isArray(variants)) {
      variants.forEach((v, j) => {
        if (typeof v === 'string' && !v.includes(':') && !v.includes('/') && !clusters.has(v)) {
          push(['routes', i, 'replicate', 'variants', j], `${unknownRef('cluster', v, clusters)} (a variant is a cluster id or an endpoint "host:port")`, 'reference');
        }
      });
    }
    const mirrorRef = get(get(route, 'mirror'), 'cluster');
    if (typeof mirrorRef === 'string' && !clusters.has(mirrorRef)) push(['routes', i, 'mirror', 'cluster'], unknownRef('cluster', mirrorRef, clusters), 'reference');
    const mergeListeners = get(get(route, 'merge'), 'listeners');
    if (Array.isArray(mergeListeners)) {
      mergeListeners.forEach((l, j) => {
        if (typeof l !== 'string') return;
        if (!listeners.has(l)) push(['routes', i, 'merge', 'listeners', j], unknownRef('listener', l, listeners), 'reference');
        const earlier = routeOf.get(l);
        if (earlier !== undefined) push(['routes', i, 'merge', 'listeners', j], `listener ${JSON.stringify(l)} already has a route (routes[${earlier}]); one route per listener is supported for now`, 'duplicate');
        else routeOf.set(l, i);
      });
    }
    // Merge routes take their listeners from merge.listeners (checked above).
    const listenerRef = Array.isArray(mergeListeners) ? undefined : get(route, 'listener');
    const clusterRef = get(route, 'cluster');
    const li = typeof listenerRef === 'string' ? listeners.get(listenerRef) : undefined;
    const ci = typeof clusterRef === 'string' ? clusters.get(clusterRef) : undefined;
    if (typeof listenerRef === 'string') {
      if (li === undefined) push(['routes', i, 'listener'], unknownRef('listener', listenerRef, listeners), 'reference');
      const earlier = routeOf.get(listenerRef);
      if (earlier !== undefined) {
        push(['routes', i, 'listener'], `listener ${JSON.stringify(listenerRef)} already has a route (routes[${earlier}]); one route per listener is supported for now`, 'duplicate');
      } else {
        routeOf.set(listenerRef, i);
      }
    }
    if (typeof clusterRef === 'string' && ci === undefined) {
      push(['routes', i, 'cluster'], unknownRef('cluster', clusterRef, clusters), 'reference');
    }
    if (li === undefined || ci === undefined) return;
    const listener = list('listeners')[li];
    const cluster = list('clusters')[ci];
    if (get(listener, 'transport') !== 'udp') return;
    const endpoints = get(cluster, 'endpoints');
    const unixAt = Array.isArray(endpoints) ? endpoints.findIndex((e) => get(get(e, 'address'), 'kind') === 'unix') : -1;
    if (unixAt >= 0) {
      push(['routes', i, 'cluster'], `udp listener ${JSON.stringify(listenerRef)} cannot send to unix socket clusters[${ci}].endpoints[${unixAt}]`, 'reference');
    }
    if (get(cluster, 'tls') !== undefined) {
      push(['routes', i, 'cluster'], `udp listener ${JSON.stringify(listenerRef)} cannot use TLS cluster ${JSON.stringify(clusterRef)}`, 'reference');
    }
  });
  return issues;
}

/** Validate a parsed document: `{ok: true, config}` with defaults applied, or every issue found. */
export function validateConfig(raw: unknown, registry: FramerRegistry, options: ConfigSchemaOptions = {}): ConfigValidationResult {
  const r = validateWith(buildConfigSchema(registry, options), raw);
  return r.ok ? { ok: true, config: r.value } : { ok: false, errors: r.errors };
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
  let schema: z.ZodType<ListenerConfig | ClusterConfig | RouteConfig>;
  if (kind === 'listener') {
    if (!registry) throw new TypeError('parseObjectConfig: a listener needs the framer registry');
    schema = listenerSchema(registry);
  } else {
    schema = kind === 'cluster' ? clusterSchema : routeSchema;
  }
  const r = validateWith(schema, body);
  if (!r.ok) throw configError(r.errors, kind);
  return r.value;
}
