import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { once } from 'node:events';
import { spawn, type ChildProcess } from 'node:child_process';
import { parseObjectConfig } from '../../src/runtime/config.js';
import { Cluster } from '../../src/upstream/cluster.js';
import { probeFor, type ProbeTarget } from '../../src/upstream/probes.js';
import { mysqlScramble } from '../../src/protocols/mysql/health-probe.js';
import { createProtocolRegistry } from '../../src/protocols/builtins.js';
import type { HealthCheckConfig } from '../../src/config/types.js';
import { buildClientTlsOptions } from '../../src/core/tls.js';
import { eventually, freePort, startServer } from '../helpers/net.js';
import { SERVICES, needPeer, needService, reachable } from '../helpers/services.js';
import { testCerts } from '../helpers/certs.js';

const LOOP = '127.0.0.1';
const DEADLINE = 15_000;

function cluster(raw: Record<string, unknown>): Cluster {
  const c = new Cluster(parseObjectConfig('cluster', raw));
  c.start();
  return c;
}

function check(raw: Record<string, unknown>): HealthCheckConfig {
  return parseObjectConfig('cluster', { id: 'x', endpoints: ['127.0.0.1:1'], healthCheck: raw }).healthCheck!;
}

/** Run one probe; resolves to undefined when it passed, else the failure message. */
async function probe(raw: Record<string, unknown>, target: ProbeTarget, timeout = 5000): Promise<string | undefined> {
  const signal = AbortSignal.timeout(timeout);
  try {
    await probeFor(check(raw), createProtocolRegistry())(target, signal);
    return undefined;
  } catch (err) {
    return (err as Error).message || String((err as NodeJS.ErrnoException).code);
  }
}

const tcp = (port: number, host = LOOP): ProbeTarget => ({ address: { kind: 'tcp', host, port } });

function ports(c: Cluster, n = 40): Set<number> {
  const out = new Set<number>();
  for (let i = 0; i < n; i++) {
    const a = c.pickAddress();
    if (a.kind === 'tcp') out.add(a.port);
  }
  return out;
}

async function listenOn(port: number, onConnection: (s: net.Socket) => void = () => undefined): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    onConnection(s);
  });
  server.listen(port, LOOP);
  await once(server, 'listening');
  return server;
}

describe('health checks: tcp', () => {
  it('a killed endpoint leaves the balancer within interval x unhealthyThreshold (polled), and returns when it listens again', async (t) => {
    const a = await startServer((s) => s.end());
    // b is closed and later listens again on its port: a port from outside the ephemeral range, which no outgoing
    // connection of a test running alongside can take in between
    const bPort = await freePort();
    const bServer = await listenOn(bPort, (s) => s.end());
    const b = { port: bPort, close: () => new Promise<void>((r) => bServer.close(() => r())) };
    t.after(() => a.close());
    const c = cluster({
      id: 'hc-tcp',
      endpoints: [`${LOOP}:${a.port}`, `${LOOP}:${b.port}`],
      healthCheck: { type: 'tcp', interval: '100ms', timeout: '1s', healthyThreshold: 1, unhealthyThreshold: 2, jitter: '10ms' },
    });
    t.after(() => c.stop());
    await eventually(() => c.endpoints.every((e) => e.health === 'healthy'), 'both endpoints healthy', DEADLINE);
    assert.deepEqual([...ports(c)].sort(), [a.port, b.port].sort());

    await b.close();
    const killedAt = Date.now();
    await eventually(() => c.endpoints[1]!.health === 'unhealthy', 'endpoint b unhealthy', DEADLINE);
    const took = Date.now() - killedAt;
    t.diagnostic(`taken out after ${took} ms (interval 100 ms x threshold 2 = 200 ms plus a check in flight)`);
    assert.deepEqual([...ports(c)], [a.port]);
    const last = c.endpoints[1]!.lastCheck!;
    assert.equal(last.ok, false);
    assert.match(last.error ?? '', /ECONNREFUSED/);
    assert.equal(c.panic, false);

    const again = await listenOn(b.port, (s) => s.end());
    t.after(() => new Promise<void>((r) => again.close(() => r())));
    await eventually(() => c.endpoints[1]!.health === 'healthy', 'endpoint b healthy again', DEADLINE);
    assert.deepEqual([...ports(c)].sort(), [a.port, b.port].sort());
    const json = c.toJSON()['endpoints'] as Array<Record<string, unknown>>;
    assert.equal(json[1]!['health'], 'healthy');
    assert.equal((json[1]!['lastCheck'] as Record<string, unknown>)['ok'], true);
  });

  it('all endpoints unhealthy: panic mode, traffic still goes to all of them and is counted', async (t) => {
    const p1 = await freePort();
    const p2 = await freePort();
    const c = cluster({
      id: 'hc-panic',
      endpoints: [`${LOOP}:${p1}`, `${LOOP}:${p2}`],
      healthCheck: { type: 'tcp', interval: '100ms', timeout: '1s', healthyThreshold: 1, unhealthyThreshold: 1 },
    });
    t.after(() => c.stop());
    await eventually(() => c.endpoints.every((e) => e.health === 'unhealthy'), 'both unhealthy', DEADLINE);
    assert.equal(c.panic, true);
    const before = c.counters.panics;
    assert.deepEqual([...ports(c, 10)].sort(), [p1, p2].sort());
    assert.equal(c.counters.panics - before, 10);
  });

  it('a slow endpoint never has more than one check in flight, and a check past its timeout fails', async (t) => {
    // Accepts but the TLS handshake never completes: the tls check times out.
    const silent = await startServer(() => undefined);
    t.after(() => silent.close());
    const c = cluster({
      id: 'hc-slow',
      endpoints: [`${LOOP}:${silent.port}`],
      tls: { rejectUnauthorized: false },
      healthCheck: { type: 'tcp', interval: '20ms', timeout: '300ms', healthyThreshold: 1, unhealthyThreshold: 1, jitter: 0 },
    });
    t.after(() => c.stop());
    let maxInFlight = 0;
    const deadline = Date.now() + DEADLINE;
    while (c.endpoints[0]!.health !== 'unhealthy' && Date.now() < deadline) {
      maxInFlight = Math.max(maxInFlight, await connections(silent.server));
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(c.endpoints[0]!.health, 'unhealthy');
    assert.match(c.endpoints[0]!.lastCheck!.error ?? '', /timed out after 300 ms/);
    assert.ok(maxInFlight <= 1, `${maxInFlight} checks in flight at once`);
  });
});

function connections(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((_err, n) => resolve(n)));
}

