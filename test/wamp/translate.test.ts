/**
 * Serializer translation and RawSocket through the proxy, against the Autobahn|Python fixture router (RawSocket
 * CBOR and WebSocket MessagePack backends) with autobahn-js (WebSocket JSON, RawSocket JSON) and Autobahn|Python
 * (RawSocket CBOR/MessagePack, WebSocket JSON) clients.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { startYard } from '../helpers/yard.js';
import { needPeer } from '../helpers/services.js';
import { eventually } from '../helpers/net.js';
import { join, joined } from './stack.js';
import { havePythonAutobahn, type PyRouter, runPyClient, startPyRouter } from './pyrouter.js';

describe('WAMP proxy: JSON ↔ CBOR/MessagePack, RawSocket and WebSocket on one port (Autobahn|Python router)', () => {
  let ok = false;
  let router: PyRouter | undefined;
  let yard: Switchyard | undefined;
  let port = 0;

  before(async () => {
    ok = await havePythonAutobahn();
    if (!ok) return;
    router = await startPyRouter(['--realms', 'realm1,realm2,realm3', '--roles', 'anonymous,user']);
    yard = await startYard({
      listeners: [{ id: 'wamp', listen: '127.0.0.1:0', protocol: { type: 'wamp' } }],
      clusters: [
        { id: 'rs-cbor', endpoints: [`127.0.0.1:${router.rs}`], wamp: { transport: 'rawsocket', serializers: ['cbor'] } },
        { id: 'ws-msgpack', endpoints: [`127.0.0.1:${router.ws}`], wamp: { transport: 'websocket', path: '/ws', serializers: ['msgpack'] } },
      ],
      routes: [
        { id: 'r1', listener: 'wamp', match: { realm: 'realm1' }, cluster: 'rs-cbor' },
        { id: 'r2', listener: 'wamp', match: { realm: 'realm2' }, cluster: 'ws-msgpack' },
        { id: 'r3', listener: 'wamp', match: { realm: 'realm3', authrole: ['anonymous', 'user', 'admin'] }, cluster: 'rs-cbor' },
      ],
    });
    const a = yard.listeners.get('wamp')!.address!;
    port = a.kind === 'tcp' ? a.port : 0;
  });

  after(async () => {
    await yard?.close();
    await router?.stop();
  });

  it('autobahn-js JSON over WebSocket → RawSocket CBOR backend: call, pub/sub, binary preserved, principal forwarded', async (t) => {
    if (!needPeer(t, ok, 'Debian python3-autobahn is not installed (/usr/bin/python3 -c "import autobahn")')) return;
    const callee = await joined({ url: `ws://127.0.0.1:${port}/ws`, realm: 'realm1' });
    const caller = await joined({ url: `ws://127.0.0.1:${port}/ws`, realm: 'realm1' });
    try {
      await callee.session.register('js.add', (args) => Number(args[0]) + Number(args[1]));
      assert.equal(await caller.session.call('js.add', [1, 2]), 3);
      // autobahn-js has no JSON binary convention: binary is written as the spec's "\u0000" + base64 string.
      const bin = `\u0000${Buffer.from([0, 1, 254]).toString('base64')}`;
      const got: unknown[] = [];
      await callee.session.subscribe('js.topic', (args) => void got.push(args));
      await caller.session.publish('js.topic', ['x', bin], {}, { acknowledge: true });
      await eventually(() => got.length === 1, 'the event');
      assert.deepEqual(got[0], ['x', bin]);
      // The CBOR backend received a byte string, not text.
      const types = (await caller.session.call('test.types', [bin, 'plain', 1])) as { args: unknown[] };
      assert.deepEqual(types.args, ['bytes', 'str', 'int']);
      assert.equal(await caller.session.call('test.echo', [bin]), bin);
      const who = (await caller.session.call('test.whoami')) as { authid: string; authrole: string; authextra: Record<string, unknown> };
      assert.equal(who.authrole, 'anonymous');
      assert.equal(who.authextra['proxy_realm'], 'realm1');
      assert.equal(who.authextra['proxy_authrole'], 'anonymous');
      assert.equal(who.authextra['proxy_authid'], caller.details.authid);
      assert.equal(who.authextra['proxy_authmethod'], 'anonymous');
      assert.equal((who.authextra['proxy_authextra'] as { transport: { protocol: string } }).transport.protocol, 'wamp.2.json');
      const list = yard!.wamp.sessions('wamp').map((s) => s.toJSON());
      assert.ok(list.some((s) => JSON.stringify(s['serializers']) === JSON.stringify({ frontend: 'wamp.2.json', backend: 'rawsocket.cbor' })));
    } finally {
      await caller.close();
      await callee.close();
    }
  });

  it('autobahn-js over RawSocket (JSON) on the same port → WebSocket MessagePack backend', async (t) => {
    if (!needPeer(t, ok, 'Debian python3-autobahn is not installed')) return;
    const a = await joined({ transports: [{ type: 'rawsocket', host: '127.0.0.1', port }], realm: 'realm2' });
    try {
      await a.session.register('rs.mul', (args) => Number(args[0]) * Number(args[1]));
      assert.equal(await a.session.call('rs.mul', [6, 7]), 42);
      const who = (await a.session.call('test.whoami')) as { authextra: { proxy_authextra: { transport: { type: string; protocol: string } } } };
      assert.deepEqual([who.authextra.proxy_authextra.transport.type, who.authextra.proxy_authextra.transport.protocol], ['rawsocket', 'rawsocket.json']);
    } finally {
      await a.close();
    }
  });

  for (const [transport, serializer, realm] of [
    ['rawsocket', 'cbor', 'realm1'],
    ['rawsocket', 'msgpack', 'realm2'],
    ['websocket', 'json', 'realm1'],
    ['websocket', 'cbor', 'realm2'],
  ] as const) {
    it(`Autobahn|Python over ${transport} ${serializer} → ${realm}: register, call, publish/subscribe with binary, whoami`, async (t) => {
      if (!needPeer(t, ok, 'Debian python3-autobahn is not installed')) return;
      const r = await runPyClient(['--transport', transport, '--port', String(port), '--serializer', serializer, '--realm', realm, '--whoami']);
      assert.equal(r['sum'], 42, JSON.stringify(r));
      assert.deepEqual(r['event'], ['hello', { bytes: '0001fe' }]);
      assert.deepEqual(r['echo'], { bytes: '00ff62696e' });
      const who = r['whoami'] as { authextra: Record<string, unknown> };
      assert.equal(who.authextra['proxy_realm'], realm);
    });
  }

  it('Autobahn|Python HELLO.authrole: a role routed joins under it; one no route serves → no_such_role', async (t) => {
    if (!needPeer(t, ok, 'Debian python3-autobahn is not installed')) return;
    const good = await runPyClient(['--transport', 'rawsocket', '--port', String(port), '--serializer', 'cbor', '--realm', 'realm3', '--authrole', 'user', '--whoami']);
    assert.equal((good['welcome'] as { authrole: string }).authrole, 'user', JSON.stringify(good));
    const bad = await runPyClient(['--transport', 'rawsocket', '--port', String(port), '--serializer', 'cbor', '--realm', 'realm3', '--authrole', 'root']);
    assert.equal(bad['leave'], 'wamp.error.no_such_role', JSON.stringify(bad));
  });

  it('backend loss: the client gets GOODBYE wamp.close.system_shutdown', async (t) => {
    if (!needPeer(t, ok, 'Debian python3-autobahn is not installed')) return;
    const a = await joined({ url: `ws://127.0.0.1:${port}/ws`, realm: 'realm2' });
    const closed = new Promise<string>((r) => {
      a.connection.onclose = (reason, d) => (r(d?.reason ?? reason), true);
    });
    await router!.stop();
    assert.equal(await closed, 'wamp.close.system_shutdown');
    const after = await join({ url: `ws://127.0.0.1:${port}/ws`, realm: 'realm2' });
    assert.ok('reason' in after && after.reason === 'wamp.error.authentication_failed');
  });
});
