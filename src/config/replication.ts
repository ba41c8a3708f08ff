/**
 * Config for N-variant execution on routes: `replicate` (incoming: one client → N variants, compare, vote),
 * `merge` (outgoing: N variants → one backend), `mirror` (fire-and-forget shadow, optionally compared), and the
 * top-level `divergences` store. Documented in docs/nvariant.md and docs/configuration.md.
 */
import { z } from 'zod';
import { sizeOption } from '../core/units.js';
import { bool, duration, field, int, invalid, oneOf, text } from './fields.js';
import { POLICIES, type Policy } from '../replication/vote.js';
import { parseAddress } from '../core/address.js';

export interface RegexMaskConfig {
  pattern: string;
  flags?: string | undefined;
  replace?: string | undefined;
}

/** How answers (and merged requests) are normalised before comparison. */
export interface NormaliseConfig {
  /** HTTP: header names ignored on top of the defaults (Date, Server, Keep-Alive, ...). */
  ignoreHeaders: string[];
  /** HTTP: compare headers at all. */
  compareHeaders: boolean;
  /** JSON pointers with glob segments (`*`, `**`) removed before comparing: "/body/**\/requestId". */
  masks: string[];
  /** Regex masks applied to text (bodies, strings, raw frames). */
  regex: RegexMaskConfig[];
}

export interface NoiseConfig {
  /** The route's first N exchanges only teach the noise model: the primary's answer is served and differences are reported, not enforced. */
  warmup: number;
  /** Exchanges an endpoint needs before Diffy's rule may report a noise field as a signal. */
  minSamples: number;
  /** Diffy's relative threshold (%): a field differing between variants is reported only when its rate exceeds the filter pair's noise rate by this much. */
  relative: number;
  /** Diffy's absolute threshold (% of the endpoint's exchanges). */
  absolute: number;
}

export interface ReplicateConfig {
  /** Variants: cluster ids, or endpoint addresses "host:port" (each becomes a one-endpoint cluster). The first is the primary. */
  variants: string[];
  policy: Policy;
  /** ms each variant has to answer a request. */
  timeout: number;
  /** variants[0] and variants[1] are identical copies whose differences are learned as noise (RDDR's filter pair). */
  filterPair: boolean;
  /** ms by which requests to variants[1] are staggered behind variants[0], so the filter pair sees time-dependent fields (millisecond timestamps) differ. */
  filterPairDelay: number;
  /** majority: take an out-voted variant out of the set until restored through the admin API. */
  quarantine: boolean;
  /** Largest answer one variant may give one request (bytes). */
  maxMessageSize: number;
  /** Pipelined requests outstanding per client connection before reading pauses. */
  maxInFlight: number;
  normalise: NormaliseConfig;
  noise: NoiseConfig;
}

export interface MergePostgresConfig {
  /** How variants authenticate to the proxy. */
  auth: { method: 'trust' | 'password' | 'md5' | 'scram-sha-256'; users: Record<string, string> };
  /** How the proxy authenticates to the real server; user/database default to what the variants asked for. */
  backend: { user?: string | undefined; password?: string | undefined; database?: string | undefined };
}

export interface MergeConfig {
  /** One listener per variant (variant i connects to listener i)... */
  listeners: string[];
  /** ...or one listener and one source address per variant (variant i connects from sources[i]). */
  sources: string[];
  /** Variant names for events (default v1..vN). */
  names: string[];
  /** ms the variants have to send their matching request (and to form a connection group). */
  timeout: number;
  maxMessageSize: number;
  normalise: NormaliseConfig;
  postgres?: MergePostgresConfig | undefined;
}

export interface MirrorConfig {
  /** Shadow cluster id. */
  cluster: string;
  /** Share of requests mirrored, 0..1 ("10%" accepted). */
  fraction: number;
  /** Diff the shadow's answers against the primary's and report differences as divergences. */
  compare: boolean;
  /** Most bytes waiting to be written to the shadow per connection; requests beyond it are dropped and counted. */
  queueSize: number;
  /** ms the shadow has to answer (compare only). */
  timeout: number;
  maxMessageSize: number;
  normalise: NormaliseConfig;
}

export interface DivergencesConfig {
  /** Events kept in memory. */
  capacity: number;
  /** Append each event to this JSONL file. */
  file?: string | undefined;
}

const PG_AUTH = ['trust', 'password', 'md5', 'scram-sha-256'] as const;

export interface ReplicationSchemas {
  normalise: z.ZodType<NormaliseConfig>;
  replicate: z.ZodType<ReplicateConfig>;
  merge: z.ZodType<MergeConfig>;
  mirror: z.ZodType<MirrorConfig>;
  divergences: z.ZodType<DivergencesConfig>;
}

let built: ReplicationSchemas | undefined;

