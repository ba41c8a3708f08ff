import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { startServer, startEchoServer, connect, readAll, closeOutcome, pseudoRandomChunks, writeChunks, hashAll, freePort, eventually } from '../helpers/net.js';
import { startProxy as startYardProxy } from '../helpers/yard.js';
import { AdminServer } from '../../src/admin/server.js';
import { spliceInfo } from '../../src/net/splice.js';
import { LOOPBACK } from '../helpers/admin.js';
import { testCerts } from '../helpers/certs.js';

/**
 * Every raw-TCP test runs on both data paths: the JS byte path (`socket.splice: off`) and the splice(2) addon
 * (`socket.splice: auto`, the default where the addon is built). `SWITCHYARD_SPLICE_ADDON=off` runs the JS path only,
 * `SWITCHYARD_TEST_TCP_PATHS=splice` the splice path only (tcp-proxy-loop.test.ts).
 */
const PATHS =
  process.env['SWITCHYARD_SPLICE_ADDON'] === 'off'
    ? (['js'] as const)
    : process.env['SWITCHYARD_TEST_TCP_PATHS'] === 'splice'
      ? (['splice'] as const)
      : (['js', 'splice'] as const);

for (const dataPath of PATHS) describe(`TCP data path (${dataPath})`, () => {
  const splice = dataPath === 'splice' ? 'auto' : 'off';
  let handedOverAtStart = 0;
  /** The shared helper, with the listener on this suite's data path. */
  const startProxy = (opts: Parameters<typeof startYardProxy>[0]): ReturnType<typeof startYardProxy> => {
    handedOverAtStart = spliceInfo().handedOver;
    const listener = opts.listener ?? {};
    return startYardProxy({ ...opts, listener: { ...listener, socket: { ...(listener['socket'] as object | undefined), splice } } });
  };
  /** The connections since startProxy took this suite's path (the splice suite fails when the addon is not built). */
  const assertPath = (connections = 1): void => {
    const handed = spliceInfo().handedOver - handedOverAtStart;
    if (dataPath === 'splice') {
      assert.ok(spliceInfo().available, `the splice addon is built and loads: ${spliceInfo().reason}`);
      assert.equal(handed, connections, 'the connections went through the splice addon');
      const driver = process.env['SWITCHYARD_SPLICE_THREAD'];
      if (driver === 'loop' || driver === 'worker') assert.equal(spliceInfo().driver, driver, 'the addon runs the driver asked for');
    } else {
      assert.equal(handed, 0, 'the connections took the JS path');
    }
  };

  test('forwards bytes exactly in both directions at once (64 MiB each way), counted into listener, route and cluster', async () => {
    // The server hashes what it receives and, concurrently, sends its own stream.
    const size = 64 * 1024 * 1024;
    let serverGot: Promise<{ sha256: string; bytes: number }> | undefined;
    let serverSent: Promise<string> | undefined;
    const upstream = await startServer((s) => {
      serverGot = hashAll(s);
      serverSent = writeChunks(s, pseudoRandomChunks(size, 2));
    });
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`] });
    try {
      const client = await connect(port);
      const clientGot = hashAll(client);
      const clientSent = await writeChunks(client, pseudoRandomChunks(size, 1));
      const got = await clientGot;
      await eventually(() => serverGot !== undefined, 'server connection');
      const up = await serverGot!;
      assert.equal(up.bytes, size);
      assert.equal(up.sha256, clientSent);
      assert.equal(got.bytes, size);
      assert.equal(got.sha256, await serverSent!);
      const stats = yard.listeners.get('l1')!.stats;
      await eventually(() => stats.active === 0, 'session closed');
      for (const s of [stats, yard.routes.get('r1')!.stats, yard.clusters.get('c1')!.stats]) {
        assert.equal(s.bytesToUpstream, size);
        assert.equal(s.bytesToDownstream, size);
        assert.equal(s.total, 1);
        assert.equal(s.errors.size, 0, JSON.stringify([...s.errors]));
      }
      assertPath();
    } finally {
      await yard.close();
      await upstream.close();
    }
  });

  test('half-close: the client FIN reaches the server, whose answer still reaches the client', async () => {
    const upstream = await startServer(async (s) => {
      const got = await readAll(s); // completes only on the forwarded FIN
      s.end(`got:${got.toString()}`);
    });
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`] });
    try {
      const client = await connect(port);
      client.end('abc');
      assert.equal((await readAll(client)).toString(), 'got:abc');
      await eventually(() => yard.listeners.get('l1')!.stats.active === 0, 'session closed');
      assert.equal(yard.listeners.get('l1')!.stats.errors.size, 0);
      assertPath();
    } finally {
      await yard.close();
      await upstream.close();
    }
  });

  test('half-close the other way: server FIN first, client keeps sending', async () => {
    let serverGot: Promise<Buffer> | undefined;
    const upstream = await startServer((s) => {
      s.end('hello'); // the server is done talking but keeps listening
      serverGot = readAll(s);
    });
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`] });
    try {
      const client = await connect(port);
      assert.equal((await readAll(client)).toString(), 'hello');
      client.end('late data');
      assert.equal((await serverGot!).toString(), 'late data');
      await eventually(() => yard.listeners.get('l1')!.stats.active === 0, 'session closed');
      assertPath();
    } finally {
      await yard.close();
      await upstream.close();
    }
  });

  test('an RST from the server becomes an RST to the client', async () => {
    const upstream = await startServer((s) => {
      s.once('data', () => s.resetAndDestroy());
    });
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`] });
    try {
      const client = await connect(port);
      const outcome = closeOutcome(client);
      client.write('trigger');
      const err = await outcome;
      assert.equal(err?.code, 'ECONNRESET');
      await eventually(() => (yard.listeners.get('l1')!.stats.errors.get('SWY_UPSTREAM_RESET') ?? 0) === 1, 'reset counted');
      assertPath();
    } finally {
      await yard.close();
      await upstream.close();
    }
  });

  test('an RST from the client becomes an RST to the server', async () => {
    let serverOutcome: Promise<NodeJS.ErrnoException | undefined> | undefined;
    const upstream = await startServer((s) => {
      serverOutcome = closeOutcome(s);
      s.write('ready');
    });
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`] });
    try {
      const client = await connect(port);
      await once(client, 'data'); // the upstream connection exists
      client.resetAndDestroy();
      const err = await serverOutcome!;
      assert.equal(err?.code, 'ECONNRESET');
      await eventually(() => (yard.listeners.get('l1')!.stats.errors.get('SWY_CLIENT_RESET') ?? 0) === 1, 'reset counted');
      assertPath();
    } finally {
      await yard.close();
      await upstream.close();
    }
  });

  test('upstream refused: the client is closed promptly and the error is counted', async () => {
    const dead = await freePort();
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${dead}`] });
    try {
      const client = await connect(port);
      const data = await readAll(client); // EOF, not a hang
      assert.equal(data.length, 0);
      const stats = yard.listeners.get('l1')!.stats;
      await eventually(() => stats.errors.get('SWY_UPSTREAM_REFUSED') === 1, 'refusal counted');
      assert.equal(yard.clusters.get('c1')!.stats.errors.get('SWY_UPSTREAM_REFUSED'), 1);
      await eventually(() => stats.active === 0, 'session gone');
    } finally {
      await yard.close();
    }
  });

  test('upstream connect timeout closes the client and counts SWY_UPSTREAM_TIMEOUT', async (t) => {
    // A listener whose accept queue is full drops SYNs, so connecting hangs: a real connect timeout on loopback.
    const py = spawn('python3', ['-c', 'import socket,time,sys\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(30)'], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => py.kill());
    const [line] = (await once(py.stdout, 'data')) as [Buffer];
    const port0 = Number(line.toString().trim());
    const fillers: net.Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const s = net.connect({ port: port0, host: '127.0.0.1' });
      s.on('error', () => undefined);
      fillers.push(s);
    }
    t.after(() => fillers.forEach((s) => s.destroy()));
    await new Promise((r) => setTimeout(r, 100));
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${port0}`], cluster: { connectTimeout: '300ms' } });
    try {
      const client = await connect(port);
      const started = Date.now();
      await readAll(client);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 250, `closed after ${elapsed} ms, before the connect timeout`);
      assert.equal(yard.listeners.get('l1')!.stats.errors.get('SWY_UPSTREAM_TIMEOUT'), 1);
    } finally {
      await yard.close();
    }
  });

  test('idle timeout closes silent connections and counts SWY_IDLE_TIMEOUT', async () => {
    const upstream = await startEchoServer();
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`], listener: { idleTimeout: '1s' } });
    try {
      const client = await connect(port);
      client.write('ping');
      const [echo] = (await once(client, 'data')) as [Buffer];
      assert.equal(echo.toString(), 'ping');
      await readAll(client); // then silence → closed by the proxy
      assert.equal(yard.listeners.get('l1')!.stats.errors.get('SWY_IDLE_TIMEOUT'), 1);
      assertPath();
    } finally {
      await yard.close();
      await upstream.close();
    }
  });

  test('max connections: extra clients are closed and counted, existing ones keep working', async () => {
    const upstream = await startEchoServer();
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`], listener: { maxConnections: 2 } });
    try {
      const a = await connect(port);
      const b = await connect(port);
      a.write('a');
      await once(a, 'data');
      b.write('b');
      await once(b, 'data');
      const c = await connect(port);
      await readAll(c).catch(() => Buffer.alloc(0));
      await eventually(() => yard.listeners.get('l1')!.stats.errors.get('SWY_MAX_CONNECTIONS') === 1, 'drop counted');
      a.write('still');
      const [again] = (await once(a, 'data')) as [Buffer];
      assert.equal(again.toString(), 'still');
      a.destroy();
      b.destroy();
    } finally {
      await yard.close();
      await upstream.close();
    }
  });

  test('IPv6 loopback on both sides', async () => {
    const upstream = await startEchoServer('::1');
    const { yard, port } = await startProxy({ upstreams: [`[::1]:${upstream.port}`], listen: '[::1]:0' });
    try {
      const client = await connect(port, '::1');
      client.end('over ipv6');
      assert.equal((await readAll(client)).toString(), 'over ipv6');
    } finally {
      await yard.close();
      await upstream.close();
    }
  });

  test('Unix domain sockets on both sides', async () => {
    const dir = os.tmpdir();
    const upPath = path.join(dir, `swy-up-${process.pid}.sock`);
    const proxyPath = path.join(dir, `swy-proxy-${process.pid}.sock`);
    const upstream = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
    upstream.listen(upPath);
    await once(upstream, 'listening');
    const { yard } = await startProxy({ upstreams: [`unix:${upPath}`], listen: `unix:${proxyPath}` });
    try {
      const client = net.connect({ path: proxyPath, allowHalfOpen: true });
      await once(client, 'connect');
      client.end('over unix');
      assert.equal((await readAll(client)).toString(), 'over unix');
      assertPath(0); // Unix sockets always take the JS path
    } finally {
      await yard.close();
      await new Promise<void>((r) => upstream.close(() => r()));
    }
  });

  test('round robin over a cluster of two endpoints', async () => {
    const a = await startServer((s) => s.end('A'));
    const b = await startServer((s) => s.end('B'));
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`] });
    try {
      const seen: string[] = [];
      for (let i = 0; i < 4; i++) {
        const c = await connect(port);
        c.end();
        seen.push((await readAll(c)).toString());
      }
      assert.deepEqual(seen, ['A', 'B', 'A', 'B']);
    } finally {
      await yard.close();
      await a.close();
      await b.close();
    }
  });

  test('graceful stop: live connections finish within the drain deadline, new ones are refused', async () => {
    const upstream = await startEchoServer();
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`] });
    try {
      const client = await connect(port);
      client.write('before');
      await once(client, 'data');
      const stopping = yard.removeListener('l1', { drainTimeout: 5000 });
      await eventually(() => yard.listeners.get('l1')?.state === 'stopping', 'stopping');
      // new connections are refused…
      await assert.rejects(connect(port), /ECONNREFUSED/);
      // …while the live one still works, and finishing it ends the drain early.
      client.write('during');
      const [during] = (await once(client, 'data')) as [Buffer];
      assert.equal(during.toString(), 'during');
      client.end();
      await readAll(client);
      const l = await stopping;
      assert.equal(l.state, 'stopped');
    } finally {
      await yard.close();
      await upstream.close();
    }
  });

  test('graceful stop closes connections still open at the drain deadline', async () => {
    const upstream = await startEchoServer();
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`] });
    try {
      const client = await connect(port);
      client.write('x');
      await once(client, 'data');
      const eof = readAll(client); // the proxy closes its side: the client sees EOF
      const t0 = Date.now();
      await yard.removeListener('l1', { drainTimeout: 200 });
      await eof;
      assert.ok(Date.now() - t0 >= 180);
    } finally {
      await yard.close();
      await upstream.close();
    }
  });

  test('counts bytes while the connection stays open (what the metrics read)', async () => {
    const upstream = await startEchoServer();
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`] });
    try {
      const client = await connect(port);
      const size = 1024 * 1024;
      const echoed = readBytes(client, size);
      client.write(Buffer.alloc(size, 7));
      assert.equal((await echoed).length, size);
      const stats = yard.listeners.get('l1')!.stats;
      await eventually(() => stats.bytesToUpstream === size && stats.bytesToDownstream === size, 'bytes counted while open');
      assert.equal(stats.active, 1);
      assertPath();
      client.destroy();
    } finally {
      await yard.close();
      await upstream.close();
    }
  });

  test('idle timeout spares a connection that keeps talking, then closes it once silent', async () => {
    const upstream = await startEchoServer();
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`], listener: { idleTimeout: '2s' } });
    try {
      const client = await connect(port);
      let closed = false;
      client.once('close', () => (closed = true));
      const started = Date.now();
      // a round trip every 50 ms for longer than the idle timeout (bounded in count and time)
      for (let i = 0; i < 200 && Date.now() - started < 3000; i++) {
        const echo = readBytes(client, 4);
        client.write('ping');
        assert.equal((await echo).toString(), 'ping');
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(closed, false, 'still open while talking');
      const stats = yard.listeners.get('l1')!.stats;
      assert.equal(stats.errors.get('SWY_IDLE_TIMEOUT'), undefined);
      await readAll(client); // silence → closed by the proxy
      assert.equal(stats.errors.get('SWY_IDLE_TIMEOUT'), 1);
      assertPath();
    } finally {
      await yard.close();
      await upstream.close();
    }
  });

  test('stopping the listener through the admin API mid-transfer closes both sides', async () => {
    let serverSide: net.Socket | undefined;
    const upstream = await startServer((s) => {
      serverSide = s;
      s.on('error', () => undefined); // the proxy's close may come as an RST (unread bytes in its buffers)
      s.once('data', () => s.pause()); // the transfer stalls mid-way: backpressure all the way to the client
    });
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`] });
    const admin = await AdminServer.start(yard, { listen: LOOPBACK });
    try {
      const client = await connect(port);
      client.on('error', () => undefined);
      const clientClosed = new Promise((r) => client.once('close', r)); // once() would reject on the RST
      const writing = writeChunks(client, pseudoRandomChunks(64 * 1024 * 1024, 5)).catch(() => 'interrupted');
      const stats = yard.listeners.get('l1')!.stats;
      await eventually(() => stats.bytesToUpstream > 0 && serverSide !== undefined, 'transfer under way', 30_000);
      const r = await fetch(`${admin.url}/api/v1/listeners/l1`, { method: 'DELETE' });
      assert.equal(r.status, 200, await r.text());
      await clientClosed;
      assert.equal(await writing, 'interrupted');
      assert.equal(yard.listeners.get('l1'), undefined);
      assert.equal(stats.active, 0);
      assert.ok(stats.bytesToUpstream > 0);
      const serverClosed = new Promise((r) => serverSide!.once('close', r));
      serverSide!.once('end', () => serverSide!.end()); // half-open capable: answer the proxy's FIN
      serverSide!.resume();
      await serverClosed;
      assertPath();
    } finally {
      await admin.close();
      await yard.close();
      await upstream.close();
    }
  });

  test('a fault added mid-transfer applies to the live connection, and every byte arrives in order', async () => {
    const upstream = await startEchoServer();
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`] });
    const admin = await AdminServer.start(yard, { listen: LOOPBACK });
    try {
      const client = await connect(port);
      client.pause(); // not reading yet: the echo stalls mid-way with bytes in flight in the proxy
      const size = 32 * 1024 * 1024;
      const sent = writeChunks(client, pseudoRandomChunks(size, 9));
      const stats = yard.listeners.get('l1')!.stats;
      await eventually(() => stats.bytesToDownstream > 0, 'transfer under way', 30_000);
      const r = await fetch(`${admin.url}/api/v1/listeners/l1/faults`, {
        method: 'POST',
        body: JSON.stringify({ name: 'lat', type: 'latency', attributes: { latency: 1 } }),
        headers: { 'content-type': 'application/json' },
      });
      const body = (await r.json()) as Record<string, unknown>;
      assert.equal(r.status, 201, JSON.stringify(body));
      assert.deepEqual(body['reaches'], { connections: 1, reached: 1 });
      const received = hashAll(client);
      client.resume();
      const [want, got] = await Promise.all([sent, received]);
      assert.equal(got.bytes, size);
      assert.equal(got.sha256, want, 'echoed bytes identical across the switch');
      const f = (await (await fetch(`${admin.url}/api/v1/listeners/l1/faults/lat`)).json()) as Record<string, unknown>;
      assert.ok((f['injected'] as number) > 0, 'the fault applied to the live connection');
      await eventually(() => stats.active === 0, 'session closed');
      assert.equal(stats.bytesToUpstream, size);
      assert.equal(stats.bytesToDownstream, size);
      assert.equal(stats.errors.size, 0, JSON.stringify([...stats.errors]));
      assertPath();
    } finally {
      await admin.close();
      await yard.close();
      await upstream.close();
    }
  });

  test('a plain listener in front of a TLS cluster forwards on the JS path (the upstream connected paused is resumed)', async () => {
    const certs = testCerts();
    const upstream = tls.createServer({ cert: certs.server.cert, key: certs.server.key, allowHalfOpen: true }, (s) => {
      s.write('hello from TLS\n'); // the proxy's first read of the upstream: lost if it stayed paused
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (got += d));
      s.on('end', () => s.end(`saw: ${got}`));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const upPort = (upstream.address() as net.AddressInfo).port;
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upPort}`], cluster: { tls: { ca: certs.ca.certPath, servername: 'localhost' } } });
    try {
      const client = await connect(port);
      client.end('plain in');
      assert.equal((await readAll(client)).toString(), 'hello from TLS\nsaw: plain in');
      assertPath(0);
    } finally {
      await yard.close();
      upstream.close();
    }
  });
});

/** Read exactly `n` bytes (then stop listening). */
function readBytes(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (d: Buffer): void => {
      chunks.push(d);
      got += d.length;
      if (got < n) return;
      socket.off('data', onData);
      socket.off('error', reject);
      resolve(Buffer.concat(chunks));
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}