describe('health checks: lifecycle', () => {
  it('probes start with the cluster and stop with it', async (t) => {
    let probes = 0;
    const s = await startServer((sock) => {
      probes++;
      sock.end();
    });
    t.after(() => s.close());
    const c = cluster({ id: 'hc-life', endpoints: [`${LOOP}:${s.port}`], healthCheck: { type: 'tcp', interval: '50ms', healthyThreshold: 1 } });
    await eventually(() => probes >= 3, 'a few probes', DEADLINE);
    c.stop();
    await new Promise((r) => setTimeout(r, 100));
    const after = probes;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(probes, after, 'no probe after stop');
  });
});

describe('health checks: http', () => {
  let server: http.Server;
  let port = 0;
  let status = 200;
  const seen: Array<{ method?: string | undefined; url?: string | undefined; host?: string | undefined }> = [];
  before(async () => {
    server = http.createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, host: req.headers.host });
      res.statusCode = req.url === '/healthz' ? status : 404;
      res.end('x');
    });
    server.listen(0, LOOP);
    await once(server, 'listening');
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('probes method, path and Host; expectStatus accepts numbers, ranges and lists', async () => {
    status = 204;
    assert.equal(await probe({ type: 'http', path: '/healthz', method: 'head', host: 'svc.internal' }, tcp(port)), undefined);
    assert.deepEqual(seen.at(-1), { method: 'HEAD', url: '/healthz', host: 'svc.internal' });
    assert.equal(await probe({ type: 'http', path: '/healthz' }, tcp(port)), undefined);
    assert.equal(seen.at(-1)!.host, `${LOOP}:${port}`);
    assert.equal(await probe({ type: 'http', path: '/healthz', expectStatus: [200, '204-205'] }, tcp(port)), undefined);
    assert.equal(await probe({ type: 'http', path: '/healthz', expectStatus: 200 }, tcp(port)), 'HTTP 204 to GET /healthz (expected 200)');
    assert.equal(await probe({ type: 'http', path: '/nope' }, tcp(port)), 'HTTP 404 to GET /nope (expected 200-399)');
  });

  it('an endpoint answering 503 becomes unhealthy and comes back when it answers 200 again', async (t) => {
    status = 200;
    const c = cluster({
      id: 'hc-http',
      endpoints: [`${LOOP}:${port}`],
      healthCheck: { type: 'http', path: '/healthz', interval: '100ms', timeout: '1s', healthyThreshold: 2, unhealthyThreshold: 2 },
    });
    t.after(() => c.stop());
    assert.equal(c.endpoints[0]!.health, 'unknown');
    await eventually(() => c.endpoints[0]!.health === 'healthy', 'healthy', DEADLINE);
    status = 503;
    await eventually(() => c.endpoints[0]!.health === 'unhealthy', 'unhealthy after 503s', DEADLINE);
    assert.equal(c.endpoints[0]!.lastCheck!.error, 'HTTP 503 to GET /healthz (expected 200-399)');
    status = 200;
    await eventually(() => c.endpoints[0]!.health === 'healthy', 'healthy again', DEADLINE);
  });

  it('runs over the cluster TLS (verifying the certificate against the CA)', async (t) => {
    const certs = testCerts();
    const tlsServer = https.createServer({ cert: certs.server.cert, key: certs.server.key }, (_req, res) => res.end('ok'));
    tlsServer.listen(0, LOOP);
    await once(tlsServer, 'listening');
    t.after(() => new Promise<void>((r) => tlsServer.close(() => r())));
    const p = (tlsServer.address() as net.AddressInfo).port;
    const tlsOpts = buildClientTlsOptions({ ca: certs.ca.certPath, rejectUnauthorized: true, alpn: [] }, LOOP);
    assert.equal(await probe({ type: 'http' }, { ...tcp(p), tls: tlsOpts }), undefined);
    // Plain HTTP to a TLS port fails.
    assert.notEqual(await probe({ type: 'http', timeout: '1s' }, tcp(p), 1000), undefined);
    // And a cluster with tls gets healthy.
    const c = cluster({
      id: 'hc-https',
      endpoints: [`${LOOP}:${p}`],
      tls: { ca: certs.ca.certPath },
      healthCheck: { type: 'http', interval: '100ms', healthyThreshold: 1 },
    });
    t.after(() => c.stop());
    await eventually(() => c.endpoints[0]!.health === 'healthy', 'healthy over TLS', DEADLINE);
  });
});

