/**
 * A Crossbar.io proxy worker's config (`"type": "proxy"`: `connections`, `routes`, optionally `transports`) as
 * switchyard config: each connection a cluster, each (realm, role, connection) a route matching
 * `{realm, authrole}`, each WebSocket/RawSocket/universal transport a `protocol: wamp` listener (docs/wamp.md
 * "Crossbar config mapping"). Errors name the Crossbar path and what is supported instead.
 */
import { isPlainObject } from './fields.js';

export class CrossbarConfigError extends Error {}

function fail(path: string, message: string): never {
  throw new CrossbarConfigError(`${path}: ${message}`);
}

function obj(v: unknown, path: string): Record<string, unknown> {
  if (!isPlainObject(v)) fail(path, `expected an object, got ${JSON.stringify(v)}`);
  return v;
}

function endpointAddress(e: unknown, path: string): string {
  const ep = obj(e, path);
  if (ep['type'] === 'unix') {
    if (typeof ep['path'] !== 'string') fail(`${path}.path`, 'expected a socket path');
    return `unix:${ep['path']}`;
  }
  if (ep['type'] !== undefined && ep['type'] !== 'tcp') fail(`${path}.type`, `endpoint type ${JSON.stringify(ep['type'])} is not supported (tcp or unix)`);
  const host = typeof ep['host'] === 'string' ? ep['host'] : typeof ep['interface'] === 'string' ? ep['interface'] : '127.0.0.1';
  if (typeof ep['port'] !== 'number') fail(`${path}.port`, 'expected a port number');
  return `${host === 'localhost' ? '127.0.0.1' : host}:${ep['port']}`;
}

function backendAuth(auth: unknown, path: string): Record<string, unknown> {
  if (auth === undefined) return { method: 'anonymous', authmethod: 'anonymous-proxy' };
  const a = obj(auth, path);
  if ('anonymous-proxy' in a) return { method: 'anonymous', authmethod: 'anonymous-proxy' };
  if ('anonymous' in a) return { method: 'anonymous' };
  if (isPlainObject(a['ticket'])) return { method: 'ticket', ...(a['ticket']) };
  if (isPlainObject(a['wampcra'])) return { method: 'wampcra', ...(a['wampcra']) };
  if ('cryptosign-proxy' in a) fail(`${path}.cryptosign-proxy`, 'cryptosign-proxy is not supported toward backends (supported: anonymous-proxy, anonymous, ticket, wampcra)');
  return fail(path, `no supported method among ${Object.keys(a).join(', ')} (supported: anonymous-proxy, anonymous, ticket, wampcra)`);
}

function connectionCluster(id: string, c: unknown): Record<string, unknown> {
  const path = `connections.${id}`;
  const conn = obj(c, path);
  const t = obj(conn['transport'], `${path}.transport`);
  const address = endpointAddress(t['endpoint'], `${path}.transport.endpoint`);
  const auth = backendAuth(conn['auth'], `${path}.auth`);
  if (t['type'] === 'rawsocket') {
    return { id, endpoints: [address], wamp: { transport: 'rawsocket', serializers: [typeof t['serializer'] === 'string' ? t['serializer'] : 'json'], auth } };
  }
  if (t['type'] === 'websocket') {
    let wsPath = '/ws';
    if (typeof t['url'] === 'string') {
      try {
        wsPath = new URL(t['url']).pathname || '/';
      } catch {
        fail(`${path}.transport.url`, `not a URL: ${JSON.stringify(t['url'])}`);
      }
    }
    const serializers = Array.isArray(t['serializers']) ? t['serializers'] : ['json'];
    return { id, endpoints: [address], wamp: { transport: 'websocket', path: wsPath, serializers, auth } };
  }
  return fail(`${path}.transport.type`, `expected "rawsocket" or "websocket", got ${JSON.stringify(t['type'])}`);
}

function edgeAuth(auth: unknown, path: string): Record<string, unknown> | undefined {
  if (auth === undefined) return undefined;
  const a = obj(auth, path);
  const out: Record<string, unknown> = {};
  for (const [method, v] of Object.entries(a)) {
    const m = obj(v, `${path}.${method}`);
    if (method === 'anonymous') out['anonymous'] = { role: typeof m['role'] === 'string' ? m['role'] : 'anonymous' };
    else if (method === 'ticket' && m['type'] !== 'dynamic') out['ticket'] = { principals: m['principals'] };
    else if (method === 'wampcra' && m['type'] !== 'dynamic') out['wampcra'] = { users: m['users'] };
    else fail(`${path}.${method}`, `${m['type'] === 'dynamic' ? 'dynamic (WAMP procedure) authenticators are' : `authmethod "${method}" is`} not supported (supported: anonymous, static ticket, static wampcra; dynamic ticket via an authenticator module, docs/wamp.md)`);
  }
  return out;
}

