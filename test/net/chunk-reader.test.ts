/**
 * Reads into the shared buffer (src/net/chunk-reader.ts): a consumer gets what `'data'` gave it — owned chunks, in
 * order, byte-exact, with pause/resume and `'end'` as before — and sockets that do not qualify keep `'data'`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { lentBuffers, onChunks, readChunks, readsShared } from '../../src/net/chunk-reader.js';
import { eventually, pseudoRandomChunks, startEchoServer, startServer } from '../helpers/net.js';
import { startProxy } from '../helpers/yard.js';
import type { TcpListener } from '../../src/listeners/tcp.js';
import { HttpCodec } from '../../src/protocols/http/codec.js';
import type { Session } from '../../src/session/session.js';

/** A server whose accepted sockets are paused (as switchyard's listeners accept them) and handed to `onSocket`. */
async function pausedServer(onSocket: (s: net.Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const accepted: net.Socket[] = [];
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => {
    accepted.push(s);
    onSocket(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () => {
      for (const s of accepted) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('an accepted socket reads into the shared buffer: owned chunks, in order, byte-exact, then end', async () => {
  const got: Buffer[] = [];
  let ended!: Promise<unknown>;
  let shared = false;
  let lentSeen = false;
  const srv = await pausedServer((s) => {
    onChunks(s, (c) => {
      got.push(c);
      if (lentBuffers() > 0) lentSeen = true;
    });
    shared = readsShared(s);
    ended = once(s, 'end');
    s.resume();
  });
  const c = net.connect(srv.port, '127.0.0.1');
  await once(c, 'connect');
  try {
    const first = Buffer.alloc(1000, 'a');
    c.write(first);
    await eventually(() => got.length > 0, 'the first chunk');
    assert.ok(shared, 'a plain TCP socket accepted paused reads into the shared buffer');
    const held = got[0]!;
    // 5 MiB after it: many reads through the same shared buffer, none of which may show through the first chunk
    const hash = createHash('sha256').update(first);
    for (const chunk of pseudoRandomChunks(5 * 1024 * 1024, 7)) {
      hash.update(chunk);
      c.write(chunk);
    }
    c.end();
    await ended;
    assert.ok(held.equals(first), 'the first chunk still holds its own bytes after later reads');
    assert.equal(createHash('sha256').update(Buffer.concat(got)).digest('hex'), hash.digest('hex'), 'every byte, in order');
    assert.ok(got.length > 2, `several reads (${got.length})`);
    assert.ok(lentSeen, 'reads that filled the buffer were followed by reads into a buffer of the socket\'s own');
  } finally {
    c.destroy();
    await srv.close();
  }
});

test('sockets reading at once each get only their own bytes, and every chunk they keep stays intact', async () => {
  // One read callback and one buffer generator serve every socket: a buffer chosen for one socket's next read must
  // never become another's, and a lent buffer handed on must never be read into again. Every chunk is kept until the
  // end, then compared whole.
  const N = 6;
  const got = new Map<number, Buffer[]>();
  const ends: Promise<unknown>[] = [];
  let lentSeen = false;
  const accepted: net.Socket[] = [];
  const srv = await pausedServer((s) => {
    const chunks: Buffer[] = [];
    let id = -1;
    onChunks(s, (c) => {
      if (id < 0) {
        id = c[0]!;
        got.set(id, chunks);
      }
      chunks.push(c);
      if (lentBuffers() > 0) lentSeen = true;
    });
    ends.push(once(s, 'end'));
    accepted.push(s);
  });
  const clients = Array.from({ length: N }, () => net.connect(srv.port, '127.0.0.1'));
  try {
    await Promise.all(clients.map((c) => once(c, 'connect')));
    const sent = clients.map((c, i) => {
      // the first byte names the sender; then 2 MiB of its own pseudo-random bytes, written interleaved with the others
      const parts = [Buffer.from([i]), ...pseudoRandomChunks(2 * 1024 * 1024, 100 + i)];
      return { c, parts, all: Buffer.concat(parts) };
    });
    const longest = Math.max(...sent.map((x) => x.parts.length));
    for (let k = 0; k < longest; k++) for (const x of sent) if (k < x.parts.length) x.c.write(x.parts[k]!);
    for (const x of sent) x.c.end();
    await eventually(() => ends.length === N, 'every socket accepted');
    // reading starts with more than 64 KiB queued on every socket, so reads fill the shared buffer and lent buffers
    // come into play whatever the machine's speed (a reader that keeps up gets one loopback segment, < 64 KiB, a read)
    for (const a of accepted) a.resume();
    await Promise.all(ends);
    assert.ok(lentSeen, 'full reads were followed by reads into lent buffers');
    for (let i = 0; i < N; i++) {
      const chunks = got.get(i);
      assert.ok(chunks !== undefined, `socket ${i} read`);
      assert.ok(Buffer.concat(chunks).equals(sent[i]!.all), `socket ${i} got exactly its own bytes, in order, and its kept chunks were not overwritten`);
    }
  } finally {
    for (const c of clients) c.destroy();
    await srv.close();
  }
});

test('reads that fill the buffer get a socket a buffer of its own, at most 64 sockets at once, given back at close', async () => {
  const base = lentBuffers();
  let peak = 0;
  const totals = new Map<net.Socket, number>();
  const srv = await pausedServer((s) => {
    totals.set(s, 0);
    onChunks(s, (c) => {
      totals.set(s, totals.get(s)! + c.length);
      peak = Math.max(peak, lentBuffers() - base);
    });
  });
  const clients: net.Socket[] = [];
  try {
    // 80 senders of 1 MiB each that stay open. The receivers start reading only once every sender has written: by
    // then each receiver's kernel queue holds more than 64 KiB (loopback delivers as the sender writes), so its first
    // read fills the shared buffer whatever the machine's speed. A receiver that keeps up with its sender would read
    // one loopback segment (65,483 bytes at most) at a time and never fill it.
    for (let i = 0; i < 80; i++) {
      const c = net.connect(srv.port, '127.0.0.1');
      c.on('error', () => undefined);
      clients.push(c);
      await once(c, 'connect');
      for (const chunk of pseudoRandomChunks(1024 * 1024, i + 1)) c.write(chunk);
    }
    await eventually(() => totals.size === 80, 'every sender accepted');
    for (const s of totals.keys()) s.resume();
    await eventually(() => totals.size === 80 && [...totals.values()].every((n) => n === 1024 * 1024), 'every byte of the 80 senders', 20_000);
    assert.ok(peak > 0, 'full reads got sockets buffers of their own');
    assert.ok(peak <= 64, `at most 64 lent at once (${peak})`);
  } finally {
    for (const c of clients) c.destroy();
    await srv.close();
  }
  await eventually(() => lentBuffers() === base, `every lent buffer given back (${lentBuffers() - base} left)`);
});

test('pause() stops the reads of a socket on the shared buffer and resume() goes on where it stopped', async () => {
  const got: Buffer[] = [];
  let sock!: net.Socket;
  const srv = await pausedServer((s) => {
    sock = s;
    onChunks(s, (c) => {
      got.push(c);
      s.pause();
    });
    s.resume();
  });
  const c = net.connect(srv.port, '127.0.0.1');
  await once(c, 'connect');
  try {
    c.write('one');
    await eventually(() => got.length === 1, 'the first read');
    c.write('two');
    await settle(150);
    assert.equal(got.length, 1, 'nothing is read while paused');
    sock.resume();
    await eventually(() => got.length === 2, 'the read after resume()');
    assert.equal(Buffer.concat(got).toString(), 'onetwo');
  } finally {
    c.destroy();
    await srv.close();
  }
});

test('a socket with bytes already buffered by its stream keeps `data`, and a consumer taken off gets nothing more', async () => {
  const got: string[] = [];
  const early: string[] = [];
  const srv = await pausedServer((s) => {
    // read once the ordinary way: the stream now holds bytes, so the socket does not switch
    s.once('readable', () => {
      const off = onChunks(s, (c) => early.push(c.toString()));
      assert.equal(readsShared(s), false);
      off();
      onChunks(s, (c) => got.push(c.toString()));
    });
  });
  const c = net.connect(srv.port, '127.0.0.1');
  await once(c, 'connect');
  try {
    c.write('held');
    await eventually(() => got.join('') === 'held', 'the buffered bytes reach the consumer through data');
    c.write('-more');
    await eventually(() => got.join('') === 'held-more', 'later reads too');
    assert.deepEqual(early, []);
  } finally {
    c.destroy();
    await srv.close();
  }
});

test('a socket that already has a `data` listener keeps `data`, and both readers get every read', async () => {
  const mine: string[] = [];
  const theirs: string[] = [];
  const srv = await pausedServer((s) => {
    s.on('data', (c: Buffer) => theirs.push(c.toString()));
    onChunks(s, (c) => mine.push(c.toString()));
    assert.equal(readsShared(s), false);
    s.resume();
  });
  const c = net.connect(srv.port, '127.0.0.1');
  await once(c, 'connect');
  try {
    c.write('both');
    await eventually(() => mine.join('') === 'both' && theirs.join('') === 'both', 'the read reached both listeners');
  } finally {
    c.destroy();
    await srv.close();
  }
});

test('a framed session reads both its sockets into the shared buffer and forwards byte-exact both ways', async () => {
  const echo = await startEchoServer();
  const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${echo.port}`], listener: { framing: 'line' } });
  try {
    const c = net.connect(port, '127.0.0.1');
    await once(c, 'connect');
    const back: Buffer[] = [];
    c.on('data', (d: Buffer) => back.push(d));
    const lines = Array.from({ length: 2000 }, (_, i) => `line ${i} ${'x'.repeat(i % 300)}\n`).join('');
    c.write(lines);
    await eventually(() => Buffer.concat(back).length === Buffer.byteLength(lines), 'every line echoed');
    assert.equal(Buffer.concat(back).toString(), lines);
    const sessions = [...(yard.listeners.get('l1') as unknown as TcpListener).sessions];
    assert.equal(sessions.length, 1);
    const session = sessions[0] as Session;
    assert.ok(readsShared(session.client), 'client socket');
    assert.ok(readsShared(session.upstream as net.Socket), 'upstream socket');
    c.destroy();
  } finally {
    await yard.close();
    await echo.close();
  }
});

test('after a refusal a session on the shared buffer discards what the client sends next: no framer sees it', async () => {
  // an upstream that closes as soon as a request arrives: the proxy answers 502 itself and closes
  const up = await startServer((s) => s.once('data', () => s.end()));
  const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${up.port}`], listener: { protocol: 'http' } });
  try {
    const request = 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n';
    // half-open: the client still sends after the proxy's FIN
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const got: Buffer[] = [];
    c.on('data', (d: Buffer) => got.push(d));
    const closed = once(c, 'close');
    const finned = once(c, 'end');
    await once(c, 'connect');
    c.write(request);
    await eventually(() => Buffer.concat(got).toString('latin1').includes('\r\n\r\n'), 'the refusal');
    assert.match(Buffer.concat(got).toString('latin1'), /^HTTP\/1\.1 502 /);
    // bytes after the refusal: read and dropped while the proxy lingers, counted nowhere, parsed by nothing
    await finned;
    c.end('\x00 not http at all\r\n\r\n');
    await closed;
    const stats = yard.listeners.get('l1')!.stats;
    await eventually(() => stats.active === 0, 'the session closed');
    assert.equal(stats.bytesToUpstream, Buffer.byteLength(request), 'only the request went into the framed path');
  } finally {
    await yard.close();
    await up.close();
  }
});

test('an HTTP session enters its requests in the codec\'s by-attributes map only while a handler can name them', async () => {
  const echo = await startServer((s) => s.on('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')));
  const plain = await startProxy({ upstreams: [`127.0.0.1:${echo.port}`], listener: { protocol: 'http' } });
  const faulted = await startProxy({ upstreams: [`127.0.0.1:${echo.port}`], listener: { protocol: 'http', faults: [{ type: 'noop', name: 'n' }] } });
  try {
    for (const [p, named] of [[plain, false], [faulted, true]] as const) {
      const c = net.connect(p.port, '127.0.0.1');
      const got: Buffer[] = [];
      c.on('data', (d: Buffer) => got.push(d));
      await once(c, 'connect');
      c.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
      await eventually(() => Buffer.concat(got).toString().endsWith('ok'), 'the answer');
      const session = [...(p.yard.listeners.get('l1') as unknown as TcpListener).sessions][0] as Session;
      const codec = session.context.codec as HttpCodec;
      assert.ok(codec instanceof HttpCodec); 
      assert.equal(codec.namesRequests, named, named ? 'a fault stage may name requests' : 'nothing can name a request');
      c.destroy();
    }
  } finally {
    await plain.yard.close();
    await faulted.yard.close();
    await echo.close();
  }
});

test("readChunks starts an outgoing socket's reads as a 'data' listener would, and leaves a socket paused on purpose paused", async () => {
  const echo = await startEchoServer();
  try {
    // a connected socket nobody paused: the reads start at once, into the shared buffer
    const a = net.connect(echo.port, '127.0.0.1');
    await once(a, 'connect');
    const gotA: Buffer[] = [];
    readChunks(a, (c) => gotA.push(c));
    assert.ok(readsShared(a), 'a plain TCP socket reads into the shared buffer');
    assert.equal(a.readableFlowing, true, "the stream flows, as after socket.on('data')");
    a.write('hello');
    await eventually(() => Buffer.concat(gotA).toString() === 'hello', 'the echo, without a resume() of our own');
    // the stream flows, as with 'data': the peer's FIN is seen as 'end' (a stream nobody resumed never emits it)
    let ended = false;
    a.once('end', () => (ended = true));
    a.end();
    await eventually(() => ended, "'end' after the peer's FIN");
    a.destroy();

    // a socket paused on purpose: nothing is read until it is resumed, then everything arrives in order
    const b = net.connect(echo.port, '127.0.0.1');
    await once(b, 'connect');
    b.pause();
    const gotB: Buffer[] = [];
    readChunks(b, (c) => gotB.push(c));
    b.write('paused');
    await settle(100);
    assert.equal(gotB.length, 0, 'a paused socket stays paused');
    b.resume();
    await eventually(() => Buffer.concat(gotB).toString() === 'paused', 'the echo after resume()');
    b.destroy();
  } finally {
    await echo.close();
  }
});
