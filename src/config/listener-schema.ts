/** One listener: the schema of a `listeners:` entry and of the admin API's POST /listeners body. */
import { z } from 'zod';
import { sizeOption } from '../core/units.js';
import type { ChaosCatalogs, FramerCatalog } from './catalogs.js';
import type { ListenerConfig } from './types.js';
import { addIssue, addPluginIssue, address, duration, get, id, int, isPlainObject, oneOf } from './fields.js';
import { allMatchKeys as allKeysOf, matchKeysOf } from './catalogs.js';
import { matchKeyProblems, type FaultInput } from './fault-input.js';
import { framingSchema } from './framing-schema.js';
import { faultListSchema } from './fault-list-schema.js';
import { protocolSchema } from './protocol-schema.js';
import { GRPC_FAULT_MATCH_KEYS, GRPC_PROTOCOL, grpcFaultProblems } from './grpc-schema.js';
import { listenerSocketSchema } from './socket-schema.js';
import { serverTlsSchema } from './tls-schema.js';
import { TRAFFIC_MAX_KEEP, TRAFFIC_MAX_PER_SECOND } from '../core/traffic.js';

const udpSchema = z
  .strictObject({
    flowIdleTimeout: duration(1).default(60_000),
    maxFlows: int(1).default(10_000),
    maxDatagramSize: sizeOption(1, 65_535).default(65_507),
  })
  .prefault({});

/** The least rate a request in progress must arrive at on a protocol listener (`bytesPerSecond: 0` = off). */
const minDataRateSchema = z
  .strictObject({
    bytesPerSecond: int(0).default(0),
    grace: duration(1).default(5_000),
  })
  .prefault({});

/** The listener's traffic tail (`GET /api/v1/listeners/:id/traffic`); defaults are applied by the listener. */
const trafficSchema = z.strictObject({
  enabled: z.boolean().optional(),
  perSecond: int(1, TRAFFIC_MAX_PER_SECOND).optional(),
  keep: int(1, TRAFFIC_MAX_KEEP).optional(),
});

/** One listener (also the body of the admin API's POST /listeners). */
export function listenerSchema(framers: FramerCatalog, chaos: ChaosCatalogs): z.ZodType<ListenerConfig> {
  return z
    .strictObject({
      protocol: protocolSchema(chaos.protocols).optional(),
      faults: faultListSchema(chaos.faults, chaos.protocols).optional(),
      id: id(),
      transport: oneOf(['tcp', 'udp'], { unix: ' (a Unix socket listener is transport "tcp" with listen: unix:/path)' }).default('tcp'),
      listen: address('listen'),
      tls: serverTlsSchema.optional(),
      framing: framingSchema(framers),
      maxConnections: int(0).default(10_000),
      maxConnectionsPerSource: int(0).default(0),
      idleTimeout: duration().default(0),
      requestHeaderTimeout: duration().default(10_000),
      requestTimeout: duration().default(0),
      minDataRate: minDataRateSchema,
      backlog: int(0, 65_535).default(511),
      socket: listenerSocketSchema,
      udp: udpSchema,
      traffic: trafficSchema.optional(),
    })
    .superRefine(
      (l, ctx) => {
        // Runs even when other fields failed (so every issue is reported): the value may be partial.
        listenerMatchKeyIssues(l, chaos, ctx);
        const protocol = get(l, 'protocol');
        if ((protocol === GRPC_PROTOCOL || get(protocol, 'type') === GRPC_PROTOCOL) && Array.isArray(get(l, 'faults'))) grpcListenerFaultIssues(get(l, 'faults') as unknown[], chaos, ctx);
        if (get(protocol, 'type') === GRPC_PROTOCOL && (get(protocol, 'engine') ?? get(get(protocol, 'options'), 'engine')) === 'frames') {
          const why = get(l, 'tls') !== undefined ? 'tls' : get(l, 'faults') !== undefined ? 'faults' : undefined;
          if (why) addIssue(ctx, `engine "frames" serves plain listeners only: this listener has ${why} (use engine "auto" or "http2")`, ['protocol', 'options', 'engine']);
        }
        if (get(l, 'transport') !== 'udp') return;
        if (get(get(l, 'listen'), 'kind') === 'unix') addIssue(ctx, 'a unix socket needs transport "tcp", not "udp"', ['listen']);
        if (get(l, 'tls') !== undefined) addIssue(ctx, 'TLS needs transport "tcp", not "udp"', ['tls']);
        if (get(l, 'protocol') !== undefined) addIssue(ctx, 'a protocol needs transport "tcp", not "udp"', ['protocol']);
        if (get(l, 'faults') !== undefined) addIssue(ctx, 'faults need transport "tcp", not "udp"', ['faults']);
      },
      { when: () => true },
    );
}

/**
 * `match` keys of the listener's faults against its protocol's attribute names (a key another protocol knows is
 * still wrong here: `match: {path: ...}` on a Redis listener never matches). Skipped while `protocol` is invalid.
 */
function listenerMatchKeyIssues(l: unknown, chaos: ChaosCatalogs, ctx: Parameters<typeof addIssue>[0]): void {
  const faults = get(l, 'faults');
  const protocol = get(l, 'protocol');
  if (!Array.isArray(faults) || !(protocol === undefined || (isPlainObject(protocol) && typeof protocol['type'] === 'string'))) return;
  const known = matchKeysOf(chaos.protocols, protocol === undefined ? undefined : (protocol['type'] as string));
  if (!known) return;
  const all = new Set(allKeysOf(chaos.protocols));
  (faults as FaultInput[]).forEach((f, i) => {
    if (!isPlainObject(f.match)) return;
    for (const p of matchKeyProblems(f.match, known.keys, known.text)) {
      // Keys no protocol knows were reported by the fault list already.
      if (all.has(String(p.path[p.path.length - 1]))) addPluginIssue(ctx, p.message, ['faults', i, 'match', ...p.path], 'unknown_key');
    }
  });
}

/** Faults of a grpc listener: per-call or connection faults only (see grpcFaultProblems), match keys of gRPC calls. */
function grpcListenerFaultIssues(faults: unknown[], chaos: ChaosCatalogs, ctx: Parameters<typeof addIssue>[0]): void {
  faults.forEach((f, i) => {
    if (!isPlainObject(f)) return;
    for (const p of grpcFaultProblems(f, chaos.faults)) addIssue(ctx, p.message, ['faults', i, ...p.path]);
    if (!isPlainObject(f['match'])) return;
    const all = new Set(allKeysOf(chaos.protocols));
    const text = `a grpc listener's calls report: ${GRPC_FAULT_MATCH_KEYS.join(', ')}`;
    for (const p of matchKeyProblems(f['match'] as FaultInput['match'] & object, GRPC_FAULT_MATCH_KEYS, text)) {
      if (all.has(String(p.path[p.path.length - 1]))) addPluginIssue(ctx, p.message, ['faults', i, 'match', ...p.path], 'unknown_key');
    }
  });
}
