/** The gRPC parts of the config: a `protocol: grpc` listener's options and a route's `grpc` block. */
import { z } from 'zod';
import type { ProtocolRouting } from './catalogs.js';
import { sizeOption } from '../core/units.js';
import type { GrpcRouteConfig } from './types.js';
import { field, invalid, oneOf, strings } from './fields.js';

/** The protocol name of HTTP/2 (gRPC) listeners: served by an HTTP/2 server, not by a codec on TCP. */
export const GRPC_PROTOCOL = 'grpc';

/** Options of `protocol: {type: grpc, ...}`. */
export const grpcListenerOptionsSchema = z.strictObject({
  /** `upstream` (default): `:authority` becomes the endpoint's HOST:PORT; `client`: kept as received; anything else: that value. */
  authority: field('"upstream", "client" or an authority like "api.example.com"', (v) => (typeof v === 'string' && v.length > 0 ? v : invalid('"upstream", "client" or an authority', v))).default('upstream'),
});

const COMPARE_LATER = ['majority', 'unanimous', 'weighted'];

/** A route's `grpc` block. */
export const grpcRouteSchema: z.ZodType<GrpcRouteConfig> = z.strictObject({
  secondaries: strings('a list of cluster ids').default([]),
  secondaryErrors: oneOf(['swallow', 'fail']).default('swallow'),
  compare: z
    .strictObject({
      policy: field('"off" or "report"', (v): 'off' | 'report' => {
        if (v === 'off' || v === 'report') return v;
        if (typeof v === 'string' && COMPARE_LATER.includes(v)) throw new Error(`compare policy "${v}" is not yet supported on gRPC routes (supported: off, report)`);
        return invalid('"off" or "report"', v);
      }).default('off'),
    })
    .prefault({}),
  mutators: field('a regular expression', (v) => {
    if (typeof v !== 'string' || v === '') invalid('a regular expression', v);
    try {
      new RegExp(v);
    } catch (err) {
      throw new Error(`invalid regular expression ${JSON.stringify(v)}: ${(err as Error).message}`, { cause: err });
    }
    return v;
  }).optional(),
  secondaryQueue: sizeOption(1).default(4 * 1024 * 1024),
});

/**
 * How routes of a `protocol: grpc` listener match (docs/grpc.md § routes): per call, on `method` (`/pkg.Service/Method`),
 * `service` (`pkg.Service`) and request metadata (`metadata: {x-tenant: acme}` → attribute `metadata.x-tenant`).
 */
export const GRPC_ROUTING: ProtocolRouting = { perRequest: true, maps: { metadata: 'metadata' } };
