/**
 * The plan of a hot reload: what a new config adds, changes, removes and keeps, per kind of run-time object, compared
 * by id and by deep equality (so a config key added later needs no code here). Pure: configs in, data out.
 */
import { isDeepStrictEqual } from 'node:util';
import type { ListenerConfig, RouteConfig, SwitchyardConfig } from '../config/types.js';

/** An object whose config differs: the dotted paths of the keys that differ (`socket.keepAlive`, `faults`). */
export interface ObjectChange {
  id: string;
  keys: string[];
}

/** A changed listener: updated in place (its socket and connections kept) or replaced by a new one. */
export interface ListenerChange extends ObjectChange {
  /** `update`: only keys of {@link IN_PLACE_LISTENER_KEYS} differ; `replace`: a new listener, the old one drains. */
  action: 'update' | 'replace';
}

/** A route rebuilt without a change of its own: it holds a cluster that changed (replicate, merge, mirror). */
export interface RouteRebuild {
  id: string;
  clusters: string[];
}

export interface KindPlan<C extends ObjectChange = ObjectChange> {
  added: string[];
  changed: C[];
  removed: string[];
  unchanged: string[];
}

/** A top-level section whose change the running proxy does not apply (shown as `requires restart`). */
export interface RestartChange {
  section: string;
  keys: string[];
}

export interface ReloadPlan {
  listeners: KindPlan<ListenerChange>;
  clusters: KindPlan;
  routes: KindPlan & { rebuilt: RouteRebuild[]; reordered: boolean };
  /** Sections applied live (`shutdown`): their changed keys. */
  settings: ObjectChange[];
  /** Sections changed in the file that need a restart to take effect; not applied. */
  requiresRestart: RestartChange[];
  /** True when nothing at all differs. */
  empty: boolean;
}

/**
 * Listener keys a running TCP listener takes in place (for new connections; faults reach live ones too). Any other
 * difference (listen address, TLS, framing, protocol, backlog, socket.noDelay, socket.splice, transport, UDP
 * options, any key added later) replaces the listener.
 */
export const IN_PLACE_LISTENER_KEYS: readonly string[] = [
  'faults',
  'idleTimeout',
  'maxConnections',
  'maxConnectionsPerSource',
  'requestHeaderTimeout',
  'requestTimeout',
  'traffic',
  'minDataRate',
  'socket.keepAlive',
];

/** Top-level sections applied live; the object lists aside, every other section needs a restart. */
const LIVE_SECTIONS = new Set(['shutdown']);
const OBJECT_SECTIONS = new Set(['listeners', 'clusters', 'routes']);

/**
 * The dotted paths where two values differ: plain objects are walked (up to `depth` levels), anything else (lists,
 * tagged values such as addresses) compared whole.
 */
