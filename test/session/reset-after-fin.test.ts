/**
 * Resetting a socket right after its FIN was asked for: Node 20 asks libuv for the reset while the shutdown is still
 * in flight, libuv refuses it (EINVAL), and Node then never emits 'close' (and keeps the handle). A session resetting
 * such an upstream (the client sent its FIN, then an RST) waited for that close forever; found by the codec fuzzer
 * (test/fuzz/proxy.fuzz.test.ts), where it left PostgreSQL sessions open. `resetStream` is what the session calls.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer } from '../helpers/net.js';
import { resetStream } from '../../src/session/upstream-stream.js';

async function outcome(socket: net.Socket, act: () => void): Promise<'closed' | 'no close'> {
  const closed = new Promise<'closed'>((resolve) => socket.on('close', () => resolve('closed')));
  act();
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([closed, new Promise<'no close'>((r) => (timer = setTimeout(() => r('no close'), 5_000)))]);
  clearTimeout(timer);
  return result;
}

test('resetStream right after end() (the shutdown still in flight) ends the socket: it emits close', async () => {
  const peer = await startServer((s) => s.resume(), { allowHalfOpen: true });
  try {
    for (let i = 0; i < 4; i++) {
      const socket = net.connect({ port: peer.port, host: '127.0.0.1', allowHalfOpen: true });
      socket.on('error', () => undefined);
      await new Promise((r) => socket.once('connect', r));
      const result = await outcome(socket, () => {
        socket.write('x');
        socket.end();
        resetStream(socket);
      });
      socket.destroy();
      assert.equal(result, 'closed', `attempt ${i}`);
    }
  } finally {
    await peer.close();
  }
});

test('resetStream still resets (RST) a socket that has not sent its FIN', async () => {
  let peerError: string | undefined;
  const peer = await startServer((s) => s.on('error', (e: NodeJS.ErrnoException) => (peerError = e.code)), { allowHalfOpen: true });
  const socket = net.connect({ port: peer.port, host: '127.0.0.1' });
  await new Promise((r) => socket.once('connect', r));
  try {
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await outcome(socket, () => resetStream(socket)), 'closed');
    for (let i = 0; i < 500 && peerError === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(peerError, 'ECONNRESET');
  } finally {
    await peer.close();
  }
});
