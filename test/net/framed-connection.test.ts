import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { connectFramed, listenFramed, type FramedConnection, type FramedServer } from '../../src/net/index.js';
import { eventually } from '../helpers/net.js';

const registry = createFramerRegistry();
const line = registry.build('line', {});
const smtpBody = registry.build('delimiter', { delimiters: ['\r\n.\r\n'] });
const text = (b: Buffer | null): string | null => (b === null ? null : b.toString());

/** Echo each line back, upper-cased, until EOF; then close. */
async function echoUpper(conn: FramedConnection): Promise<void> {
  for await (const frame of conn) await conn.write(frame.toString().toUpperCase());
  await conn.close();
}

/** Collect every frame until EOF. */
async function readAllFrames(conn: FramedConnection): Promise<string[]> {
  const out: string[] = [];
  for await (const f of conn) out.push(f.toString());
  return out;
}

async function rawConnect(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  const s = net.connect({ port, host, allowHalfOpen: true });
  await once(s, 'connect');
  return s;
}

function portOf(server: FramedServer): number {
  assert.equal(server.address.kind, 'tcp');
  return server.address.kind === 'tcp' ? server.address.port : 0;
}

async function ipv6Available(): Promise<boolean> {
  const s = net.createServer();
  try {
    s.listen(0, '::1');
    await once(s, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    s.close();
  }
}

describe('FramedConnection over TCP', () => {
  test('echo server and client with line framing', async () => {
    const server = await listenFramed({ host: '127.0.0.1', framers: { send: line, recv: line } }, echoUpper);
    const client = await connectFramed({ host: '127.0.0.1', port: portOf(server), framers: { send: line, recv: line } });
    try {
      assert.equal(client.send('hello'), true);
      assert.equal(text(await client.read()), 'HELLO');
      await client.write('second line');
      await client.write('');
      assert.equal(text(await client.read()), 'SECOND LINE');
      assert.equal(text(await client.read()), '');
      assert.equal(client.remoteAddress.kind, 'tcp');
      assert.deepEqual(client.remoteAddress, { kind: 'tcp', host: '127.0.0.1', port: portOf(server) });
      assert.deepEqual(client.stats, { bytesIn: 19, bytesOut: 19, framesIn: 3, framesOut: 3 });
      client.end();
      assert.equal(await client.read(), null, 'server closes after our FIN');
      assert.equal(await client.closed, undefined);
    } finally {
      client.destroy();
      await server.close();
    }
    assert.equal(server.stats.accepted, 1);
    assert.equal(server.connections, 0);
  });

  test('frames split across writes and many frames per write', async () => {
    const server = await listenFramed({ framers: { recv: line } });
    const raw = await rawConnect(portOf(server));
    try {
      const it = server[Symbol.asyncIterator]();
      const conn = (await it.next()).value as FramedConnection;
      const reading = readAllFrames(conn);
      const wire = 'hel|lo\nwor|ld\r|\nthree\nfour\n|fi|ve|\n';
      for (const piece of wire.split('|')) {
        await new Promise<void>((resolve, reject) => raw.write(piece, (err) => (err ? reject(err) : resolve())));
      }
      raw.end();
      assert.deepEqual(await reading, ['hello', 'world', 'three', 'four', 'five']);
      assert.equal(conn.stats.framesIn, 5);
      await conn.close();
    } finally {
      raw.destroy();
      await server.close();
    }
  });

  test('backpressure: send() returns false, the reader is paused at its bound, drained() resolves once read', async () => {
    const hwm = 16 * 1024;
    const server = await listenFramed({ readHighWaterMark: hwm });
    const client = await connectFramed({ port: portOf(server) });
    const it = server[Symbol.asyncIterator]();
    const conn = (await it.next()).value as FramedConnection;
    try {
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let sent = 0;
      while (client.send(chunk)) {
        sent += chunk.length;
        assert.ok(sent < 512 * 1024 * 1024, 'send() never reported a full buffer');
      }
      sent += chunk.length;
      // Nobody reads on the server: it must hold no more than its bound plus one socket read.
      await eventually(() => conn.bufferedBytes >= hwm, 'server read-ahead to reach its bound');
      assert.ok(conn.bufferedBytes <= hwm + 64 * 1024, `server buffered ${conn.bufferedBytes} bytes`);
      let drainedResolved = false;
      const drained = client.drained().then(() => (drainedResolved = true));
      assert.equal(drainedResolved, false);
      let received = 0;
      const reading = (async () => {
        for await (const f of conn) received += f.length;
      })();
      await drained;
      client.end();
      await reading;
      assert.equal(received, sent);
      assert.equal(conn.stats.bytesIn, sent);
      await conn.close();
    } finally {
      client.destroy();
      conn.destroy();
      await server.close();
    }
  });

  test('half-close: client end() ends the server iterator; the server still answers', async () => {
    const server = await listenFramed({ framers: { send: line, recv: line } }, async (conn) => {
      const got = await readAllFrames(conn);
      await conn.write(`got ${got.length}: ${got.join(',')}`);
      await conn.close();
    });
    const client = await connectFramed({ port: portOf(server), framers: { send: line, recv: line } });
    try {
      client.send('a');
      client.send('b');
      client.end();
      assert.throws(() => client.send('c'), { code: 'ERR_STREAM_WRITE_AFTER_END' });
      assert.deepEqual(await readAllFrames(client), ['got 2: a,b']);
      assert.equal(await client.closed, undefined);
    } finally {
      client.destroy();
      await server.close();
    }
  });

  test('resetAndDestroy sends an RST: the peer sees ECONNRESET', async () => {
    const server = await listenFramed({ framers: { recv: line } });
    const client = await connectFramed({ port: portOf(server), framers: { send: line } });
    const conn = (await server[Symbol.asyncIterator]().next()).value as FramedConnection;
    try {
      await client.write('before reset');
      assert.equal(text(await conn.read()), 'before reset');
      const pending = conn.read();
      client.resetAndDestroy();
      await assert.rejects(pending, { code: 'ECONNRESET' });
      const closedWith: NodeJS.ErrnoException | undefined = await conn.closed;
      assert.equal(closedWith?.code, 'ECONNRESET');
      assert.equal(await client.closed, undefined);
    } finally {
      conn.destroy();
      await server.close();
    }
  });

  test('framer switch mid-chunk: SMTP DATA arriving in one write with the commands around it', async () => {
    const seen: string[] = [];
    let bufferedAfterFirst = -1;
    const server = await listenFramed({ framers: { send: line, recv: line } }, async (conn) => {
      for await (const frame of conn) {
        const cmd = frame.toString();
        seen.push(cmd);
        if (seen.length === 1) bufferedAfterFirst = conn.bufferedBytes;
        if (cmd === 'DATA') {
          conn.setFramers({ recv: smtpBody }); // the body follows in the same chunk
          await conn.write('354 go ahead');
          const body = await conn.read();
          seen.push(`BODY[${text(body)}]`);
          conn.setFramers({ recv: line }); // and back for QUIT, also already buffered
          await conn.write('250 queued');
        } else if (cmd === 'QUIT') {
          await conn.write('221 bye');
          await conn.close();
        } else {
          await conn.write('250 ok');
        }
      }
    });
    const raw = await rawConnect(portOf(server));
    try {
      const wire = 'MAIL FROM:<a@b>\r\nDATA\r\nSubject: hi\r\n\r\nline 1\r\nline 2\r\n.\r\nQUIT\r\n';
      const replies = (async () => {
        const chunks: Buffer[] = [];
        for await (const c of raw) chunks.push(c as Buffer);
        return Buffer.concat(chunks).toString();
      })();
      raw.write(wire);
      assert.equal(await replies, '250 ok\n354 go ahead\n250 queued\n221 bye\n');
      assert.deepEqual(seen, ['MAIL FROM:<a@b>', 'DATA', 'BODY[Subject: hi\r\n\r\nline 1\r\nline 2]', 'QUIT']);
      assert.equal(bufferedAfterFirst, wire.length - 'MAIL FROM:<a@b>\r\n'.length, 'the whole dialogue arrived in one chunk');
    } finally {
      raw.destroy();
      await server.close();
    }
  });

  test('switching the send framer changes how later frames are encoded', async () => {
    const server = await listenFramed({ framers: { send: line } }, async (conn) => {
      conn.send('framed');
      conn.setFramers({ send: registry.build('passthrough', {}) });
      conn.send('raw|');
      conn.setFramers({ send: registry.build('netstring', {}) });
      await conn.write('ns');
      await conn.close();
    });
    const raw = await rawConnect(portOf(server));
    try {
      const chunks: Buffer[] = [];
      for await (const c of raw) chunks.push(c as Buffer);
      assert.equal(Buffer.concat(chunks).toString(), 'framed\nraw|2:ns,');
    } finally {
      raw.destroy();
      await server.close();
    }
  });

  test('a framing error is thrown to the reader; the connection can still answer before closing', async () => {
    const tight = registry.build('line', { maxLength: 8 });
    const errors: unknown[] = [];
    const server = await listenFramed({ framers: { send: line, recv: tight } }, async (conn) => {
      try {
        for await (const f of conn) await conn.write(`ok ${f.length}`);
      } catch (err) {
        errors.push(err);
        await conn.write(`ERR ${(err as { code: string }).code}`);
        await conn.close();
      }
    });
    const client = await connectFramed({ port: portOf(server), framers: { send: line, recv: line } });
    try {
      client.send('short');
      client.send('this line is far too long');
      assert.deepEqual(await readAllFrames(client), ['ok 5', `ERR ${ErrorCodes.FRAME_TOO_LARGE}`]);
      assert.equal((errors[0] as { code: string }).code, ErrorCodes.FRAME_TOO_LARGE);
    } finally {
      client.destroy();
      await server.close();
    }
  });

  test('a partial frame at EOF is SWY_FRAME_TRUNCATED', async () => {
    const server = await listenFramed({ framers: { recv: line } });
    const raw = await rawConnect(portOf(server));
    const conn = (await server[Symbol.asyncIterator]().next()).value as FramedConnection;
    try {
      raw.end('complete\nincomple');
      assert.equal(text(await conn.read()), 'complete');
      await assert.rejects(conn.read(), { code: ErrorCodes.FRAME_TRUNCATED });
    } finally {
      raw.destroy();
      conn.destroy();
      await server.close();
    }
  });

  test('connect errors are typed; the signal aborts; destroy(err) reaches readers', async () => {
    const server = await listenFramed({});
    const port = portOf(server);
    await server.close();
    await assert.rejects(connectFramed({ port }), { code: ErrorCodes.UPSTREAM_REFUSED });
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(connectFramed({ port, signal: ac.signal }), { name: 'AbortError' });

    const srv = await listenFramed({});
    const client = await connectFramed({ address: `127.0.0.1:${portOf(srv)}` });
    try {
      const pending = client.read();
      const boom = new Error('boom');
      client.destroy(boom);
      await assert.rejects(pending, boom);
      assert.equal(await client.closed, boom);
      assert.throws(() => client.send('x'), { code: 'ERR_STREAM_DESTROYED' });
    } finally {
      await srv.close();
    }
  });

  test('server.close() is graceful: stops accepting, ends the iterator, waits for live connections', async () => {
    const server = await listenFramed({ framers: { send: line, recv: line } });
    const client = await connectFramed({ port: portOf(server), framers: { send: line, recv: line } });
    const accepted: FramedConnection[] = [];
    const loop = (async () => {
      for await (const conn of server) accepted.push(conn);
    })();
    await eventually(() => accepted.length === 1, 'the connection to be accepted');
    let closed = false;
    const closing = server.close().then(() => (closed = true));
    await loop; // the iterator ended
    await assert.rejects(connectFramed({ port: portOf(server) }), { code: ErrorCodes.UPSTREAM_REFUSED });
    const conn = accepted[0]!;
    await conn.write('still here');
    assert.equal(text(await client.read()), 'still here');
    assert.equal(closed, false);
    client.end();
    assert.equal(await conn.read(), null);
    await conn.close();
    await closing;
    assert.equal(closed, true);
    client.destroy();
  });

  test('maxConnections closes connections over the limit at once', async () => {
    const server = await listenFramed({ maxConnections: 1, framers: { send: line, recv: line } }, echoUpper);
    const first = await connectFramed({ port: portOf(server), framers: { send: line, recv: line } });
    try {
      await first.write('one');
      assert.equal(text(await first.read()), 'ONE');
      const second = await connectFramed({ port: portOf(server), framers: { send: line, recv: line } });
      assert.equal(await second.read(), null, 'closed by the server without a frame');
      second.destroy();
      assert.equal(server.stats.rejected, 1);
      assert.equal(server.stats.accepted, 1);
    } finally {
      first.destroy();
      await server.close();
    }
  });

  test('setSocketOptions and socket defaults do not disturb the connection', async () => {
    const server = await listenFramed({ socket: { noDelay: true, keepAlive: 1000 } }, echoUpper);
    const client = await connectFramed({ port: portOf(server), socket: { keepAlive: true } });
    try {
      client.setSocketOptions({ noDelay: false, keepAlive: 0 });
      await client.write('abc');
      assert.equal(text(await client.read()), 'ABC');
    } finally {
      client.destroy();
      await server.close();
    }
  });
});

describe('FramedConnection over IPv6 and Unix sockets', () => {
  test('IPv6 loopback', async (t) => {
    if (!(await ipv6Available())) {
      t.skip('no IPv6 loopback here');
      return;
    }
    const server = await listenFramed({ address: '[::1]:0', framers: { send: line, recv: line } }, echoUpper);
    const client = await connectFramed({ address: server.address, framers: { send: line, recv: line } });
    try {
      assert.equal(server.address.kind === 'tcp' && server.address.host, '::1');
      assert.equal(client.remoteAddress.kind === 'tcp' && client.remoteAddress.host, '::1');
      assert.equal(client.localAddress.kind === 'tcp' && client.localAddress.host, '::1');
      await client.write('over six');
      assert.equal(text(await client.read()), 'OVER SIX');
    } finally {
      client.destroy();
      await server.close();
    }
  });

  test('Unix domain socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swy-net-'));
    const path = join(dir, 'framed.sock');
    const server = await listenFramed({ path, framers: { send: line, recv: line } }, echoUpper);
    try {
      const client = await connectFramed({ path, framers: { send: line, recv: line } });
      assert.deepEqual(server.address, { kind: 'unix', path });
      assert.deepEqual(client.remoteAddress, { kind: 'unix', path });
      await client.write('unix');
      assert.equal(text(await client.read()), 'UNIX');
      client.resetAndDestroy(); // no RST on Unix sockets: a plain destroy
      assert.equal(await client.closed, undefined);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
