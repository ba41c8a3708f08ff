/** wampy (npm) through the proxy: CBOR and MessagePack clients to a JSON fox-wamp router, translated both ways. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { Wampy } from 'wampy';
import { CborSerializer } from 'wampy/CborSerializer.js';
import { MsgpackSerializer } from 'wampy/MsgpackSerializer.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { startYard } from '../helpers/yard.js';
import { eventually } from '../helpers/net.js';
import { type Fox, startFox } from './stack.js';

describe('WAMP proxy: wampy clients (CBOR, MessagePack) to a JSON backend', () => {
  let fox: Fox;
  let yard: Switchyard;
  let url: string;

  before(async () => {
    fox = await startFox();
    yard = await startYard({
      listeners: [{ id: 'wamp', listen: '127.0.0.1:0', protocol: { type: 'wamp' } }],
      clusters: [{ id: 'fox', endpoints: [`127.0.0.1:${fox.port}`], wamp: { path: '/', serializers: ['json'] } }],
      routes: [{ id: 'r', listener: 'wamp', match: { realm: 'realm1' }, cluster: 'fox' }],
    });
    const a = yard.listeners.get('wamp')!.address!;
    url = `ws://127.0.0.1:${a.kind === 'tcp' ? a.port : 0}/ws`;
  });

  after(async () => {
    await yard?.close();
    await fox?.close();
  });

  for (const [name, make] of [
    ['cbor', () => new CborSerializer()],
    ['msgpack', () => new MsgpackSerializer()],
  ] as const) {
    it(`wampy ${name}: register, call, subscribe, publish`, async () => {
      const opts = { realm: 'realm1', ws: WebSocket as unknown as never, serializer: make(), autoReconnect: false };
      const callee = new Wampy(url, opts);
      const caller = new Wampy(url, { ...opts, serializer: make() });
      await callee.connect();
      await caller.connect();
      try {
        await callee.register(`wampy.${name}.add`, ({ argsList }) => ({ argsList: [Number(argsList![0]) + Number(argsList![1])] }));
        const r = await caller.call(`wampy.${name}.add`, [40, 2]);
        assert.deepEqual(r.argsList, [42]);
        const got: unknown[] = [];
        await callee.subscribe(`wampy.${name}.topic`, ({ argsList }) => void got.push(argsList));
        await caller.publish(`wampy.${name}.topic`, ['hi', { n: 1 }], { acknowledge: true });
        await eventually(() => got.length === 1, 'the event');
        assert.deepEqual(got[0], ['hi', { n: 1 }]);
        const s = yard.wamp.sessions('wamp').map((x) => x.toJSON()['serializers'] as { frontend: string; backend: string });
        assert.ok(s.every((x) => x.frontend === `wamp.2.${name}` && x.backend === 'wamp.2.json'), JSON.stringify(s));
      } finally {
        await caller.disconnect();
        await callee.disconnect();
      }
    });
  }
});
