/**
 * switchyard_request_duration_seconds and switchyard_connection_duration_seconds, scraped from the admin API's
 * GET /metrics after real traffic through protocol listeners: a real Redis (127.0.0.1:6379, raw RESP so the number
 * of requests is exact) and a real HTTP server. Counts are checked exactly; times only as lower bounds.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { AdminServer } from '../../src/admin/server.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { startYard } from '../helpers/yard.js';
import { LOOPBACK } from '../helpers/admin.js';
import { eventually } from '../helpers/net.js';
import { needService, reachable, SERVICES } from '../helpers/services.js';

let redisUp = false;
before(async () => {
  redisUp = await reachable(SERVICES.redis.host, SERVICES.redis.port);
});

interface Stack {
  yard: Switchyard;
  admin: AdminServer;
  port: number;
  close(): Promise<void>;
}

async function stack(protocol: string | undefined, upstream: string, faults: unknown[] = []): Promise<Stack> {
  const yard = await startYard({
    listeners: [{ id: 'l1', listen: '127.0.0.1:0', ...(protocol ? { protocol } : {}), faults }],
    clusters: [{ id: 'c1', endpoints: [upstream] }],
    routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
  });
  const admin = await AdminServer.start(yard, { listen: LOOPBACK });
  const a = yard.listeners.get('l1')!.address!;
  return {
    yard,
    admin,
    port: a.kind === 'tcp' ? a.port : 0,
    async close() {
      await admin.close();
      await yard.close();
    },
  };
}

/** `name` samples of GET /metrics: label text (as written) → value. */
async function samples(admin: AdminServer, name: string): Promise<Map<string, number>> {
  const res = await fetch(`${admin.url}/metrics`);
  assert.equal(res.status, 200);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    const m = /^(\S+?)(\{.*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}

const REQ = '{listener="l1",route="r1",protocol="redis"}';

/** Write RESP commands in one write and read until `replies` CRLF-terminated simple replies arrived. */
async function redisExchange(sock: net.Socket, commands: string[], replies: number): Promise<string[]> {
  let text = '';
  const done = new Promise<string[]>((resolve, reject) => {
    const onData = (b: Buffer): void => {
      text += b.toString('latin1');
      const lines = text.split('\r\n').filter((l) => l !== '');
      if (lines.length >= replies) {
        sock.off('data', onData);
        resolve(lines);
      }
    };
    sock.on('data', onData);
    sock.once('error', reject);
    setTimeout(() => reject(new Error(`no ${replies} replies (got ${JSON.stringify(text)})`)), 10_000).unref();
  });
  sock.write(commands.map((c) => `*1\r\n$${c.length}\r\n${c}\r\n`).join(''));
  return done;
}

async function connectTo(port: number): Promise<net.Socket> {
  const sock = net.connect({ host: '127.0.0.1', port });
  await once(sock, 'connect');
  return sock;
}

test('redis: a pipeline of N commands is N observations; one more is N+1; closing observes the connection', async (t) => {
  if (!needService(t, redisUp, 'redis')) return;
  const s = await stack('redis', `${SERVICES.redis.host}:${SERVICES.redis.port}`);
  try {
    const before = await samples(s.admin, 'switchyard_request_duration_seconds_count');
    assert.equal(before.get(REQ), 0, 'the series exists from the start, at 0');
    const sock = await connectTo(s.port);
    const replies = await redisExchange(sock, Array.from({ length: 7 }, () => 'PING'), 7);
    assert.deepEqual(replies, Array.from({ length: 7 }, () => '+PONG'));
    assert.equal((await samples(s.admin, 'switchyard_request_duration_seconds_count')).get(REQ), 7);
    await redisExchange(sock, ['PING'], 1);
    assert.equal((await samples(s.admin, 'switchyard_request_duration_seconds_count')).get(REQ), 8);
    const buckets = await samples(s.admin, 'switchyard_request_duration_seconds_bucket');
    assert.equal(buckets.get('{listener="l1",route="r1",protocol="redis",le="+Inf"}'), 8);

    const conn = '{listener="l1"}';
    assert.equal((await samples(s.admin, 'switchyard_connection_duration_seconds_count')).get(conn), 0, 'not observed while open');
    sock.end();
    await once(sock, 'close');
    const listener = s.yard.listeners.get('l1') as unknown as { connectionDuration: { count: number } };
    await eventually(() => listener.connectionDuration.count === 1, 'the connection closed on the proxy');
    assert.equal((await samples(s.admin, 'switchyard_connection_duration_seconds_count')).get(conn), 1);
    assert.equal((await samples(s.admin, 'switchyard_connection_duration_seconds_bucket')).get('{listener="l1",le="14400"}'), 1);
  } finally {
    await s.close();
  }
});

test('redis: injected error replies are answers too, in a pipeline', async (t) => {
  if (!needService(t, redisUp, 'redis')) return;
  const s = await stack('redis', `${SERVICES.redis.host}:${SERVICES.redis.port}`, [{ type: 'error', toxicity: 1, match: { command: 'ECHO' } }]);
  try {
    const sock = await connectTo(s.port);
    // PING, an injected -ERR (ECHO without its argument never reaches Redis), PING: answered in order.
    const replies = await redisExchange(sock, ['PING', 'ECHO', 'PING'], 3);
    assert.equal(replies[0], '+PONG');
    assert.match(replies[1]!, /^-/);
    assert.equal(replies[2], '+PONG');
    assert.equal((await samples(s.admin, 'switchyard_request_duration_seconds_count')).get(REQ), 3);
    sock.destroy();
  } finally {
    await s.close();
  }
});

test('redis: a 200 ms downstream latency fault puts the observation above 0.1 s', async (t) => {
  if (!needService(t, redisUp, 'redis')) return;
  const s = await stack('redis', `${SERVICES.redis.host}:${SERVICES.redis.port}`, [{ type: 'latency', stream: 'downstream', attributes: { latency: 200 } }]);
  try {
    const sock = await connectTo(s.port);
    await redisExchange(sock, ['PING', 'PING'], 2);
    const buckets = await samples(s.admin, 'switchyard_request_duration_seconds_bucket');
    assert.equal(buckets.get('{listener="l1",route="r1",protocol="redis",le="0.1"}'), 0, 'nothing answered within 0.1 s');
    assert.equal(buckets.get('{listener="l1",route="r1",protocol="redis",le="+Inf"}'), 2);
    assert.ok((await samples(s.admin, 'switchyard_request_duration_seconds_sum')).get(REQ)! >= 0.2 * 2 - 0.01);
    sock.destroy();
  } finally {
    await s.close();
  }
});

test('http: every request through a keep-alive connection is one observation; a raw TCP listener has no series', async () => {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(`hello ${req.url}`));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address() as net.AddressInfo;
  const s = await stack('http', `127.0.0.1:${addr.port}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < 5; i++) {
      const body = await new Promise<string>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: s.port, path: `/n/${i}`, method: i % 2 === 0 ? 'GET' : 'POST', agent }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.end(i % 2 === 0 ? undefined : 'some body');
      });
      assert.equal(body, `hello /n/${i}`);
    }
    const counts = await samples(s.admin, 'switchyard_request_duration_seconds_count');
    assert.equal(counts.get('{listener="l1",route="r1",protocol="http"}'), 5);
    agent.destroy();
    const listener = s.yard.listeners.get('l1') as unknown as { connectionDuration: { count: number } };
    await eventually(() => listener.connectionDuration.count === 1, 'the keep-alive connection closed on the proxy');
  } finally {
    agent.destroy();
    await s.close();
    server.close();
  }
  // A listener without a protocol: connection durations only.
  const raw = await stack(undefined, `127.0.0.1:${addr.port}`);
  try {
    const counts = await samples(raw.admin, 'switchyard_request_duration_seconds_count');
    assert.equal(counts.size, 0);
    assert.equal((await samples(raw.admin, 'switchyard_connection_duration_seconds_count')).get('{listener="l1"}'), 0);
  } finally {
    await raw.close();
  }
});