/** The schemas, built on first use. */
export function replicationSchemas(): ReplicationSchemas {
  if (built) return built;
  const regexMaskSchema = z.strictObject({
    pattern: field('a regular expression', (v) => {
      if (typeof v !== 'string' || v === '') invalid('a regular expression', v);
      try {
        new RegExp(v as string);
      } catch (err) {
        throw new Error(`invalid regular expression ${JSON.stringify(v)}: ${(err as Error).message}`);
      }
      return v as string;
    }),
    flags: field('regex flags like "gi"', (v) => (typeof v === 'string' && /^[dgimsuy]*$/.test(v) ? v : invalid('regex flags like "gi"', v))).optional(),
    replace: z.string().optional(),
  });

  const pointer = field('a JSON pointer like "/body/id" (segments may be * or **)', (v) => (typeof v === 'string' && v.startsWith('/') ? v : invalid('a JSON pointer like "/body/id" (segments may be * or **)', v)));

  const normaliseSchema: z.ZodType<NormaliseConfig> = z
    .strictObject({
      ignoreHeaders: z.array(text('a header name')).default(() => []),
      compareHeaders: bool().default(true),
      masks: z.array(pointer).default(() => []),
      regex: z.array(regexMaskSchema).default(() => []),
    })
    .prefault({});

  const percent = field('a fraction 0..1 or a percentage like "10%"', (v) => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+(\.\d+)?\s*%\s*$/.test(v) ? Number(v.trim().slice(0, -1)) / 100 : NaN;
    if (!(n >= 0 && n <= 1)) invalid('a fraction 0..1 or a percentage like "10%"', v);
    return n;
  });

  const positive = (expected: string) => field(expected, (v) => (typeof v === 'number' && v >= 0 ? v : invalid(expected, v)));

  const replicateSchema: z.ZodType<ReplicateConfig> = z.strictObject({
    variants: z.array(text('a cluster id or an endpoint "host:port"')).min(2, 'replicate needs at least 2 variants'),
    policy: oneOf(POLICIES, { enforcing: ' (RDDR\'s enforcing mode is "unanimous")', vote: ' (did you mean "majority"?)' }).default('unanimous'),
    timeout: duration(1).default(5_000),
    filterPair: bool().default(false),
    filterPairDelay: duration().default(2),
    quarantine: bool().default(false),
    maxMessageSize: sizeOption(1).default(32 * 1024 * 1024),
    maxInFlight: int(1, 100_000).default(64),
    normalise: normaliseSchema,
    noise: z
      .strictObject({ warmup: int(0).default(0), minSamples: int(1).default(10), relative: positive('a percentage >= 0').default(20), absolute: positive('a percentage >= 0').default(0.03) })
      .prefault({}),
  });


  const mergeSchema: z.ZodType<MergeConfig> = z
    .strictObject({
      listeners: z.array(text('a listener id')).min(1),
      sources: z
        .array(
          field('a source IP address like "127.0.0.2"', (v) => {
            if (typeof v !== 'string') invalid('a source IP address like "127.0.0.2"', v);
            const a = parseAddress(`${(v as string).includes(':') ? `[${v as string}]` : (v as string)}:1`);
            if (a.kind !== 'tcp') invalid('a source IP address', v);
            return a.host;
          }),
        )
        .default(() => []),
      names: z.array(text('a variant name')).default(() => []),
      timeout: duration(1).default(5_000),
      maxMessageSize: sizeOption(1).default(32 * 1024 * 1024),
      normalise: normaliseSchema,
      postgres: z
        .strictObject({
          auth: z.strictObject({ method: oneOf(PG_AUTH).default('trust'), users: z.record(z.string(), z.string()).default(() => ({})) }).prefault({}),
          backend: z.strictObject({ user: text('a user name').optional(), password: z.string().optional(), database: text('a database name').optional() }).prefault({}),
        })
        .optional(),
    })
    .superRefine((m, ctx) => {
      const n = m.sources.length > 0 ? m.sources.length : m.listeners.length;
      if (m.sources.length > 0 && m.listeners.length !== 1) ctx.addIssue({ code: 'custom', path: ['sources'], message: 'with sources, give exactly one listener (variants are told apart by source address)' });
      if (n < 2) ctx.addIssue({ code: 'custom', path: ['listeners'], message: 'merge needs at least 2 variants: one listener per variant, or one listener and one source address per variant' });
      if (m.names.length > 0 && m.names.length !== n) ctx.addIssue({ code: 'custom', path: ['names'], message: `expected ${n} names (one per variant), got ${m.names.length}` });
      if (m.postgres && m.postgres.auth.method !== 'trust' && Object.keys(m.postgres.auth.users).length === 0) {
        ctx.addIssue({ code: 'custom', path: ['postgres', 'auth', 'users'], message: `auth method ${m.postgres.auth.method} needs users: { name: password }` });
      }
    }) as unknown as z.ZodType<MergeConfig>;

  const mirrorSchema: z.ZodType<MirrorConfig> = z.strictObject({
    cluster: text('a cluster id'),
    fraction: percent.default(1),
    compare: bool().default(false),
    queueSize: sizeOption(1).default(4 * 1024 * 1024),
    timeout: duration(1).default(5_000),
    maxMessageSize: sizeOption(1).default(32 * 1024 * 1024),
    normalise: normaliseSchema,
  });

  const divergencesSchema: z.ZodType<DivergencesConfig> = z
    .strictObject({ capacity: int(1, 1_000_000).default(1000), file: text('a file path').optional() });
  built = { normalise: normaliseSchema, replicate: replicateSchema, merge: mergeSchema, mirror: mirrorSchema, divergences: divergencesSchema };
  return built;
}

/** True when a variant reference is an endpoint address rather than a cluster id. */
export function isEndpointRef(ref: string): boolean {
  return ref.includes(':') || ref.includes('/');
}
