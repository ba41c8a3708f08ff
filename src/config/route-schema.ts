/** One route: the schema of a `routes:` entry and of the admin API's POST /routes body. */
import { z } from 'zod';
import type { ChaosCatalogs } from './catalogs.js';
import type { RouteConfig, RouteDirectResponse, RouteRedirect, RouteRewrite } from './types.js';
import { addIssue, bool, id, int, isPlainObject, text } from './fields.js';
import type { MatchSpec } from './fault-input.js';
import { routeMatchShapeProblems } from './route-match.js';
import { faultListSchema } from './fault-list-schema.js';
import { replicationSchemas } from './replication-schema.js';
import { grpcRouteSchema } from './grpc-schema.js';

/** A route's `match` (config/route-match.ts): fault match forms plus `headers`/`query` maps and CIDR blocks. */
export const routeMatchSchema: z.ZodType<MatchSpec> = z.unknown().transform((v, ctx): MatchSpec => {
  const problems = routeMatchShapeProblems(v);
  for (const p of problems) addIssue(ctx, p.message, p.path);
  return problems.length === 0 ? (v as MatchSpec) : z.NEVER;
});

const REDIRECT_STATUSES = [301, 302, 303, 307, 308] as const;

const rewriteSchema: z.ZodType<RouteRewrite> = z
  .strictObject({
    host: text('a host name (the Host header sent upstream)').optional(),
    pathPrefix: z.string().regex(/^\//, 'expected a path prefix starting with "/"').optional(),
  })
  .superRefine((r, ctx) => {
    if (r.host === undefined && r.pathPrefix === undefined) addIssue(ctx, 'expected host and/or pathPrefix (an empty rewrite does nothing)');
  })
  .transform((r): RouteRewrite => ({ ...(r.host !== undefined ? { host: r.host } : {}), ...(r.pathPrefix !== undefined ? { pathPrefix: r.pathPrefix } : {}) }));

const redirectSchema: z.ZodType<RouteRedirect> = z
  .strictObject({
    status: z
      .unknown()
      .optional()
      .transform((v, ctx): RouteRedirect['status'] => {
        if (v === undefined) return 302;
        if ((REDIRECT_STATUSES as readonly unknown[]).includes(v)) return v as RouteRedirect['status'];
        addIssue(ctx, `expected one of ${REDIRECT_STATUSES.join(', ')}, got ${JSON.stringify(v)}`);
        return z.NEVER;
      }),
    location: text('a URL or path for the Location header'),
  })
  .transform((r): RouteRedirect => ({ status: r.status, location: r.location }));

const directResponseSchema: z.ZodType<RouteDirectResponse> = z
  .strictObject({
    status: int(200, 599),
    body: z.string().default(''),
    headers: z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected an HTTP header name'), z.string()).optional(),
  })
  .transform((r): RouteDirectResponse => ({ status: r.status, body: r.body, ...(r.headers !== undefined ? { headers: r.headers } : {}) }));

/** One route (also the body of the admin API's POST /routes). References are checked by the whole config. */
export function routeSchemaWith(chaos: ChaosCatalogs): z.ZodType<RouteConfig> {
  const rs = replicationSchemas();
  return z
    .strictObject({
      id: id(),
      listener: text('a listener id').optional(),
      cluster: text('a cluster id').optional(),
      faults: faultListSchema(chaos.faults, chaos.protocols).optional(),
      replicate: rs.replicate.optional(),
      merge: rs.merge.optional(),
      mirror: rs.mirror.optional(),
      match: routeMatchSchema.optional(),
      default: bool().optional(),
      rewrite: rewriteSchema.optional(),
      redirect: redirectSchema.optional(),
      directResponse: directResponseSchema.optional(),
      grpc: grpcRouteSchema.optional(),
    })
    .superRefine(
      (raw, ctx) => {
        // Runs even when other fields failed (so every issue is reported in one pass): the value may be partial.
        if (!isPlainObject(raw)) return;
        const r = raw as Partial<typeof raw>;
        const need = (key: 'listener' | 'cluster', why: string): void => addIssue(ctx, `missing (expected a ${key} id${why})`, [key]);
        const forbid = (key: string, why: string): void => addIssue(ctx, `not allowed ${why}`, [key]);
        if (r.grpc) {
          if (r.cluster === undefined) need('cluster', ': the primary of a grpc route');
          for (const k of ['replicate', 'merge', 'mirror'] as const) if (r[k]) forbid(k, 'together with grpc');
        }
        // Exactly one action: cluster, replicate, merge (which also names a cluster), redirect or directResponse.
        const answers = (['redirect', 'directResponse'] as const).filter((k) => r[k] !== undefined);
        if (answers.length > 0) {
          const others = (['cluster', 'replicate', 'merge', 'mirror', 'rewrite', ...answers.slice(1)] as const).filter((k) => r[k] !== undefined);
          for (const k of others) forbid(k, `together with ${answers[0]} (a route has exactly one action: cluster, replicate, merge, redirect or directResponse)`);
          if (r.listener === undefined && !r.merge) need('listener', '');
          return;
        }
        if (r.merge && r.match !== undefined) forbid('match', 'on a merge route (it takes every connection of its listeners)');
        if (r.rewrite !== undefined && (r.replicate || r.merge)) forbid('rewrite', `on a ${r.replicate ? 'replicate' : 'merge'} route (rewrite changes what goes to a cluster)`);
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
          } else if (r.cluster === undefined) need('cluster', ' (or replicate: { variants: [...] }, redirect or directResponse)');
        }
      },
      { when: () => true },
    )
    .transform((r): RouteConfig => {
      const out: RouteConfig = { id: r.id, listener: r.listener ?? r.merge?.listeners[0] ?? '' };
      if (r.cluster !== undefined) out.cluster = r.cluster;
      if (r.faults !== undefined) out.faults = r.faults;
      if (r.replicate) out.replicate = r.replicate;
      if (r.merge) out.merge = r.merge;
      if (r.mirror) out.mirror = r.mirror;
      if (r.match !== undefined) out.match = r.match;
      if (r.default !== undefined) out.default = r.default;
      if (r.rewrite !== undefined) out.rewrite = r.rewrite;
      if (r.redirect !== undefined) out.redirect = r.redirect;
      if (r.directResponse !== undefined) out.directResponse = r.directResponse;
      if (r.grpc) out.grpc = r.grpc;
      return out;
    });
}
