/** Session.addHandler: a handler joins a live session (connecting, zero-copy or framed) without losing a byte. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { Session } from '../../src/session/session.js';
import { SessionState } from '../../src/session/state.js';
import { TrafficStats } from '../../src/core/stats.js';
import { createLogger } from '../../src/core/log.js';
import { CONTINUE, type FrameHandler, type HandlerFactory } from '../../src/pipeline/handler.js';
import { connect, startEchoServer } from '../helpers/net.js';

/** A handler factory counting the instances it made and the bytes they saw per direction. */
function counting(): HandlerFactory & { instances: number; up: number; down: number } {
  const f = {
    name: 'counting',
    instances: 0,
    up: 0,
    down: 0,
    create(): FrameHandler {
      f.instances++;
      return {
        onFrame(frame, dir) {
          if (dir === 'toUpstream') f.up += frame.length;
          else f.down += frame.length;
          return CONTINUE;
        },
      };
    },
  };
  return f;
}

/** A proxy of one Session per accepted socket, whose upstream connect the test releases. */
async function oneSession(upstreamPort: number): Promise<{ session: Promise<Session>; release: () => void; client: net.Socket; close: () => Promise<void> }> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let resolveSession!: (s: Session) => void;
  const session = new Promise<Session>((r) => (resolveSession = r));
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
    resolveSession(
      new Session({
        id: 1,
        listenerId: 'test',
        client: socket,
        connect: async () => {
          await gate;
          const up = net.connect({ port: upstreamPort, host: '127.0.0.1', allowHalfOpen: true });
          await once(up, 'connect');
          return up;
        },
        idleTimeout: 0,
        stats: [new TrafficStats()],
        logger: createLogger({ level: 'silent' }),
      }),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = await connect((server.address() as net.AddressInfo).port);
  return { session, release, client, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function echoOf(c: net.Socket, text: string): Promise<string> {
  let got = '';
  c.setEncoding('utf8');
  c.write(text);
  while (got.length < text.length) got += ((await once(c, 'data')) as [string])[0];
  return got;
}

test('a handler added while the session connects is there from the first byte', async () => {
  const echo = await startEchoServer();
  const p = await oneSession(echo.port);
  try {
    const session = await p.session;
    const start = session.start();
    assert.equal(session.state, SessionState.Connecting);
    const handler = counting();
    assert.equal(session.addHandler(handler, 0), true);
    assert.equal(session.runs(handler), true);
    p.release();
    await start;
    assert.equal(await echoOf(p.client, 'hello'), 'hello');
    assert.equal(handler.up, 5);
    assert.equal(handler.down, 5);
    p.client.end();
    await session.closed;
    assert.equal(session.addHandler(counting(), 0), false, 'a closed session takes no handler');
  } finally {
    p.client.destroy();
    await p.close();
    await echo.close();
  }
});

test('a zero-copy session switches once (adding the same handler again is a no-op), and a framed one takes a second handler', async () => {
  const echo = await startEchoServer();
  const p = await oneSession(echo.port);
  try {
    const session = await p.session;
    p.release();
    await session.start();
    assert.equal(await echoOf(p.client, 'raw'), 'raw');
    const first = counting();
    assert.equal(session.addHandler(first, 0), true);
    assert.equal(session.addHandler(first, 0), true);
    assert.equal(first.instances, 1);
    assert.equal(await echoOf(p.client, 'framed'), 'framed');
    assert.equal(first.up, 6, 'the handler sees only what came after the switch');
    const second = counting();
    assert.equal(session.addHandler(second, 0), true);
    assert.equal(await echoOf(p.client, 'both'), 'both');
    assert.equal(first.up, 10);
    assert.equal(second.up, 4);
    assert.equal(first.instances + second.instances, 2);
    p.client.end();
    await session.closed;
  } finally {
    p.client.destroy();
    await p.close();
    await echo.close();
  }
});