function transportListener(t: unknown, i: number): Record<string, unknown> | undefined {
  const path = `transports[${i}]`;
  const tr = obj(t, path);
  const id = typeof tr['id'] === 'string' ? tr['id'] : `transport${String(i).padStart(3, '0')}`;
  const ep = obj(tr['endpoint'], `${path}.endpoint`);
  // A listening endpoint: `interface` (default all IPv4 interfaces, as Crossbar) and `port`, or a unix path.
  const listen = endpointAddress({ ...ep, host: typeof ep['interface'] === 'string' ? ep['interface'] : '0.0.0.0' }, `${path}.endpoint`);
  let ws: Record<string, unknown> | undefined;
  let wsPath = '/ws';
  if (tr['type'] === 'web' || tr['type'] === 'universal') {
    const paths = obj(tr['type'] === 'web' ? tr['paths'] : (tr['web'] as Record<string, unknown> | undefined)?.['paths'] ?? tr['websocket'], `${path}.paths`);
    for (const [p, svc] of Object.entries(paths)) {
      if (isPlainObject(svc) && (svc['type'] === 'websocket' || tr['type'] === 'universal')) {
        ws = svc;
        wsPath = p.startsWith('/') ? p : `/${p}`;
        break;
      }
    }
    if (!ws) return undefined;
  } else if (tr['type'] === 'websocket' || tr['type'] === 'rawsocket') {
    ws = tr;
  } else fail(`${path}.type`, `transport type ${JSON.stringify(tr['type'])} is not supported (web, universal, websocket, rawsocket)`);
  const protocol: Record<string, unknown> = { type: 'wamp', path: wsPath };
  if (Array.isArray(ws['serializers'])) protocol['serializers'] = (ws['serializers'] as unknown[]).filter((s) => s === 'json' || s === 'msgpack' || s === 'cbor');
  const auth = edgeAuth(ws['auth'] ?? tr['auth'], `${path}.auth`);
  if (auth) protocol['auth'] = auth;
  return { id, listen, protocol };
}

/**
 * Convert a Crossbar proxy worker (`connections`, `routes`, `transports`) to switchyard `listeners`, `clusters`,
 * `routes`. Routes go to `listener` (when given) or to every converted transport.
 */
export function crossbarProxyConfig(worker: unknown, options: { listener?: string } = {}): { listeners: Record<string, unknown>[]; clusters: Record<string, unknown>[]; routes: Record<string, unknown>[] } {
  const w = obj(worker, 'worker');
  const clusters = Object.entries(obj(w['connections'] ?? {}, 'connections')).map(([id, c]) => connectionCluster(id, c));
  const ids = new Set(clusters.map((c) => c['id']));
  const listeners = Array.isArray(w['transports']) ? (w['transports'] as unknown[]).map(transportListener).filter((l): l is Record<string, unknown> => l !== undefined) : [];
  const targets = options.listener !== undefined ? [options.listener] : listeners.map((l) => String(l['id']));
  if (targets.length === 0) fail('transports', 'no WebSocket or RawSocket transport to route from (pass a listener id)');
  const routes: Record<string, unknown>[] = [];
  let n = 0;
  for (const [realm, roles] of Object.entries(obj(w['routes'] ?? {}, 'routes'))) {
    for (const [role, conns] of Object.entries(obj(roles, `routes.${realm}`))) {
      // "used to be a single string, now a list of strings": each id is its own route.
      const list = typeof conns === 'string' ? [conns] : Array.isArray(conns) ? conns : fail(`routes.${realm}.${role}`, 'expected a connection id or a list of them');
      for (const c of list) {
        if (typeof c !== 'string' || !ids.has(c)) fail(`routes.${realm}.${role}`, `unknown connection ${JSON.stringify(c)} (known: ${[...ids].join(', ')})`);
        for (const listener of targets) routes.push({ id: `route${String(n++).padStart(3, '0')}`, listener, match: { realm, authrole: role }, cluster: c });
      }
    }
  }
  return { listeners, clusters, routes };
}
