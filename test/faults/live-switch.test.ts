/**
 * Faults added at run time reach live connections of a listener configured without `faults:` (what
 * `switchyard proxy --admin` builds): zero-copy sessions switch to the framed path mid-stream without losing a byte.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminServer } from '../../src/admin/server.js';
import { faultStagePending } from '../../src/faults/stage/fault-stage.js';
import { Session } from '../../src/session/session.js';
import { SessionState } from '../../src/session/state.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { LOOPBACK, startAdminStack, stopAdminStack } from '../helpers/admin.js';
import { connect, eventually, hashAll, pseudoRandomChunks, startEchoServer, startServer, writeChunks } from '../helpers/net.js';
import { startYard } from '../helpers/yard.js';
import { testCerts } from '../helpers/certs.js';

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

async function call(admin: AdminServer, method: string, path: string, body?: unknown): Promise<Reply> {
  const res = await fetch(admin.url + path, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The one live session of listener `id`. */
function onlySession(yard: Switchyard, id: string): Session {
  const sessions = [...(yard.listeners.get(id) as unknown as { sessions: Set<unknown> }).sessions];
  assert.equal(sessions.length, 1, 'one live connection');
  assert.ok(sessions[0] instanceof Session);
  return sessions[0];
}

async function injected(admin: AdminServer, listener: string, fault: string): Promise<number> {
  const r = await call(admin, 'GET', `/api/v1/listeners/${listener}/faults/${fault}`);
  assert.equal(r.status, 200);
  return r.body['injected'] as number;
}

/** Write `data` and read exactly as many bytes back (the socket is paused afterwards, so nothing is read unheard). */
async function roundTrip(c: net.Socket, data: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      chunks.push(d);
      got += d.length;
      if (got >= data.length) {
        c.off('data', onData);
        c.off('error', reject);
        c.pause();
        resolve();
      }
    };
    c.on('data', onData);
    c.once('error', reject);
    c.resume();
  });
  c.write(data);
  await done;
  return Buffer.concat(chunks);
}

