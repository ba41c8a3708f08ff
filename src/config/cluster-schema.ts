/** One cluster: the schema of a `clusters:` entry and of the admin API's POST /clusters body. */
import { z } from 'zod';
import { ADDRESS_FORMS, parseAddress } from '../core/address.js';
import type { ClusterConfig, EndpointConfig, HashKey, HealthCheckConfig } from './types.js';
import { addIssue, address, duration, field, forwardIssues, id, int, invalid, isPlainObject, messageOf, oneOf, text } from './fields.js';
import { suggestionSuffix } from './did-you-mean.js';
import { configErrorMap, describeValue } from './issues.js';
import { socketSchema } from './socket-schema.js';
import { clientTlsSchema } from './tls-schema.js';
import { wampClusterSchema } from './wamp-schema.js';

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

export const BALANCER_NAMES = ['round_robin', 'weighted', 'random', 'least_request', 'least_connections', 'ring_hash', 'maglev'] as const;
export const RETRY_ON = ['connect-failure', 'reset', '503', '5xx'] as const;
export const HEALTH_CHECK_TYPES = ['tcp', 'http', 'redis', 'postgres', 'mysql'] as const;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HASH_KEY_EXPECTED = '"sourceAddress", "key", "user" or "header:NAME"';

/** `sourceAddress`, `key`, `user` or `header:NAME` (NAME lowercased). */
const hashKeySchema: z.ZodType<HashKey> = field(HASH_KEY_EXPECTED, (v): HashKey => {
  if (v === 'sourceAddress' || v === 'key' || v === 'user') return v;
  if (typeof v === 'string' && v.startsWith('header:')) {
    const name = v.slice('header:'.length).trim();
    if (!HEADER_NAME.test(name)) throw new Error(`expected an HTTP header name after "header:", got ${describeValue(v)}`);
    return `header:${name.toLowerCase()}`;
  }
  const hint = typeof v === 'string' ? suggestionSuffix(v, ['sourceAddress', 'key', 'user']) : '';
  return invalid(HASH_KEY_EXPECTED + hint, v);
});

const STATUS_EXPECTED = 'an HTTP status 100-599, a range like "200-399", or a list of these';

function statusRange(v: unknown): [number, number] {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 100 && v <= 599) return [v, v];
  if (typeof v === 'string') {
    const m = /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/.exec(v);
    if (m) {
      const lo = Number(m[1]);
      const hi = Number(m[2] ?? m[1]);
      if (lo >= 100 && hi <= 599 && lo <= hi) return [lo, hi];
    }
  }
  return invalid(STATUS_EXPECTED, v);
}

/** `expectStatus`: 200, "200-399", [200, 204, "300-399"] → inclusive ranges. */
const expectStatusSchema = field(STATUS_EXPECTED, (v): Array<[number, number]> => {
  if (Array.isArray(v)) {
    if (v.length === 0) invalid(STATUS_EXPECTED, v);
    return v.map(statusRange);
  }
  return [statusRange(v)];
});

const checkBase = {
  interval: duration(1).default(5_000),
  timeout: duration(1).default(2_000),
  healthyThreshold: int(1, 1_000).default(2),
  unhealthyThreshold: int(1, 1_000).default(3),
  jitter: duration(0).optional(),
};

