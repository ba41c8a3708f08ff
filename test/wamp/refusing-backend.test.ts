/**
 * A backend router that refuses the proxy's join (ABORT) is retried on the cluster's next endpoint before the client
 * is told; when every endpoint refuses, the client gets `wamp.error.authentication_failed` "Frontend connection accept
 * failed (…)" naming each refusal.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { startYard } from '../helpers/yard.js';
import { type Fox, isJoined, join, startFox } from './stack.js';

/** A WebSocket WAMP "router" that answers every HELLO with ABORT (a backend refusing the proxy's join). */
async function refusingRouter(): Promise<{ port: number; hellos: number; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => (p.has('wamp.2.json') ? 'wamp.2.json' : false) });
  const state = { hellos: 0 };
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString('utf8')) as unknown[];
      if (msg[0] === 1) {
        state.hellos++;
        ws.send(JSON.stringify([3, { message: 'this router is closed for maintenance' }, 'wamp.error.not_authorized']));
        ws.close();
      }
    });
  });
  await new Promise<void>((r) => wss.on('listening', () => r()));
  return {
    port: (wss.address() as net.AddressInfo).port,
    get hellos() {
      return state.hellos;
    },
    close: () => new Promise<void>((r) => wss.close(() => r())),
  };
}

describe('WAMP proxy: a backend that refuses the join', () => {
  let fox: Fox;
  let bad1: Awaited<ReturnType<typeof refusingRouter>>;
  let bad2: Awaited<ReturnType<typeof refusingRouter>>;
  let yard: Switchyard;
  let url: string;

  before(async () => {
    fox = await startFox();
    bad1 = await refusingRouter();
    bad2 = await refusingRouter();
    yard = await startYard({
      listeners: [{ id: 'wamp', listen: '127.0.0.1:0', protocol: { type: 'wamp', auth: { anonymous: { role: 'anonymous' } } } }],
      clusters: [
        // round robin starts at the refusing router: its refusal is retried on the next endpoint of the cluster
        { id: 'mixed', endpoints: [`127.0.0.1:${bad1.port}`, `127.0.0.1:${fox.port}`], wamp: { path: '/' } },
        { id: 'closed', endpoints: [`127.0.0.1:${bad1.port}`, `127.0.0.1:${bad2.port}`], wamp: { path: '/' } },
      ],
      routes: [
        { id: 'open', listener: 'wamp', match: { realm: 'realm1' }, cluster: 'mixed' },
        { id: 'shut', listener: 'wamp', match: { realm: 'realm2' }, cluster: 'closed' },
      ],
    });
    const a = yard.listeners.get('wamp')!.address!;
    url = `ws://127.0.0.1:${a.kind === 'tcp' ? a.port : 0}/ws`;
  });

  after(async () => {
    await yard?.close();
    await fox?.close();
    await bad1?.close();
    await bad2?.close();
  });

  it('joins through the next endpoint of the cluster when one refuses', async () => {
    const before1 = bad1.hellos;
    for (let i = 0; i < 4; i++) {
      const j = await join({ url, realm: 'realm1' });
      assert.ok(isJoined(j), `session ${i} joined (got ${isJoined(j) ? '' : `${j.reason} ${j.message ?? ''}`})`);
      await j.close();
    }
    assert.ok(bad1.hellos > before1, 'the refusing router was tried');
  });

  it('tells the client authentication_failed naming every refusal when all endpoints refuse', async () => {
    const j = await join({ url, realm: 'realm2' });
    assert.ok(!isJoined(j));
    assert.equal(j.reason, 'wamp.error.authentication_failed');
    assert.match(j.message ?? '', /^Frontend connection accept failed \(/);
    assert.match(j.message ?? '', new RegExp(`127\\.0\\.0\\.1:${bad1.port}`));
    assert.match(j.message ?? '', new RegExp(`127\\.0\\.0\\.1:${bad2.port}`));
  });
});
