/** One route: the schema of a `routes:` entry and of the admin API's POST /routes body. */
import { z } from 'zod';
import type { ChaosCatalogs } from './catalogs.js';
import type { RouteConfig } from './types.js';
import { addIssue, id, isPlainObject, text } from './fields.js';
import { faultListSchema } from './fault-list-schema.js';
import { replicationSchemas } from './replication-schema.js';
import { grpcRouteSchema } from './grpc-schema.js';

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
      if (r.grpc) out.grpc = r.grpc;
      return out;
    });
}
