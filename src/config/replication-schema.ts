/**
 * The zod schemas of the N-variant route keys (`replicate`, `merge`, `mirror`) and of `divergences`; the types they
 * produce are in replication.ts.
 */
import { z } from 'zod';
import { parseFraction } from './fault-input.js';
import { sizeOption } from '../core/units.js';
import { parseAddress } from '../core/address.js';
import { bool, duration, field, int, invalid, oneOf, text } from './fields.js';
import { POLICIES, type DivergencesConfig, type MergeConfig, type MirrorConfig, type NormaliseConfig, type ReplicateConfig } from './replication.js';

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
        new RegExp(v);
      } catch (err) {
        throw new Error(`invalid regular expression ${JSON.stringify(v)}: ${(err as Error).message}`, { cause: err });
      }
      return v;
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

  // The same grammar as a fault's toxicity (parseFraction): 0..1 or "N%".
  const percent = field('a fraction 0..1 or a percentage like "10%"', (v) => parseFraction(v) ?? invalid('a fraction 0..1 or a percentage like "10%"', v));

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
            const a = parseAddress(`${(v).includes(':') ? `[${v}]` : (v)}:1`);
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
    });

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
