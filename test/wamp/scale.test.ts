/**
 * 1 000 concurrent WAMP sessions through the proxy (half WebSocket, half RawSocket raw clients) to one fox-wamp
 * router: all join, all are listed, the heap grows by a bounded amount per session, and all are gone after close.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { startYard } from '../helpers/yard.js';
import { eventually } from '../helpers/net.js';
import { startFox } from './stack.js';

const HELLO = JSON.stringify([1, 'realm1', { roles: { caller: {}, callee: {}, publisher: {}, subscriber: {} } }]);

interface Peer {
  close(): void;
}

function wsPeer(url: string): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['wamp.2.json']);
    ws.once('open', () => ws.send(HELLO));
    ws.once('message', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as unknown[];
      if (m[0] === 2) resolve({ close: () => ws.close() });
      else reject(new Error(`not welcomed: ${d.toString()}`));
    });
    ws.once('error', reject);
  });
}

function rawPeer(port: number): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let shaken = false;
    s.once('connect', () => s.write(Buffer.from([0x7f, 0xf1, 0, 0])));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!shaken && buf.length >= 4) {
        if (buf[1] !== 0xf1 && (buf[1]! & 0x0f) !== 1) return reject(new Error('handshake refused'));
        shaken = true;
        buf = buf.subarray(4);
        const payload = Buffer.from(HELLO);
        const head = Buffer.alloc(4);
        head.writeUIntBE(payload.length, 1, 3);
        s.write(Buffer.concat([head, payload]));
      }
      if (shaken && buf.length >= 4) {
        const len = buf.readUIntBE(1, 3);
        if (buf.length < 4 + len) return;
        const m = JSON.parse(buf.subarray(4, 4 + len).toString()) as unknown[];
        if (m[0] === 2) resolve({ close: () => s.end() });
        else reject(new Error(`not welcomed: ${JSON.stringify(m)}`));
      }
    });
    s.once('error', reject);
  });
}

test('1 000 concurrent sessions: all joined and listed, bounded heap per session, all gone after close', async (t) => {
  const fox = await startFox();
  const yard = await startYard({
    listeners: [{ id: 'wamp', listen: '127.0.0.1:0', protocol: { type: 'wamp' } }],
    clusters: [{ id: 'fox', endpoints: [`127.0.0.1:${fox.port}`], wamp: { path: '/' } }],
    routes: [{ id: 'r', listener: 'wamp', cluster: 'fox' }],
  });
  t.after(async () => {
    await yard.close();
    await fox.close();
  });
  const a = yard.listeners.get('wamp')!.address!;
  const port = a.kind === 'tcp' ? a.port : 0;
  const before = process.memoryUsage().heapUsed;
  const peers: Peer[] = [];
  const N = 1000;
  while (peers.length < N) {
    const batch = Array.from({ length: 50 }, (_v, i) => ((peers.length + i) % 2 === 0 ? wsPeer(`ws://127.0.0.1:${port}/ws`) : rawPeer(port)));
    peers.push(...(await Promise.all(batch)));
  }
  assert.equal(yard.wamp.sessions('wamp').length, N);
  const perSession = (process.memoryUsage().heapUsed - before) / N;
  // Client, proxy (two transports) and router sessions all live in this process: a generous bound that a leak
  // (e.g. unbounded buffers per session) would break, not a benchmark.
  assert.ok(perSession < 256 * 1024, `heap per session ${Math.round(perSession)} bytes`);
  t.diagnostic(`heap per session (clients + proxy + router in one process): ${Math.round(perSession / 1024)} KiB`);
  for (const p of peers) p.close();
  await eventually(() => yard.wamp.sessions('wamp').length === 0 && yard.listeners.get('wamp')!.stats.active === 0, 'every session and connection to end', 20_000);
});
