/**
 * The live state every view reads: listeners, clusters and routes polled from the admin API every 2 s, and the
 * rates computed from the difference between two polls, kept for the last 5 minutes (what the charts draw).
 */
import { api, tokenNeeded } from './api.js';

export interface Stats {
  active: number;
  total: number;
  bytesToUpstream: number;
  bytesToDownstream: number;
  framesToUpstream: number;
  framesToDownstream: number;
  errors: Record<string, number>;
}
export interface Fault {
  name: string;
  type: string;
  stream: string;
  toxicity: number;
  scope: string;
  attributes: Record<string, unknown>;
  injected: number;
  match?: unknown;
}
export interface ListenerJson {
  id: string;
  state: string;
  address: { kind: string; host?: string; port?: number; path?: string } | null;
  routing: string | null;
  protocol?: string;
  down?: boolean;
  faults?: Fault[];
  config: { transport: string; framing?: { toUpstream?: { type: string } } };
  stats: Stats;
}
export interface EndpointJson {
  address: string;
  weight: number;
  active: number;
  health: string;
  ejected: boolean;
  ejectedUntil: string | null;
  timesEjected: number;
}
export interface ClusterJson {
  id: string;
  state: string;
  panic: boolean;
  endpoints: EndpointJson[];
  config: { balancer: string };
  stats: Stats;
}
export interface RouteJson {
  id: string;
  listener: string;
  position: number;
  state: string;
  requests?: number;
  engine?: { mode: string; policy?: string; variants?: Array<{ name: string; state: string; cluster: string }> };
  config: { cluster?: string; match?: unknown };
  stats: Stats;
}

/** One point of a listener's rates (per second, over the last poll interval). */
export interface RatePoint {
  t: number;
  connections: number;
  requests: number;
  bytesUp: number;
  bytesDown: number;
}

export interface Snapshot {
  listeners: ListenerJson[];
  clusters: ClusterJson[];
  routes: RouteJson[];
  error: string | null;
  at: number;
}

const POLL_MS = 2000;
const KEEP_MS = 5 * 60_000;

let snapshot: Snapshot = { listeners: [], clusters: [], routes: [], error: null, at: 0 };
const history = new Map<string, RatePoint[]>();
let previous: { t: number; totals: Map<string, { connections: number; requests: number; bytesUp: number; bytesDown: number }> } | undefined;
const subscribers = new Set<() => void>();
let timer: ReturnType<typeof setTimeout> | undefined;

export function current(): Snapshot {
  return snapshot;
}

export function rates(listener: string): RatePoint[] {
  return history.get(listener) ?? [];
}

export function onUpdate(fn: () => void): () => void {
  subscribers.add(fn);
  return () => subscribers.delete(fn);
}

function totals(s: Snapshot): Map<string, { connections: number; requests: number; bytesUp: number; bytesDown: number }> {
  const out = new Map<string, { connections: number; requests: number; bytesUp: number; bytesDown: number }>();
  for (const l of s.listeners) {
    // Requests: what the listener's routes counted (protocol listeners count requests, raw TCP connections).
    const requests = s.routes.filter((r) => r.listener === l.id).reduce((n, r) => n + (r.requests ?? 0), 0);
    out.set(l.id, { connections: l.stats.total, requests, bytesUp: l.stats.bytesToUpstream, bytesDown: l.stats.bytesToDownstream });
  }
  return out;
}

/** Poll now (and then every 2 s). */
export async function refresh(): Promise<void> {
  clearTimeout(timer);
  // Waiting for the token: nothing to read until it is given (setting it calls refresh again).
  if (tokenNeeded()) {
    for (const fn of subscribers) fn();
    return;
  }
  try {
    const [listeners, clusters, routes] = await Promise.all([
      api<ListenerJson[]>('GET', '/api/v1/listeners'),
      api<ClusterJson[]>('GET', '/api/v1/clusters'),
      api<RouteJson[]>('GET', '/api/v1/routes'),
    ]);
    const now = Date.now();
    snapshot = { listeners, clusters, routes, error: null, at: now };
    const t = totals(snapshot);
    if (previous) {
      const dt = (now - previous.t) / 1000;
      for (const [id, v] of t) {
        const p = previous.totals.get(id);
        if (!p || dt <= 0) continue;
        const rate = (a: number, b: number): number => Math.max(0, (a - b) / dt);
        const series = history.get(id) ?? [];
        series.push({ t: now, connections: rate(v.connections, p.connections), requests: rate(v.requests, p.requests), bytesUp: rate(v.bytesUp, p.bytesUp), bytesDown: rate(v.bytesDown, p.bytesDown) });
        while (series.length > 0 && series[0]!.t < now - KEEP_MS) series.shift();
        history.set(id, series);
      }
    }
    previous = { t: now, totals: t };
  } catch (err) {
    snapshot = { ...snapshot, error: (err as Error).message, at: Date.now() };
  }
  for (const fn of subscribers) fn();
  timer = setTimeout(() => void refresh(), POLL_MS);
}
