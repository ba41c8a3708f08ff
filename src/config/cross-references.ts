import { allMatchKeys, matchKeysOf, type FaultCatalog, type ProtocolCatalog } from './catalogs.js';
import { GRPC_FAULT_MATCH_KEYS, framesRouteProblem, grpcFaultProblems } from './grpc-schema.js';
import { suggestionSuffix } from './did-you-mean.js';
import { matchKeyProblems, type FaultInput } from './fault-input.js';
import { groupShareProblems } from './fault-list-schema.js';
import { get, isPlainObject } from './fields.js';
import { type ConfigIssue, type ConfigIssueCode, formatPath } from './issues.js';
import { routeTableIssues } from './route-checks.js';

/**
 * Checks between objects: unique ids per kind, routes naming existing listeners and clusters, each listener's
 * route table (route-checks.ts: match keys, actions, one default, ...), and UDP listeners only routed to plain (non-TLS, non-unix) clusters; with `protocols`, a route's
 * faults (which join its listener's) against that listener: `match` keys against the listener's protocol, and
 * exclusive group shares added to the listener's. Defensive: works on partial or raw input, skipping whatever is
 * not yet well-formed.
 */
export function crossReferenceIssues(cfg: unknown, protocols?: ProtocolCatalog, faultTypes?: FaultCatalog): ConfigIssue[] {
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
    const secondaries = get(get(route, 'grpc'), 'secondaries');
    if (Array.isArray(secondaries)) {
      secondaries.forEach((c, j) => {
        if (typeof c === 'string' && !clusters.has(c)) push(['routes', i, 'grpc', 'secondaries', j], unknownRef('cluster', c, clusters), 'reference');
      });
    }
    const mirrorRef = get(get(route, 'mirror'), 'cluster');
    if (typeof mirrorRef === 'string' && !clusters.has(mirrorRef)) push(['routes', i, 'mirror', 'cluster'], unknownRef('cluster', mirrorRef, clusters), 'reference');
    const mergeListeners = get(get(route, 'merge'), 'listeners');
    if (Array.isArray(mergeListeners)) {
      mergeListeners.forEach((l, j) => {
        if (typeof l !== 'string') return;
        if (!listeners.has(l)) push(['routes', i, 'merge', 'listeners', j], unknownRef('listener', l, listeners), 'reference');
      });
    }
    // Merge routes take their listeners from merge.listeners (checked above).
    const listenerRef = Array.isArray(mergeListeners) ? undefined : get(route, 'listener');
    const clusterRef = get(route, 'cluster');
    const li = typeof listenerRef === 'string' ? listeners.get(listenerRef) : undefined;
    const ci = typeof clusterRef === 'string' ? clusters.get(clusterRef) : undefined;
    if (typeof listenerRef === 'string') {
      if (li === undefined) push(['routes', i, 'listener'], unknownRef('listener', listenerRef, listeners), 'reference');
    }
    if (typeof clusterRef === 'string' && ci === undefined) {
      push(['routes', i, 'cluster'], unknownRef('cluster', clusterRef, clusters), 'reference');
    }
    const protocolOf = (p: unknown): unknown => (typeof p === 'string' ? p : get(p, 'type'));
    const grpcListener = li !== undefined && protocolOf(get(list('listeners')[li], 'protocol')) === 'grpc';
    if (get(route, 'grpc') !== undefined && li !== undefined && !grpcListener) push(['routes', i, 'grpc'], `listener ${JSON.stringify(listenerRef)} is not a grpc listener (protocol: grpc)`, 'reference');
    if (grpcListener) {
      if (get(route, 'merge') !== undefined) push(['routes', i, 'merge'], `not supported on a route of grpc listener ${JSON.stringify(listenerRef)}`, 'invalid');
      const rep = get(route, 'replicate');
      if (rep !== undefined) {
        if (get(route, 'grpc') !== undefined) push(['routes', i, 'grpc'], 'a replicate route of a grpc listener takes no grpc block: its variants are the primary (the first) and the secondaries', 'invalid');
        if (get(route, 'mirror') !== undefined) push(['routes', i, 'mirror'], 'a replicate route of a grpc listener cannot also mirror', 'invalid');
        for (const k of ['filterPair', 'quarantine']) if (get(rep, k) === true) push(['routes', i, 'replicate', k], `not supported on a route of grpc listener ${JSON.stringify(listenerRef)}`, 'invalid');
        const variants = get(rep, 'variants');
        if (Array.isArray(variants)) {
          variants.forEach((v, j) => {
            if (typeof v === 'string' && !clusters.has(v)) push(['routes', i, 'replicate', 'variants', j], `on a grpc listener, variants are cluster ids (HTTP/2 sessions are pooled per cluster): ${unknownRef('cluster', v, clusters)}`, 'reference');
          });
        }
      }
      if (get(route, 'mirror') !== undefined && get(get(route, 'grpc'), 'compare') !== undefined && get(get(get(route, 'grpc'), 'compare'), 'policy') !== 'off') {
        push(['routes', i, 'mirror'], 'a grpc route cannot both mirror and compare its secondaries (use mirror.compare for the shadow)', 'invalid');
      }
      const lp = get(list('listeners')[li], 'protocol');
      if ((get(lp, 'engine') ?? get(get(lp, 'options'), 'engine')) === 'frames') {
        const why = framesRouteProblem(route, (id) => {
          const at = clusters.get(id);
          return at !== undefined && get(list('clusters')[at], 'tls') !== undefined;
        });
        if (why) push(['routes', i], `listener ${JSON.stringify(listenerRef)} has engine "frames", which serves plain routes only: this route has ${why} (use engine "auto" or "http2")`, 'invalid');
      }
    }
    if (protocols) {
      const targets = Array.isArray(mergeListeners) ? mergeListeners.map((l) => (typeof l === 'string' ? listeners.get(l) : undefined)) : [li];
      for (const t of targets) if (t !== undefined) routeFaultIssues(i, list('listeners')[t], get(route, 'faults'), protocols, push, faultTypes);
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
  issues.push(...routeTableIssues(list('listeners'), list('routes'), protocols));
  return issues;
}

/**
 * The rest of a route's faults on a grpc listener (docs/grpc.md § faults): per-call faults only (a route has no
 * connection), matching the keys of gRPC calls.
 */
function grpcRouteFaultIssues(
  routeIndex: number,
  faults: unknown[],
  protocols: ProtocolCatalog,
  push: (segments: Array<string | number>, message: string, code: ConfigIssueCode) => void,
  faultTypes: FaultCatalog | undefined,
): void {
  const all = new Set(allMatchKeys(protocols));
  faults.forEach((f, j) => {
    if (!isPlainObject(f)) return;
    if (faultTypes) for (const p of grpcFaultProblems(f, faultTypes, 'route')) push(['routes', routeIndex, 'faults', j, ...p.path], p.message, 'invalid');
    const match = get(f, 'match');
    if (!isPlainObject(match)) return;
    for (const p of matchKeyProblems(match as FaultInput['match'] & object, GRPC_FAULT_MATCH_KEYS, `a grpc listener's calls report: ${GRPC_FAULT_MATCH_KEYS.join(', ')}`)) {
      if (all.has(String(p.path[p.path.length - 1]))) push(['routes', routeIndex, 'faults', j, 'match', ...p.path], p.message, 'unknown_key');
    }
  });
}

/** A route's faults against one of its listeners: group shares with its faults, match keys for that listener's protocol (a grpc listener's: {@link grpcRouteFaultIssues}). */
function routeFaultIssues(
  routeIndex: number,
  listener: unknown,
  faults: unknown,
  protocols: ProtocolCatalog,
  push: (segments: Array<string | number>, message: string, code: ConfigIssueCode) => void,
  faultTypes: FaultCatalog | undefined,
): void {
  if (!Array.isArray(faults)) return;
  const protocol = get(listener, 'protocol');
  const listenerFaults = get(listener, 'faults');
  if (Array.isArray(listenerFaults)) {
    const own = groupShareProblems(faults as FaultInput[]).map((p) => p.index);
    for (const p of groupShareProblems(faults as FaultInput[], listenerFaults as FaultInput[])) {
      if (!own.includes(p.index)) push(['routes', routeIndex, 'faults', p.index, 'toxicity'], `${p.message} (with listener ${JSON.stringify(get(listener, 'id'))}'s faults)`, 'invalid');
    }
  }
  if (protocol === 'grpc' || get(protocol, 'type') === 'grpc') {
    grpcRouteFaultIssues(routeIndex, faults, protocols, push, faultTypes);
    return;
  }
  if (!(protocol === undefined || (isPlainObject(protocol) && typeof protocol['type'] === 'string'))) return;
  const known = matchKeysOf(protocols, protocol === undefined ? undefined : (protocol['type'] as string));
  if (!known) return;
  const all = new Set(allMatchKeys(protocols));
  (faults as unknown[]).forEach((f, j) => {
    const match = get(f, 'match');
    if (!isPlainObject(match)) return;
    for (const p of matchKeyProblems(match as FaultInput['match'] & object, known.keys, `listener ${JSON.stringify(get(listener, 'id'))}: ${known.text}`)) {
      if (all.has(String(p.path[p.path.length - 1]))) push(['routes', routeIndex, 'faults', j, 'match', ...p.path], p.message, 'unknown_key');
    }
  });
}
