/** A proxy whose listener routes per request, built directly from sessions and routers (no config), for router tests. */
import net from 'node:net';
import { Session } from '../../src/session/session.js';
import { PASSTHROUGH_FACTORY } from '../../src/framing/passthrough.js';
import { TrafficStats } from '../../src/core/stats.js';
import { silentLogger } from '../../src/core/log.js';
import { compileMatch } from '../../src/faults/match.js';
import { ProtocolRegistry } from '../../src/protocols/registry.js';
import { registerBuiltinProtocols } from '../../src/protocols/builtins.js';
import { RequestRouter, type RequestRouteChoice, type RequestRouting } from '../../src/routing/request-router.js';
import type { RoutedCluster } from '../../src/routing/routed-upstream.js';
import type { HandlerFactory } from '../../src/pipeline/handler.js';
import type { MatchSpec } from '../../src/config/fault-input.js';
import type { Attributes } from '../../src/protocols/protocol.js';
import { LatencyHistogram } from '../../src/core/latency.js';

export interface TestRoute {
  id: string;
  match?: MatchSpec;
  default?: boolean;
  cluster?: TestCluster;
  rewrite?: { host?: string; pathPrefix?: string };
  redirect?: { status: 301 | 302 | 303 | 307 | 308; location: string };
  directResponse?: { status: number; body: string; headers?: Record<string, string> };
}

export interface TestCluster extends RoutedCluster {
  port: number;
  reports: string[];
}

export function testCluster(id: string, port: number, config: { retryOn?: string[]; retries?: number; retryBackoff?: number } = {}): TestCluster {
  const reports: string[] = [];
  return {
    id,
    port,
    reports,
    stats: new TrafficStats(),
    config: { id, ...config },
    connect: () =>
      new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true });
        s.once('connect', () => {
          s.off('error', reject);
          resolve(s);
        });
        s.once('error', reject);
      }),
    report: (_s, outcome) => reports.push(outcome),
  };
}

export interface RoutedProxy {
  port: number;
  stats: TrafficStats;
  routeStats: Map<string, TrafficStats>;
  routeRequests(id: string): number;
  close(): Promise<void>;
}

export async function startRoutedProxy(protocol: 'http' | 'redis', routes: TestRoute[], handlers: HandlerFactory[] = []): Promise<RoutedProxy> {
  const registry = new ProtocolRegistry();
  registerBuiltinProtocols(registry);
  const module = registry.get(protocol)!;
  const codec = registry.build(protocol, {});
  const stats = new TrafficStats();
  const routeStats = new Map<string, TrafficStats>();
  const byId = new Map<string, { requests: number }>();
  const choices: Array<RequestRouteChoice & { matches: (a: Attributes | undefined) => boolean; isDefault: boolean }> = routes.map((r) => {
    const s = new TrafficStats();
    routeStats.set(r.id, s);
    const m = r.match === undefined ? undefined : compileMatch(r.match);
    const route = { id: r.id, config: r, stats: s, requests: 0, requestDuration: new LatencyHistogram() };
    byId.set(r.id, route);
    return {
      route,
      cluster: r.cluster,
      matches: (a) => m === undefined || m(a),
      isDefault: r.default === true,
    };
  });
  const routing: RequestRouting = {
    listenerId: 'l1',
    choices,
    select: (a) => choices.find((c) => c.matches(a)),
    fallback: choices.find((c) => c.isDefault) ?? choices[0],
  };
  const logger = silentLogger();
  const sessions = new Set<Session>();
  let id = 1;
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, (client) => {
    const session = new Session({
      id: id++,
      listenerId: 'l1',
      client,
      connect: () => Promise.resolve(new RequestRouter({ routing, codec, hooks: module.requestRouting!, attributes: { sourceAddress: client.remoteAddress ?? '' }, stats, logger })),
      framing: { toUpstream: PASSTHROUGH_FACTORY, toDownstream: PASSTHROUGH_FACTORY, codec },
      handlers,
      idleTimeout: 0,
      stats: [stats],
      logger,
      onClose: (s) => sessions.delete(s),
    });
    sessions.add(session);
    void session.start();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    stats,
    routeStats,
    routeRequests: (id) => byId.get(id)?.requests ?? 0,
    close: async () => {
      for (const s of sessions) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
