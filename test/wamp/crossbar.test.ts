/** A Crossbar proxy worker's connections/routes/transports pasted as they are: converted, started, joined through. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crossbarProxyConfig } from '../../src/config/wamp-crossbar.js';
import { startYard } from '../helpers/yard.js';
import { joined, startFox } from './stack.js';

test('Crossbar proxy worker config: routes {realm: {role: [ids]}} round robin over two connections', async (t) => {
  const a = await startFox();
  const b = await startFox();
  const worker = {
    type: 'proxy',
    connections: {
      conn_a: { transport: { type: 'websocket', endpoint: { type: 'tcp', host: 'localhost', port: a.port }, url: `ws://localhost:${a.port}/`, serializers: ['json'] }, auth: { 'anonymous-proxy': { type: 'static' } } },
      conn_b: { transport: { type: 'websocket', endpoint: { type: 'tcp', host: '127.0.0.1', port: b.port }, url: `ws://127.0.0.1:${b.port}/`, serializers: ['json'] } },
    },
    routes: { realm1: { anonymous: ['conn_a', 'conn_b'], user: 'conn_b' } },
    transports: [{ type: 'web', endpoint: { type: 'tcp', port: 0, interface: '127.0.0.1' }, paths: { '/': { type: 'static', directory: '../web' }, ws: { type: 'websocket', serializers: ['cbor', 'msgpack', 'json'], auth: { anonymous: { type: 'static', role: 'anonymous' } } } } }],
  };
  const converted = crossbarProxyConfig(worker);
  assert.deepEqual(
    converted.routes.map((r) => [r['id'], r['match'], r['cluster']]),
    [
      ['route000', { realm: 'realm1', authrole: 'anonymous' }, 'conn_a'],
      ['route001', { realm: 'realm1', authrole: 'anonymous' }, 'conn_b'],
      ['route002', { realm: 'realm1', authrole: 'user' }, 'conn_b'],
    ],
  );
  assert.deepEqual(converted.listeners[0], { id: 'transport000', listen: '127.0.0.1:0', protocol: { type: 'wamp', path: '/ws', serializers: ['cbor', 'msgpack', 'json'], auth: { anonymous: { role: 'anonymous' } } } });
  const yard = await startYard(converted);
  t.after(async () => {
    await yard.close();
    await a.close();
    await b.close();
  });
  const addr = yard.listeners.get('transport000')!.address!;
  const url = `ws://127.0.0.1:${addr.kind === 'tcp' ? addr.port : 0}/ws`;
  const s1 = await joined({ url, realm: 'realm1' });
  const s2 = await joined({ url, realm: 'realm1' });
  try {
    assert.deepEqual(yard.wamp.sessions().map((s) => s.toJSON()['cluster']).sort(), ['conn_a', 'conn_b']);
  } finally {
    await s1.close();
    await s2.close();
  }
});

test('Crossbar config: what cannot be converted is named with its path', () => {
  assert.throws(() => crossbarProxyConfig({ connections: { c: { transport: { type: 'rawsocket', endpoint: { type: 'tcp', port: 1 } }, auth: { 'cryptosign-proxy': { type: 'static' } } } }, routes: {} }, { listener: 'l' }), /connections\.c\.auth\.cryptosign-proxy: cryptosign-proxy is not supported/);
  assert.throws(() => crossbarProxyConfig({ connections: {}, routes: { realm1: { anonymous: 'nope' } } }, { listener: 'l' }), /routes\.realm1\.anonymous: unknown connection "nope"/);
  assert.throws(
    () => crossbarProxyConfig({ transports: [{ type: 'web', endpoint: { port: 1 }, paths: { ws: { type: 'websocket', auth: { ticket: { type: 'dynamic', authenticator: 'com.example.auth' } } } } }] }),
    /transports\[0\]\.auth\.ticket: dynamic \(WAMP procedure\) authenticators are not supported/,
  );
});
