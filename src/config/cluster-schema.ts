/** One cluster: the schema of a `clusters:` entry and of the admin API's POST /clusters body. */
import { z } from 'zod';
import { ADDRESS_FORMS, parseAddress } from '../core/address.js';
import type { ClusterConfig, EndpointConfig } from './types.js';
import { addIssue, address, duration, forwardIssues, id, int, isPlainObject, messageOf, oneOf } from './fields.js';
import { configErrorMap, describeValue } from './issues.js';
import { socketSchema } from './socket-schema.js';
import { clientTlsSchema } from './tls-schema.js';

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
