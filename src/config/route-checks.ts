/**
 * Checks of a listener's route table (docs/routing.md): match keys the listener can route on, actions its protocol
 * supports, at most one `default: true`, merge and udp listeners with one route, route engines only where the
 * route is decided per connection; and the shadowed-route warnings. Defensive like cross-references.ts: works on
 * partial or raw input.
 */
import { z } from 'zod';
import type { ProtocolCatalog } from './catalogs.js';
import type { MatchSpec } from './fault-input.js';
import { get, isPlainObject } from './fields.js';
import { type ConfigIssue, type ConfigIssueCode, formatPath } from './issues.js';
import { GRPC_PROTOCOL, GRPC_ROUTING } from './grpc-schema.js';
import { WAMP_ATTRIBUTES, WAMP_PROTOCOL, WAMP_ROUTING } from './wamp-schema.js';
import { keyKind, type ListenerMatchFacts, routeMatchKeys, routeMatchShapeProblems, scopeOf, shadows } from './route-match.js';

type Push = (segments: Array<string | number>, message: string, code: ConfigIssueCode) => void;

const ANSWER_ACTIONS = ['rewrite', 'redirect', 'directResponse'] as const;

/** What a listener (raw config) lets its routes match, with the catalog's protocol entry. */
export function listenerMatchFacts(listener: unknown, protocols: ProtocolCatalog | undefined): ListenerMatchFacts {
  const protocol = get(get(listener, 'protocol'), 'type');
  const type = typeof protocol === 'string' ? protocol : undefined;
  if (type === GRPC_PROTOCOL) {
    return { id: String(get(listener, 'id')), tls: get(listener, 'tls') !== undefined, udp: false, protocol: type, attributes: ['method', 'service'], routing: GRPC_ROUTING };
  }
  if (type === WAMP_PROTOCOL) {
    return { id: String(get(listener, 'id')), tls: get(listener, 'tls') !== undefined, udp: false, protocol: type, attributes: [...WAMP_ATTRIBUTES], routing: WAMP_ROUTING };
  }
  const entry = type === undefined ? undefined : protocols?.get(type);
  return {
    id: String(get(listener, 'id')),
    tls: get(listener, 'tls') !== undefined,
    udp: get(listener, 'transport') === 'udp',
    protocol: type,
    attributes: entry?.attributes ? Object.keys(entry.attributes) : undefined,
    routing: entry?.routing,
  };
}

/** The routes (index and raw value) of each listener id, in config order; merge routes under each of their listeners. */
function routesByListener(routes: readonly unknown[]): Map<string, Array<{ i: number; route: unknown }>> {
  const by = new Map<string, Array<{ i: number; route: unknown }>>();
  routes.forEach((route, i) => {
    const merge = get(get(route, 'merge'), 'listeners');
    const ids = Array.isArray(merge) ? merge : [get(route, 'listener')];
    for (const l of ids) {
      if (typeof l !== 'string') continue;
      let list = by.get(l);
      if (!list) by.set(l, (list = []));
      list.push({ i, route });
    }
  });
  return by;
}

/** The route's match when well-formed (a failed one is reported by the schema; zod leaves a placeholder in its place). */
function matchOf(route: unknown): MatchSpec | undefined {
  const m = get(route, 'match');
  return isPlainObject(m) && (m as unknown) !== z.NEVER && routeMatchShapeProblems(m).length === 0 ? (m as MatchSpec) : undefined;
}

/** Issues of every listener's route table (see the file comment). */
export function routeTableIssues(listeners: readonly unknown[], routes: readonly unknown[], protocols: ProtocolCatalog | undefined): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const push: Push = (segments, message, code) => issues.push({ path: formatPath(segments), segments, message, code });
  const byId = new Map<string, unknown>();
  for (const l of listeners) if (typeof get(l, 'id') === 'string') byId.set(get(l, 'id') as string, l);
  for (const [listenerId, list] of routesByListener(routes)) {
    const listener = byId.get(listenerId);
    if (listener === undefined) continue; // an unknown listener is reported by cross-references.ts
    listenerTableIssues(listenerMatchFacts(listener, protocols), list, push);
  }
  return issues;
}

