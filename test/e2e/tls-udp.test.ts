import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { connect, readAll, eventually } from '../helpers/net.js';
import { startYard } from '../helpers/yard.js';
import { testCerts } from '../helpers/certs.js';

describe('TLS through the proxy', () => {
  test('terminates TLS at the listener and originates verified TLS to the upstream', async () => {
    const certs = testCerts();
    // A real TLS upstream that requires nothing but answers with what it saw.
    const upstream = tls.createServer({ cert: certs.server.cert, key: certs.server.key, allowHalfOpen: true }, (s) => {
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (got += d));
      s.on('end', () => s.end(`upstream saw: ${got} over ${s.getProtocol()}`));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const upPort = (upstream.address() as import('node:net').AddressInfo).port;
    const yard = await startYard({
      listeners: [{ id: 'tls-in', listen: '127.0.0.1:0', tls: { cert: certs.server.certPath, key: certs.server.keyPath } }],
      clusters: [{ id: 'tls-out', endpoints: [`127.0.0.1:${upPort}`], tls: { ca: certs.ca.certPath, servername: 'localhost' } }],
      routes: [{ id: 'r', listener: 'tls-in', cluster: 'tls-out' }],
    });
    try {
      const a = yard.listeners.get('tls-in')!.address!;
      const client = tls.connect({ host: '127.0.0.1', port: a.kind === 'tcp' ? a.port : 0, ca: certs.ca.cert, servername: 'localhost', allowHalfOpen: true } as tls.ConnectionOptions);
      await once(client, 'secureConnect');
      client.end('secret');
      const reply = (await readAll(client)).toString();
      assert.match(reply, /^upstream saw: secret over TLSv1\.[23]$/);
    } finally {
      await yard.close();
      upstream.close();
    }
  });

  test('upstream certificate verification is on by default: an untrusted upstream is refused and counted', async () => {
    const certs = testCerts();
    const upstream = tls.createServer({ cert: certs.server.cert, key: certs.server.key }, (s) => s.end('should not get here'));
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const upPort = (upstream.address() as import('node:net').AddressInfo).port;
    const yard = await startYard({
      listeners: [{ id: 'l', listen: '127.0.0.1:0' }],
      clusters: [{ id: 'c', endpoints: [`127.0.0.1:${upPort}`], tls: {} }], // Node's root CAs: our test CA is not trusted
      routes: [{ id: 'r', listener: 'l', cluster: 'c' }],
    });
    try {
      const a = yard.listeners.get('l')!.address!;
      const client = await connect(a.kind === 'tcp' ? a.port : 0);
      assert.equal((await readAll(client)).length, 0);
      await eventually(() => yard.listeners.get('l')!.stats.errors.get('SWY_UPSTREAM_TLS') === 1, 'TLS failure counted as SWY_UPSTREAM_TLS');
    } finally {
      await yard.close();
      upstream.close();
    }
  });
});

describe('UDP through the proxy', () => {
  test('a udp listener routes each client flow to the cluster and replies reach the right client', async () => {
    const server = dgram.createSocket('udp4');
    server.on('message', (msg, rinfo) => server.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address));
    server.bind(0, '127.0.0.1');
    await once(server, 'listening');
    const yard = await startYard({
      listeners: [{ id: 'u', transport: 'udp', listen: '127.0.0.1:0', udp: { flowIdleTimeout: '1s' } }],
      clusters: [{ id: 'c', endpoints: [`127.0.0.1:${server.address().port}`] }],
      routes: [{ id: 'r', listener: 'u', cluster: 'c' }],
    });
    const clients: dgram.Socket[] = [];
    try {
      const a = yard.listeners.get('u')!.address!;
      const port = a.kind === 'tcp' ? a.port : 0;
      for (let i = 0; i < 3; i++) {
        const c = dgram.createSocket('udp4');
        c.bind(0, '127.0.0.1');
        await once(c, 'listening');
        clients.push(c);
      }
      const big = Buffer.alloc(60_000, 7);
      const replies = clients.map((c, i) => {
        const p = once(c, 'message') as Promise<[Buffer]>;
        c.send(i === 0 ? big : Buffer.from(`client-${i}`), port, '127.0.0.1');
        return p;
      });
      const got = await Promise.all(replies);
      assert.equal(got[0]![0].length, 60_005); // no truncation
      assert.equal(got[1]![0].toString(), 'echo:client-1');
      assert.equal(got[2]![0].toString(), 'echo:client-2');
      const stats = yard.listeners.get('u')!.stats;
      assert.equal(stats.total, 3);
      assert.equal(yard.routes.get('r')!.stats.total, 3);
      // idle flows expire and are reported as such
      const listener = yard.listeners.get('u') as unknown as { flowStats(): { flowsExpired: number } };
      await eventually(() => listener.flowStats().flowsExpired === 3, 'flows expired');
      const metrics = await yard.metrics.metrics();
      assert.match(metrics, /switchyard_udp_flows_closed_total\{id="u",reason="idle"\} 3/);
      assert.match(metrics, /switchyard_connections_active\{kind="listener",id="u"\} 0/);
    } finally {
      for (const c of clients) c.close();
      await yard.close();
      server.close();
    }
  });
});
