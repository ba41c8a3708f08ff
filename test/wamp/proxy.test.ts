import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { startYard } from '../helpers/yard.js';
import { eventually } from '../helpers/net.js';
import { type Fox, isJoined, join, joined as joinOrFail, type Joined, startFox } from './stack.js';

describe('WAMP proxy: autobahn-js through switchyard to two fox-wamp routers', () => {
  let foxA: Fox;
  let foxB: Fox;
  let yard: Switchyard;
  let url: string;

  before(async () => {
    foxA = await startFox();
    foxB = await startFox();
    yard = await startYard({
      listeners: [{ id: 'wamp', listen: '127.0.0.1:0', protocol: { type: 'wamp', auth: { anonymous: { role: 'anonymous' } } } }],
      clusters: [
        { id: 'fox-a', endpoints: [`127.0.0.1:${foxA.port}`], wamp: { transport: 'websocket', path: '/', serializers: ['json'] } },
        { id: 'fox-b', endpoints: [`127.0.0.1:${foxB.port}`], wamp: { transport: 'websocket', path: '/', serializers: ['json'] } },
      ],
      routes: [
        { id: 'realm1', listener: 'wamp', match: { realm: 'realm1', authrole: 'anonymous' }, cluster: 'fox-a' },
        { id: 'realm2', listener: 'wamp', match: { realm: 'realm2' }, cluster: 'fox-b' },
      ],
    });
    const a = yard.listeners.get('wamp')!.address!;
    assert.equal(a.kind, 'tcp');
    url = `ws://127.0.0.1:${a.kind === 'tcp' ? a.port : 0}/ws`;
  });

  after(async () => {
    await yard?.close();
    await foxA?.close();
    await foxB?.close();
  });

  function joined(realm: string, extra: Record<string, unknown> = {}): Promise<Joined> {
    return joinOrFail({ url, realm, ...extra });
  }

  it('register/call and subscribe/publish across the proxy, on each backend by realm', async () => {
    for (const realm of ['realm1', 'realm2']) {
      const callee = await joined(realm);
      const caller = await joined(realm);
      try {
        await callee.session.register('com.example.add', (args) => Number(args[0]) + Number(args[1]));
        const sum = await caller.session.call('com.example.add', [20, 22]);
        assert.equal(sum, 42);
        const got: unknown[] = [];
        await callee.session.subscribe('com.example.topic', (args) => void got.push(args[0]));
        await caller.session.publish('com.example.topic', [`hello ${realm}`], {}, { acknowledge: true });
        await eventually(() => got.length > 0, 'the event');
        assert.deepEqual(got, [`hello ${realm}`]);
        // The proxy-built WELCOME: the client's authmethod and the proxy's x_cb_proxy_* fields.
        assert.equal(caller.details.authmethod, 'anonymous');
        assert.equal(caller.details.authrole, 'anonymous');
        assert.equal(caller.details.authextra?.['x_cb_proxy_worker'], 'wamp');
        assert.equal(typeof caller.details.authextra?.['x_cb_proxy_pid'], 'number');
      } finally {
        await caller.close();
        await callee.close();
      }
    }
  });

  it('each realm reaches its own backend: a procedure registered on realm1 is unknown on realm2', async () => {
    const callee = await joined('realm1');
    const caller = await joined('realm2');
    try {
      await callee.session.register('com.example.only1', () => 1);
      await assert.rejects(caller.session.call('com.example.only1'), (e: { error?: unknown }) => String(e.error).startsWith('wamp.error'));
    } finally {
      await caller.close();
      await callee.close();
    }
  });

  it('lists joined sessions with backend endpoint, serializers and counts; DELETE-equivalent kill ends one', async () => {
    const a = await joined('realm1');
    try {
      const list = yard.wamp.sessions('wamp').map((s) => s.toJSON());
      const mine = list.find((s) => s['id'] === a.session.id);
      assert.ok(mine, `session ${String(a.session.id)} not in ${JSON.stringify(list)}`);
      assert.equal(mine['realm'], 'realm1');
      assert.equal(mine['cluster'], 'fox-a');
      assert.equal(mine['backendEndpoint'], `127.0.0.1:${foxA.port}`);
      assert.deepEqual(mine['serializers'], { frontend: 'wamp.2.json', backend: 'wamp.2.json' });
      const closed = new Promise<string>((r) => {
        a.connection.onclose = (reason, d) => (r(d?.reason ?? reason), true);
      });
      assert.equal(yard.wamp.kill(a.session.id), true);
      assert.equal(await closed, 'wamp.close.killed');
      await eventually(() => yard.wamp.get(a.session.id) === undefined, 'the session to leave the list');
    } finally {
      if (a.connection.isOpen) a.connection.close();
    }
  });

  it('unknown realm → ABORT wamp.error.no_such_realm', async () => {
    const r = await join({ url, realm: 'nowhere' });
    assert.ok(!isJoined(r));
    assert.equal(r.reason, 'wamp.error.no_such_realm');
    assert.match(r.message ?? '', /no realm "nowhere" exists/);
  });
});