function listenerTableIssues(facts: ListenerMatchFacts, list: ReadonlyArray<{ i: number; route: unknown }>, push: Push): void {
  const name = JSON.stringify(facts.id);
  const merge = list.find((r) => get(r.route, 'merge') !== undefined);
  if (merge && list.length > 1) {
    const other = list.find((r) => r !== merge)!;
    const later = other.i > merge.i ? other : merge;
    push(['routes', later.i, later === merge ? 'merge' : 'listener'], `listener ${name} has a merge route (routes[${merge.i}]), which takes all its connections: it can have no other route (routes[${other.i}])`, 'duplicate');
    return;
  }
  if (facts.udp && list.length > 1) push(['routes', list[1]!.i, 'listener'], `listener ${name} is udp: it takes exactly one route (already routes[${list[0]!.i}])`, 'duplicate');
  let defaultAt: number | undefined;
  let usable = true;
  for (const { i, route } of list) {
    const match = matchOf(route);
    if (match) {
      for (const k of routeMatchKeys(match)) {
        const kind = keyKind(facts, k.key, k.map);
        if ('problem' in kind) {
          push(['routes', i, 'match', ...k.path], kind.problem, kind.problem.startsWith('unknown') ? 'unknown_key' : 'invalid');
          usable = false;
        }
      }
    }
    for (const action of ANSWER_ACTIONS) {
      if (get(route, action) === undefined || facts.routing?.answers === true) continue;
      const what = facts.protocol === undefined ? 'raw TCP' : `protocol "${facts.protocol}"`;
      push(['routes', i, action], `only on listeners that answer HTTP requests (protocol: http); listener ${name} is ${what}`, 'invalid');
    }
    if (get(route, 'default') === true) {
      if (defaultAt !== undefined) push(['routes', i, 'default'], `listener ${name} already has a default route (routes[${defaultAt}]); at most one per listener`, 'duplicate');
      else defaultAt = i;
    }
  }
  if (!usable) return;
  const scope = scopeOf(
    list.map((r) => matchOf(r.route)),
    (key, map) => {
      const kind = keyKind(facts, key, map);
      return 'scope' in kind ? kind.scope : undefined;
    },
    list.some((r) => ANSWER_ACTIONS.some((a) => get(r.route, a) !== undefined)),
  );
  if (scope !== 'request' && scope !== 'startup') return;
  for (const { i, route } of list) {
    if (get(route, 'replicate') === undefined) continue;
    const why = scope === 'request' ? 'its routes match request attributes (decided per request)' : 'its routes match startup attributes (decided after the startup is read)';
    push(['routes', i, 'replicate'], `a replicate route takes whole connections: it cannot share listener ${name} with routes decided later (${why})`, 'invalid');
  }
}

/**
 * Shadowed routes: a route after one on the same listener that matches everything it would (no match, the same
 * match, or a subset of its conditions). Such a route never receives traffic; warnings, not errors.
 */
export function routeShadowWarnings(routes: readonly unknown[]): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const [listenerId, list] of routesByListener(routes)) {
    list.forEach(({ i, route }, n) => {
      const mine = matchOf(route);
      for (let e = 0; e < n; e++) {
        const earlier = list[e]!;
        const theirs = matchOf(earlier.route);
        if (!shadows(theirs, mine)) continue;
        const why = theirs === undefined || Object.keys(theirs).length === 0 ? 'has no match (it takes everything)' : mine !== undefined && shadows(mine, theirs) ? 'has the same match' : 'matches everything this one would (its conditions are a subset of these)';
        const segments = mine === undefined ? ['routes', i] : ['routes', i, 'match'];
        out.push({
          path: formatPath(segments),
          segments,
          message: `route ${JSON.stringify(get(route, 'id'))} can never match: routes[${earlier.i}] (${JSON.stringify(get(earlier.route, 'id'))}) on listener ${JSON.stringify(listenerId)} comes first and ${why}`,
          code: 'shadowed',
        });
        break;
      }
    });
  }
  return out;
}