describe('health checks: redis', () => {
  it('PING answered +PONG by the real Redis; a closed port fails', async (t) => {
    if (!needService(t, await reachable(SERVICES.redis.host, SERVICES.redis.port), 'redis')) return;
    assert.equal(await probe({ type: 'redis' }, tcp(SERVICES.redis.port)), undefined);
    const closed = await freePort();
    assert.match((await probe({ type: 'redis' }, tcp(closed))) ?? '', /ECONNREFUSED/);
    const c = cluster({
      id: 'hc-redis',
      endpoints: [`${LOOP}:${SERVICES.redis.port}`, `${LOOP}:${closed}`],
      healthCheck: { type: 'redis', interval: '100ms', healthyThreshold: 1, unhealthyThreshold: 1 },
    });
    t.after(() => c.stop());
    await eventually(() => c.endpoints[0]!.health === 'healthy' && c.endpoints[1]!.health === 'unhealthy', 'redis healthy, closed port unhealthy', DEADLINE);
  });

  it('AUTH with password (and ACL username) before PING; a missing or wrong password fails with what Redis said', async (t) => {
    const port = await freePort();
    let proc: ChildProcess;
    try {
      proc = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', LOOP, '--save', '', '--appendonly', 'no', '--requirepass', 's3cret'], { stdio: 'ignore' });
    } catch {
      needPeer(t, false, 'no /usr/bin/redis-server');
      return;
    }
    t.after(() => proc.kill());
    const up = async (): Promise<boolean> => reachable(LOOP, port);
    const deadline = Date.now() + DEADLINE;
    while (!(await up()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (!needPeer(t, await up(), 'redis-server with a password did not start')) return;
    assert.equal(await probe({ type: 'redis', password: 's3cret' }, tcp(port)), undefined);
    assert.equal(await probe({ type: 'redis', username: 'default', password: 's3cret' }, tcp(port)), undefined);
    assert.match((await probe({ type: 'redis' }, tcp(port))) ?? '', /^redis: PING answered -NOAUTH/);
    assert.match((await probe({ type: 'redis', password: 'wrong' }, tcp(port))) ?? '', /^redis: AUTH answered -(WRONGPASS|ERR)/);
  });
});

describe('health checks: postgres', () => {
  it('startup as postgres on db test and SELECT 1 pass against the real server; a missing database fails', async (t) => {
    if (!needService(t, await reachable(SERVICES.postgres.host, SERVICES.postgres.port), 'postgres')) return;
    assert.equal(await probe({ type: 'postgres', user: 'postgres', database: 'test' }, tcp(SERVICES.postgres.port)), undefined);
    assert.match((await probe({ type: 'postgres', user: 'postgres', database: 'no_such_db_h3' }, tcp(SERVICES.postgres.port))) ?? '', /^postgres: .*no_such_db_h3/);
    const closed = await freePort();
    const c = cluster({
      id: 'hc-pg',
      endpoints: [`${LOOP}:${SERVICES.postgres.port}`, `${LOOP}:${closed}`],
      healthCheck: { type: 'postgres', database: 'test', interval: '100ms', healthyThreshold: 1, unhealthyThreshold: 1 },
    });
    t.after(() => c.stop());
    await eventually(() => c.endpoints[0]!.health === 'healthy' && c.endpoints[1]!.health === 'unhealthy', 'pg healthy, closed port unhealthy', DEADLINE);
  });

  it('a server that is not PostgreSQL fails the check with a reason', async (t) => {
    const junk = await startServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    t.after(() => junk.close());
    const why = await probe({ type: 'postgres' }, tcp(junk.port));
    assert.ok(why !== undefined && why.length > 0, String(why));
  });
});

describe('health checks: mysql', () => {
  it('handshake as root (no password) and COM_PING pass against MariaDB; a wrong port fails', async (t) => {
    if (!needService(t, await reachable(SERVICES.mysql.host, SERVICES.mysql.port), 'mysql')) return;
    assert.equal(await probe({ type: 'mysql', user: 'root' }, tcp(SERVICES.mysql.port)), undefined);
    assert.equal(await probe({ type: 'mysql', user: 'root', database: 'test' }, tcp(SERVICES.mysql.port)), undefined);
    assert.match((await probe({ type: 'mysql', user: 'root', password: 'definitely-wrong' }, tcp(SERVICES.mysql.port))) ?? '', /^mysql: login as root: error 1045/);
    const closed = await freePort();
    assert.match((await probe({ type: 'mysql' }, tcp(closed))) ?? '', /ECONNREFUSED/);
    const c = cluster({
      id: 'hc-mysql',
      endpoints: [`${LOOP}:${SERVICES.mysql.port}`, `${LOOP}:${closed}`],
      healthCheck: { type: 'mysql', interval: '100ms', healthyThreshold: 1, unhealthyThreshold: 1 },
    });
    t.after(() => c.stop());
    await eventually(() => c.endpoints[0]!.health === 'healthy' && c.endpoints[1]!.health === 'unhealthy', 'mysql healthy, closed port unhealthy', DEADLINE);
  });

  it('scrambles: mysql_native_password and caching_sha2_password match the published algorithms', () => {
    const salt = Buffer.from('0123456789abcdefghij');
    assert.equal(mysqlScramble('mysql_native_password', '', salt)!.length, 0);
    assert.equal(mysqlScramble('mysql_native_password', 'pw', salt)!.length, 20);
    assert.equal(mysqlScramble('caching_sha2_password', 'pw', salt)!.length, 32);
    assert.equal(mysqlScramble('sha256_password', 'pw', salt), undefined);
  });
});

describe('health check config', () => {
  it('defaults, normalisation and errors naming the path', () => {
    const hc = check({ type: 'postgres', interval: '2s' });
    assert.deepEqual(hc, { type: 'postgres', interval: 2000, timeout: 2000, healthyThreshold: 2, unhealthyThreshold: 3, jitter: 200, user: 'postgres', database: 'postgres' });
    assert.deepEqual(check({ type: 'http', expectStatus: ['200-299', 404] }), {
      type: 'http',
      interval: 5000,
      timeout: 2000,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      jitter: 500,
      method: 'GET',
      path: '/',
      expectStatus: [
        [200, 299],
        [404, 404],
      ],
    });
    const bad = (raw: unknown): string[] => {
      try {
        parseObjectConfig('cluster', { id: 'x', endpoints: ['127.0.0.1:1'], healthCheck: raw });
        return [];
      } catch (err) {
        return ((err as { details?: { issues?: Array<{ path: string; message: string }> } }).details?.issues ?? []).map((i) => `${i.path}: ${i.message}`);
      }
    };
    assert.deepEqual(bad({ type: 'htp' }), ['healthCheck.type: expected one of "tcp", "http", "redis", "postgres", "mysql", got "htp" (did you mean "http"?)']);
    assert.deepEqual(bad({ type: 'http', expectStatus: '200-99' }), ['healthCheck.expectStatus: expected an HTTP status 100-599, a range like "200-399", or a list of these, got "200-99"']);
    assert.deepEqual(bad({ type: 'tcp', path: '/x' }), ['healthCheck.path: unknown key']);
  });
});
