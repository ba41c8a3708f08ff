import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { once } from 'node:events';
import { startServer, connect, readAll } from '../helpers/net.js';
import { Session } from '../../src/session/session.js';
import { TrafficStats } from '../../src/core/stats.js';
import { silentLogger } from '../../src/core/log.js';

/**
 * The session takes any resettable duplex as its upstream. This minimal mirror stream writes every chunk to a
 * primary and to secondaries, and reads back from the primary only. (switchyard's own replication does not work
 * this way: its engines take over the accepted socket.)
 */
class MirrorStream extends Duplex {
  readonly #primary: net.Socket;
  readonly #secondaries: net.Socket[];

  constructor(primary: net.Socket, secondaries: net.Socket[]) {
    super({ allowHalfOpen: true });
    this.#primary = primary;
    this.#secondaries = secondaries;
    primary.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) primary.pause();
    });
    primary.on('end', () => this.push(null));
    primary.on('error', (err) => this.destroy(err));
    for (const s of secondaries) {
      s.on('error', () => undefined);
      s.resume(); // a shadow's answers are not the client's business
    }
  }
  override _read(): void {
    this.#primary.resume();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    for (const s of this.#secondaries) if (s.writableLength < 1 << 20) s.write(chunk); // never stall the primary
    if (this.#primary.write(chunk)) cb();
    else this.#primary.once('drain', () => cb());
  }
  override _final(cb: (err?: Error | null) => void): void {
    for (const s of this.#secondaries) s.end();
    this.#primary.end(cb);
  }
  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.#primary.destroy();
    for (const s of this.#secondaries) s.destroy();
    cb(err);
  }
  resetAndDestroy(): void {
    this.#primary.resetAndDestroy();
    this.destroy();
  }
}

test('a session can fan out to N upstreams through a custom upstream stream', async (t) => {
  const primary = await startServer((s) => s.pipe(s));
  let shadowGot: Promise<Buffer> | undefined;
  const shadow = await startServer((s) => {
    shadowGot = readAll(s);
  });
  t.after(() => primary.close());
  t.after(() => shadow.close());

  const stats = new TrafficStats();
  const sessions: Session[] = [];
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    const session = new Session({
      id: sessions.length + 1,
      listenerId: 'fan-out',
      client,
      idleTimeout: 0,
      stats: [stats],
      logger: silentLogger(),
      connect: async () => {
        const a = await connect(primary.port);
        const b = await connect(shadow.port);
        return new MirrorStream(a, [b]);
      },
    });
    sessions.push(session);
    void session.start();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());

  const client = await connect((server.address() as net.AddressInfo).port);
  client.end('to both');
  assert.equal((await readAll(client)).toString(), 'to both'); // the primary's answer
  assert.equal((await shadowGot!).toString(), 'to both'); // the shadow saw the same request
  await sessions[0]!.closed;
  assert.equal(stats.bytesToUpstream, 7);
  assert.equal(stats.bytesToDownstream, 7);
  assert.equal(stats.active, 0);
});
