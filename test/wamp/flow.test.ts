/**
 * Flow control: a backend floods a client that does not read; the proxy stops reading from the backend once its
 * queue toward the client passes the high-water mark (queued bytes stay bounded), and every event arrives once the
 * client reads again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { startYard } from '../helpers/yard.js';
import { eventually } from '../helpers/net.js';
import { type Fox, joined, startFox } from './stack.js';

const HIGH = 64 * 1024;
const LOW = 16 * 1024;
const EVENTS = 2500;
const PAYLOAD = 'x'.repeat(8 * 1024);

interface FlowStats {
  queued: number;
  peakQueued: number;
  pauses: number;
  paused: boolean;
}

describe('WAMP flow control', () => {
  let fox: Fox;
  let yard: Switchyard;
  let url: string;

  before(async () => {
    fox = await startFox();
    yard = await startYard({
      listeners: [{ id: 'wamp', listen: '127.0.0.1:0', protocol: { type: 'wamp', highWaterMark: HIGH, lowWaterMark: LOW } }],
      clusters: [{ id: 'fox', endpoints: [`127.0.0.1:${fox.port}`], wamp: { path: '/' } }],
      routes: [{ id: 'all', listener: 'wamp', cluster: 'fox' }],
    });
    const a = yard.listeners.get('wamp')!.address!;
    url = `ws://127.0.0.1:${a.kind === 'tcp' ? a.port : 0}/ws`;
  });

  after(async () => {
    await yard?.close();
    await fox?.close();
  });

  it(`${EVENTS} events of 8 KiB to a client that stops reading: the proxy queues at most about the high-water mark, and all arrive after`, async () => {
    // A subscriber speaking WAMP JSON over a plain `ws` client, so it can stop reading (ws.pause()).
    const ws = new WebSocket(url, ['wamp.2.json']);
    const inbox: unknown[][] = [];
    let events = 0;
    ws.on('message', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as unknown[];
      if (m[0] === 36) events++;
      else inbox.push(m);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send(JSON.stringify([1, 'realm1', { roles: { subscriber: {} } }]));
    await eventually(() => inbox.some((m) => m[0] === 2), 'WELCOME');
    ws.send(JSON.stringify([32, 1, {}, 'flood']));
    await eventually(() => inbox.some((m) => m[0] === 33), 'SUBSCRIBED');
    const session = (): { flow: { toClient: FlowStats; toBackend: FlowStats } } => yard.wamp.sessions('wamp')[0]!.toJSON() as never;

    ws.pause();
    const publisher = await joined({ url: `ws://127.0.0.1:${fox.port}/`, realm: 'realm1' });
    try {
      for (let i = 0; i < EVENTS; i++) await publisher.session.publish('flood', [i, PAYLOAD]);
      // The proxy stops reading from the backend once its queue toward the client passes the mark.
      await eventually(() => session().flow.toClient.paused, 'the backend side to be paused', 20_000);
      // Give the backend time to push more (it cannot: the proxy is not reading).
      await new Promise((r) => setTimeout(r, 500));
      const paused = session().flow.toClient;
      assert.ok(paused.pauses >= 1);
      assert.ok(events < EVENTS, `the client did not read, yet got ${events} events`);
      // What the proxy holds: the mark plus what was already read off the socket when it paused (one read's worth),
      // far below the ~20 MB published.
      assert.ok(paused.peakQueued < HIGH + 512 * 1024, `peak queued ${paused.peakQueued} bytes`);
      assert.ok(paused.queued > LOW, `queued ${paused.queued} bytes while the client does not read`);

      ws.resume();
      await eventually(() => events === EVENTS, `all ${EVENTS} events (got ${events})`, 60_000);
      const after = session().flow.toClient;
      assert.equal(after.paused, false);
      assert.ok(after.peakQueued < HIGH + 512 * 1024, `peak queued ${after.peakQueued} bytes`);
    } finally {
      await publisher.close();
      ws.close();
    }
    await eventually(() => yard.wamp.sessions('wamp').length === 0, 'the session to end');
  });
});