describe('faults added at run time reach live connections (listener without faults:)', () => {
  test('a zero-copy connection switches mid-stream under backpressure: every byte arrives, in order, through the new faults', async () => {
    const stack = await startAdminStack();
    const { yard, admin, port } = stack;
    const set = yard.faultSet('l1');
    try {
      const c = await connect(port);
      assert.deepEqual(await roundTrip(c, Buffer.from('ping')), Buffer.from('ping'));
      const session = onlySession(yard, 'l1');
      assert.equal(faultStagePending(set).sessions, 0, 'no fault: the connection is on the zero-copy path');

      // Backpressure: the client stops reading, and keeps writing until the proxy has paused reading it.
      const sent = writeChunks(c, pseudoRandomChunks(48 * 1024 * 1024, 7));
      await eventually(() => session.client.isPaused() && session.upstream !== undefined && (session.upstream as net.Socket).isPaused(), 'the proxy paused both sides (backpressure)', 30_000);

      const first = await call(admin, 'POST', '/api/v1/listeners/l1/faults', { name: 'up', type: 'latency', stream: 'upstream', attributes: { latency: 1 } });
      assert.equal(first.status, 201, JSON.stringify(first.body));
      assert.deepEqual(first.body['reaches'], { connections: 1, reached: 1 });
      assert.equal(first.body['warnings'], undefined);
      // a spliced connection joins the fault stage once the addon has let its sockets go (asynchronously)
      await eventually(() => faultStagePending(set).sessions === 1, 'the live connection runs through the fault stage now', 10_000);
      const second = await call(admin, 'POST', '/api/v1/listeners/l1/faults', { name: 'down', type: 'latency', stream: 'downstream', attributes: { latency: 1 } });
      assert.equal(second.status, 201);

      const received = hashAll(c);
      c.resume(); // reading again releases the backpressure
      const [want, got] = await Promise.all([sent, received]);
      assert.equal(got.bytes, 48 * 1024 * 1024);
      assert.equal(got.sha256, want, 'echoed bytes identical across the switch');
      assert.ok((await injected(admin, 'l1', 'up')) > 0, 'the upstream fault applied to the live connection');
      assert.ok((await injected(admin, 'l1', 'down')) > 0, 'the downstream fault applied to the live connection');
      assert.equal(yard.listeners.get('l1')!.stats.total, 1, 'all of it on the one connection');
    } finally {
      await stopAdminStack(stack);
    }
  });

  test('a fault changes the next bytes on the same connection; removing it keeps traffic byte-exact (the connection stays framed)', async () => {
    const stack = await startAdminStack();
    const { yard, admin, port } = stack;
    const set = yard.faultSet('l1');
    try {
      const c = await connect(port);
      const a = Buffer.from('before the fault\n');
      assert.deepEqual(await roundTrip(c, a), a);
      // slicer cuts every frame into pieces of ~100 bytes: the bytes must still arrive whole and in order.
      const added = await call(admin, 'POST', '/api/v1/listeners/l1/faults', { name: 'slices', type: 'slicer', stream: 'upstream', attributes: { average_size: 100, size_variation: 30 } });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      const b = Buffer.concat([...pseudoRandomChunks(256 * 1024, 11)]);
      assert.deepEqual(await roundTrip(c, b), b);
      assert.ok((await injected(admin, 'l1', 'slices')) > 0, 'the slicer cut the live connection\'s bytes');
      assert.equal((await call(admin, 'DELETE', '/api/v1/listeners/l1/faults/slices')).status, 200);
      const d = Buffer.concat([...pseudoRandomChunks(1024 * 1024, 12)]);
      assert.deepEqual(await roundTrip(c, d), d);
      assert.equal(faultStagePending(set).sessions, 1, 'stays on the framed path once switched');
      // And a fault whose effect is the wire itself: limit_data ends the connection after 5 more bytes downstream.
      assert.equal((await call(admin, 'POST', '/api/v1/listeners/l1/faults', { type: 'limit_data', attributes: { bytes: 5 } })).status, 201);
      c.resume();
      const rest: Buffer[] = [];
      c.on('data', (x: Buffer) => rest.push(x));
      c.on('error', () => undefined);
      c.write('0123456789');
      await once(c, 'end'); // the proxy closed the connection (FIN)
      assert.equal(Buffer.concat(rest).toString(), '01234');
      c.destroy();
      assert.equal(yard.listeners.get('l1')!.stats.total, 1);
    } finally {
      await stopAdminStack(stack);
    }
  });

  test('a half-closed connection (client FIN already handed on) switches: the answer after the switch goes through the fault, whole, then the FIN', async () => {
    let serverSide: net.Socket | undefined;
    const upstream = await startServer((s) => {
      s.resume();
      s.on('end', () => (serverSide = s));
    });
    const yard = await startYard({
      listeners: [{ id: 'l1', listen: '127.0.0.1:0' }],
      clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${upstream.port}`] }],
      routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
    });
    const admin = await AdminServer.start(yard, { listen: LOOPBACK });
    try {
      const c = await connect((yard.listeners.get('l1')!.address as { port: number }).port);
      const received = hashAll(c);
      c.end('question');
      await eventually(() => serverSide !== undefined, 'the client FIN reached the server');
      const session = onlySession(yard, 'l1');
      assert.equal(session.state, SessionState.ClientEnded);
      const r = await call(admin, 'POST', '/api/v1/listeners/l1/faults', { type: 'latency', attributes: { latency: 1 } });
      assert.deepEqual(r.body['reaches'], { connections: 1, reached: 1 });
      const want = await writeChunks(serverSide!, pseudoRandomChunks(4 * 1024 * 1024, 3));
      const got = await received;
      assert.equal(got.sha256, want);
      assert.ok((await injected(admin, 'l1', 'latency_downstream')) > 0);
      await eventually(() => yard.listeners.get('l1')!.stats.active === 0, 'session closed');
      assert.equal(yard.listeners.get('l1')!.stats.errors.size, 0, JSON.stringify([...yard.listeners.get('l1')!.stats.errors]));
    } finally {
      await admin.close();
      await yard.close();
      await upstream.close();
    }
  });

  test('protocol listener (framed from the start, no fault stage): the next request on the same kept-alive connection gets the new error fault', async () => {
    const backend = http.createServer((_req, res) => res.end('from backend'));
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const yard = await startYard({
      listeners: [{ id: 'web', listen: '127.0.0.1:0', protocol: 'http' }],
      clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${(backend.address() as net.AddressInfo).port}`] }],
      routes: [{ id: 'r1', listener: 'web', cluster: 'c1' }],
    });
    const admin = await AdminServer.start(yard, { listen: LOOPBACK });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const port = (yard.listeners.get('web')!.address as { port: number }).port;
    const get = (): Promise<{ status: number; text: string }> =>
      new Promise((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/x', agent }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          })
          .on('error', reject);
      });
    try {
      assert.deepEqual(await get(), { status: 200, text: 'from backend' });
      assert.equal(faultStagePending(yard.faultSet('web')).sessions, 0);
      const r = await call(admin, 'POST', '/api/v1/listeners/web/faults', { type: 'error', attributes: { status: '503' } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.deepEqual(r.body['reaches'], { connections: 1, reached: 1 });
      assert.equal((await get()).status, 503);
      assert.equal((await call(admin, 'DELETE', '/api/v1/listeners/web/faults/error_upstream')).status, 200);
      assert.deepEqual(await get(), { status: 200, text: 'from backend' });
      assert.equal(yard.listeners.get('web')!.stats.total, 1, 'every request on the one kept-alive connection');
    } finally {
      agent.destroy();
      await admin.close();
      await yard.close();
      await new Promise<void>((r) => backend.close(() => r()));
    }
  });

  test('TLS and Unix-socket listeners: live connections take a fault added at run time, byte-exact', async () => {
    const certs = testCerts();
    const echo = await startEchoServer();
    const sock = join(mkdtempSync(join(tmpdir(), 'swy-live-')), 'proxy.sock');
    const yard = await startYard({
      listeners: [
        { id: 'tls', listen: '127.0.0.1:0', tls: { cert: certs.server.certPath, key: certs.server.keyPath } },
        { id: 'unix', listen: `unix:${sock}` },
      ],
      clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${echo.port}`] }],
      routes: [
        { id: 'r1', listener: 'tls', cluster: 'c1' },
        { id: 'r2', listener: 'unix', cluster: 'c1' },
      ],
    });
    const admin = await AdminServer.start(yard, { listen: LOOPBACK });
    const sockets: net.Socket[] = [];
    try {
      const t = tls.connect({ host: '127.0.0.1', port: (yard.listeners.get('tls')!.address as { port: number }).port, ca: certs.ca.cert, servername: 'localhost' });
      await once(t, 'secureConnect');
      const u = net.createConnection({ path: sock, allowHalfOpen: true });
      await once(u, 'connect');
      sockets.push(t, u);
      for (const [id, c] of [['tls', t], ['unix', u]] as const) {
        assert.deepEqual(await roundTrip(c, Buffer.from('before')), Buffer.from('before'));
        const r = await call(admin, 'POST', `/api/v1/listeners/${id}/faults`, { type: 'slicer', attributes: { average_size: 50 } });
        assert.deepEqual(r.body['reaches'], { connections: 1, reached: 1 }, id);
        const data = Buffer.concat([...pseudoRandomChunks(512 * 1024, 5)]);
        assert.deepEqual(await roundTrip(c, data), data, id);
        assert.ok((await injected(admin, id, 'slicer_downstream')) > 0, `${id}: the fault applied to the live connection`);
        assert.equal(yard.listeners.get(id)!.stats.total, 1);
      }
    } finally {
      for (const c of sockets) c.destroy();
      await admin.close();
      await yard.close();
      await echo.close();
    }
  });

  test('the 201 warns about live connections faults cannot reach (a route engine takes them over)', async () => {
    const a = await startEchoServer();
    const b = await startEchoServer();
    const yard = await startYard({
      listeners: [{ id: 'l1', listen: '127.0.0.1:0' }],
      routes: [{ id: 'r1', listener: 'l1', replicate: { variants: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`] } }],
    });
    const admin = await AdminServer.start(yard, { listen: LOOPBACK });
    try {
      const c = await connect((yard.listeners.get('l1')!.address as { port: number }).port);
      c.write('hi');
      await once(c, 'data');
      const r = await call(admin, 'POST', '/api/v1/listeners/l1/faults', { type: 'latency', attributes: { latency: 1 } });
      assert.equal(r.status, 201);
      assert.deepEqual(r.body['reaches'], { connections: 1, reached: 0 });
      const warnings = r.body['warnings'] as string[];
      assert.ok(warnings.some((w) => /1 live connection\(s\) of listener 'l1' are handled by a route engine/.test(w)), JSON.stringify(warnings));
      assert.ok(warnings.some((w) => /new connections either/.test(w)), JSON.stringify(warnings));
      c.destroy();
    } finally {
      await admin.close();
      await yard.close();
      await a.close();
      await b.close();
    }
  });

  test('UDP listeners take no faults: the API says so (400)', async () => {
    const yard = await startYard({
      listeners: [{ id: 'u1', transport: 'udp', listen: '127.0.0.1:0' }],
      clusters: [{ id: 'c1', endpoints: ['127.0.0.1:9'] }],
      routes: [{ id: 'r1', listener: 'u1', cluster: 'c1' }],
    });
    const admin = await AdminServer.start(yard, { listen: LOOPBACK });
    try {
      const r = await call(admin, 'POST', '/api/v1/listeners/u1/faults', { type: 'latency' });
      assert.equal(r.status, 400);
      assert.match((r.body['error'] as { message: string }).message, /listener 'u1' is udp: faults need a tcp listener/);
    } finally {
      await admin.close();
      await yard.close();
    }
  });
});