export function changedKeys(a: unknown, b: unknown, depth = 3, prefix = ''): string[] {
  if (isDeepStrictEqual(a, b)) return [];
  // Tagged values (addresses: `{kind: 'tcp', host, port}`) are one value, as written (`listen`, not `listen.port`).
  if (depth === 0 || !isPlainObject(a) || !isPlainObject(b) || typeof a['kind'] === 'string' || typeof b['kind'] === 'string') {
    return [prefix === '' ? '(value)' : prefix];
  }
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const out: string[] = [];
  for (const k of keys) {
    const av = a[k];
    const bv = b[k];
    // An absent key and an undefined one are the same config.
    if (av === undefined && bv === undefined) continue;
    out.push(...changedKeys(av, bv, depth - 1, prefix === '' ? k : `${prefix}.${k}`));
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Configs compared as data: `undefined` members dropped (an absent key equals an undefined one). */
function same(a: unknown, b: unknown): boolean {
  return changedKeys(a, b, 16).length === 0;
}

function diffKind<T extends { id: string }>(current: readonly T[], next: readonly T[]): KindPlan {
  const before = new Map(current.map((c) => [c.id, c]));
  const after = new Map(next.map((c) => [c.id, c]));
  const plan: KindPlan = { added: [], changed: [], removed: [], unchanged: [] };
  for (const [id, cfg] of after) {
    const old = before.get(id);
    if (old === undefined) plan.added.push(id);
    else if (same(old, cfg)) plan.unchanged.push(id);
    else plan.changed.push({ id, keys: changedKeys(old, cfg) });
  }
  for (const id of before.keys()) if (!after.has(id)) plan.removed.push(id);
  return plan;
}

/** A key path is in place when it is one of the in-place keys or below one. */
function inPlace(key: string): boolean {
  return IN_PLACE_LISTENER_KEYS.some((k) => key === k || key.startsWith(`${k}.`));
}

/** `update` when a TCP listener (staying TCP) differs only in keys it takes in place. */
function listenerAction(old: ListenerConfig, next: ListenerConfig, keys: readonly string[]): 'update' | 'replace' {
  if (old.transport !== 'tcp' || next.transport !== 'tcp') return 'replace';
  return keys.every(inPlace) ? 'update' : 'replace';
}

/** Cluster ids a route holds as objects (its engine or mirror handler), which a cluster change must rebuild. */
function heldClusters(route: RouteConfig): string[] {
  const held: string[] = [];
  if (route.replicate) for (const v of route.replicate.variants) held.push(v);
  if (route.merge && route.cluster !== undefined) held.push(route.cluster);
  if (route.mirror) held.push(route.mirror.cluster);
  return held;
}

/** Route ids in evaluation order, per listener. */
function orderByListener(routes: readonly RouteConfig[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of routes) out.set(r.listener, [...(out.get(r.listener) ?? []), r.id]);
  return out;
}

/** What applying `next` to a proxy running `current` does. */
export function planReload(current: SwitchyardConfig, next: SwitchyardConfig): ReloadPlan {
  const listeners = diffKind(current.listeners, next.listeners);
  const oldListeners = new Map(current.listeners.map((l) => [l.id, l]));
  const newListeners = new Map(next.listeners.map((l) => [l.id, l]));
  const listenerChanges: ListenerChange[] = listeners.changed.map((c) => ({
    ...c,
    action: listenerAction(oldListeners.get(c.id)!, newListeners.get(c.id)!, c.keys),
  }));
  const clusters = diffKind(current.clusters, next.clusters);
  const routes = diffKind(current.routes, next.routes);
  const changedClusters = new Set(clusters.changed.map((c) => c.id));
  const unchangedRoutes = new Set(routes.unchanged);
  const rebuilt: RouteRebuild[] = [];
  for (const r of next.routes) {
    if (!unchangedRoutes.has(r.id)) continue;
    const held = [...new Set(heldClusters(r).filter((id) => changedClusters.has(id)))];
    if (held.length > 0) rebuilt.push({ id: r.id, clusters: held });
  }
  const survivors = new Set([...routes.unchanged, ...routes.changed.map((c) => c.id)]);
  const kept = (rs: readonly RouteConfig[]): RouteConfig[] => rs.filter((r) => survivors.has(r.id));
  const reordered = !isDeepStrictEqual(orderByListener(kept(current.routes)), orderByListener(kept(next.routes)));

  const settings: ObjectChange[] = [];
  const requiresRestart: RestartChange[] = [];
  const sections = new Set([...Object.keys(current), ...Object.keys(next)]);
  const cur = current as unknown as Record<string, unknown>;
  const nxt = next as unknown as Record<string, unknown>;
  for (const section of [...sections].sort()) {
    if (OBJECT_SECTIONS.has(section)) continue;
    const keys = changedKeys(cur[section], nxt[section], 2).map((k) => (k === '(value)' ? section : `${section}.${k}`));
    if (keys.length === 0) continue;
    if (LIVE_SECTIONS.has(section)) settings.push({ id: section, keys });
    else requiresRestart.push({ section, keys });
  }
  const plan: ReloadPlan = {
    listeners: { ...listeners, changed: listenerChanges },
    clusters,
    routes: { ...routes, rebuilt, reordered },
    settings,
    requiresRestart,
    empty: false,
  };
  plan.empty =
    [plan.listeners, plan.clusters, plan.routes].every((k) => k.added.length + k.changed.length + k.removed.length === 0) &&
    rebuilt.length === 0 &&
    !reordered &&
    settings.length === 0 &&
    requiresRestart.length === 0;
  return plan;
}

/** One line per change, for the log and the CLI (`listener web: replace (listen)`). */
export function describePlan(plan: ReloadPlan): string[] {
  const lines: string[] = [];
  const kinds = [
    ['listener', plan.listeners],
    ['cluster', plan.clusters],
    ['route', plan.routes],
  ] as const;
  for (const [kind, k] of kinds) {
    for (const id of k.added) lines.push(`${kind} ${id}: added`);
    for (const c of k.changed as readonly (ObjectChange & { action?: string })[]) {
      lines.push(`${kind} ${c.id}: ${c.action === undefined ? 'changed' : c.action === 'update' ? 'updated in place' : 'replaced'} (${c.keys.join(', ')})`);
    }
    for (const id of k.removed) lines.push(`${kind} ${id}: removed`);
  }
  for (const r of plan.routes.rebuilt) lines.push(`route ${r.id}: rebuilt (uses changed cluster ${r.clusters.join(', ')})`);
  if (plan.routes.reordered) lines.push('routes: evaluation order changed');
  for (const s of plan.settings) lines.push(`${s.id}: changed (${s.keys.join(', ')})`);
  for (const r of plan.requiresRestart) lines.push(`${r.section}: changed, requires restart, not applied (${r.keys.join(', ')})`);
  return lines;
}