const HTTP_METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const checkSchemas = {
  tcp: z.strictObject({ type: z.literal('tcp'), ...checkBase }),
  http: z.strictObject({
    type: z.literal('http'),
    ...checkBase,
    method: field('an HTTP method like "GET"', (v) => (typeof v === 'string' && HTTP_METHOD.test(v) ? v.toUpperCase() : invalid('an HTTP method like "GET"', v))).default('GET'),
    path: field('a path starting with "/"', (v) => (typeof v === 'string' && v.startsWith('/') && !/[\s]/.test(v) ? v : invalid('a path starting with "/" without spaces', v))).default('/'),
    expectStatus: expectStatusSchema.default(() => [[200, 399]] as Array<[number, number]>),
    host: text('a Host header value').optional(),
  }),
  redis: z.strictObject({
    type: z.literal('redis'),
    ...checkBase,
    password: text('a password').optional(),
    username: text('a user name').optional(),
  }),
  postgres: z.strictObject({
    type: z.literal('postgres'),
    ...checkBase,
    user: text('a user name').default('postgres'),
    database: text('a database name').optional(),
    password: text('a password').optional(),
  }),
  mysql: z.strictObject({
    type: z.literal('mysql'),
    ...checkBase,
    user: text('a user name').default('root'),
    password: z.string().optional(),
    database: text('a database name').optional(),
  }),
};

/** `healthCheck: {type: tcp|http|redis|postgres|mysql, ...}`. */
const healthCheckSchema: z.ZodType<HealthCheckConfig> = z.unknown().transform((v, ctx): HealthCheckConfig => {
  if (!isPlainObject(v)) {
    addIssue(ctx, `expected an object like {type: tcp, interval: 5s}, got ${describeValue(v)}`);
    return z.NEVER;
  }
  const type = v['type'];
  if (typeof type !== 'string' || !(HEALTH_CHECK_TYPES as readonly string[]).includes(type)) {
    const expected = `one of ${HEALTH_CHECK_TYPES.map((t) => JSON.stringify(t)).join(', ')}`;
    addIssue(ctx, type === undefined ? `missing (expected ${expected})` : `expected ${expected}, got ${describeValue(type)}${typeof type === 'string' ? suggestionSuffix(type, HEALTH_CHECK_TYPES) : ''}`, ['type']);
    return z.NEVER;
  }
  const r = checkSchemas[type as (typeof HEALTH_CHECK_TYPES)[number]].safeParse(v, { error: configErrorMap });
  if (!r.success) {
    forwardIssues(ctx, r.error.issues);
    return z.NEVER;
  }
  const c = r.data as Record<string, unknown> & { interval: number; jitter?: number | undefined; user?: string; database?: string | undefined };
  // Default jitter: a tenth of the interval.
  const out = { ...c, jitter: c.jitter ?? Math.floor(c.interval / 10) } as Record<string, unknown>;
  if (type === 'postgres') out['database'] = c.database ?? c.user;
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out as unknown as HealthCheckConfig;
});

const outlierSchema = z.strictObject({
  consecutiveFailures: int(1, 1_000).default(5),
  baseEjectionTime: duration(1).default(30_000),
  maxEjectionTime: duration(1).default(300_000),
  maxEjectionPercent: int(0, 100).default(10),
});

/** One cluster (also the body of the admin API's POST /clusters). */
export const clusterSchema: z.ZodType<ClusterConfig> = z
  .strictObject({
    id: id(),
    endpoints: z.array(endpointSchema).min(1),
    balancer: oneOf(BALANCER_NAMES, { ring: ' (did you mean "ring_hash"?)', least_requests: ' (did you mean "least_request"?)' }).default('round_robin'),
    hashKey: hashKeySchema.optional(),
    connectTimeout: duration(1).default(5_000),
    tls: clientTlsSchema.optional(),
    socket: socketSchema,
    healthCheck: healthCheckSchema.optional(),
    outlierDetection: outlierSchema.optional(),
    retries: int(0, 10).default(1),
    retryBackoff: duration(0).default(25),
    retryOn: z.array(oneOf(RETRY_ON)).default(() => ['connect-failure' as const]),
    dnsRefresh: duration(0).default(30_000),
    wamp: wampClusterSchema.optional(),
  })
  .transform((c): ClusterConfig => {
    const out = { ...c } as ClusterConfig & Record<string, unknown>;
    for (const k of ['hashKey', 'tls', 'healthCheck', 'outlierDetection', 'wamp'] as const) if (out[k] === undefined) delete out[k];
    return out;
  });
