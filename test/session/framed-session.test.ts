import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { startServer, startEchoServer, connect, readAll, eventually } from '../helpers/net.js';
import { startProxy, startYard } from '../helpers/yard.js';
import type { FrameHandler, HandlerFactory, Verdict } from '../../src/pipeline/handler.js';
import { ErrorCodes, SwitchyardError } from '../../src/core/errors.js';

describe('framed sessions', () => {
  test('line framing re-frames lines split across writes and many per write', async () => {
    const lines: string[] = [];
    const upstream = await startServer((s) => {
      s.setEncoding('utf8');
      s.on('data', (d: string) => lines.push(d));
      s.on('end', () => s.end('bye\n'));
    });
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`], listener: { framing: 'line' } });
    try {
      const c = await connect(port);
      c.setNoDelay(true);
      c.write('hel');
      await new Promise((r) => setTimeout(r, 20));
      c.write('lo\r\nwor');
      await new Promise((r) => setTimeout(r, 20));
      c.end('ld\none\ntwo\n');
      assert.equal((await readAll(c)).toString(), 'bye\n');
      // default line options strip the delimiter (LF or CRLF) and re-add '\n'
      assert.equal(lines.join(''), 'hello\nworld\none\ntwo\n');
      const stats = yard.listeners.get('l1')!.stats;
      assert.equal(stats.framesToUpstream, 4);
      assert.equal(stats.framesToDownstream, 1);
    } finally {
      await yard.close();
      await upstream.close();
    }
  });

  test('a bad frame closes that connection only; others keep working; the error is counted', async () => {
    const upstream = await startEchoServer();
    const { yard, port } = await startProxy({
      upstreams: [`127.0.0.1:${upstream.port}`],
      listener: { framing: { type: 'line', maxLength: 16 } },
    });
    try {
      const good = await connect(port);
      const bad = await connect(port);
      good.write('short\n');
      const [echo] = (await once(good, 'data')) as [Buffer];
      assert.equal(echo.toString(), 'short\n');
      bad.write(`${'x'.repeat(100)}\n`);
      await readAll(bad).catch(() => undefined); // closed by the proxy
      await eventually(() => yard.listeners.get('l1')!.stats.errors.get(ErrorCodes.FRAME_TOO_LARGE) === 1, 'frame error counted');
      good.write('still ok\n');
      const [again] = (await once(good, 'data')) as [Buffer];
      assert.equal(again.toString(), 'still ok\n');
      good.end();
      await readAll(good);
    } finally {
      await yard.close();
      await upstream.close();
    }
  });

  test('a truncated frame at EOF is reported, not silently forwarded', async () => {
    const received: Buffer[] = [];
    // The upstream closes when the proxy hands on the client's FIN (the complete frames went on; the tail did not).
    const upstream = await startServer((s) => {
      s.on('data', (d: Buffer) => received.push(d));
      s.on('end', () => s.end());
    });
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`], listener: { framing: 'line' } });
    try {
      const c = await connect(port);
      c.end('complete\npartial');
      await readAll(c).catch(() => undefined);
      await eventually(() => yard.listeners.get('l1')!.stats.errors.get(ErrorCodes.FRAME_TRUNCATED) === 1, 'truncation counted');
      assert.equal(Buffer.concat(received).toString(), 'complete\n');
    } finally {
      await yard.close();
      await upstream.close();
    }
  });

  test('input that ends inside a line: the complete lines are answered, the FIN goes on, the tail is reported', async () => {
    // printf 'one\ntwo\nthree' | nc …: the answers to the two complete lines must reach the client.
    const upstream = await startServer((s) => {
      s.setEncoding('utf8');
      let held = '';
      s.on('data', (d: string) => {
        held += d;
        for (let i = held.indexOf('\n'); i >= 0; i = held.indexOf('\n')) {
          s.write(`${held.slice(0, i).toUpperCase()}\n`);
          held = held.slice(i + 1);
        }
      });
      s.on('end', () => s.end());
    });
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`], listener: { framing: 'line' } });
    try {
      const c = await connect(port);
      c.end('one\ntwo\nthree');
      assert.equal((await readAll(c)).toString(), 'ONE\nTWO\n');
      await eventually(() => yard.listeners.get('l1')!.stats.errors.get(ErrorCodes.FRAME_TRUNCATED) === 1, 'truncation counted');
    } finally {
      await yard.close();
      await upstream.close();
    }
  });

  test('pipeline handlers can rewrite, reply, drop and close — sync and async, in order', async () => {
    // A handler that upper-cases toward the upstream (async, with jittered delays that would reorder frames
    // if the session did not serialise them), answers PING itself, drops DROP, and closes on QUIT.
    const factory: HandlerFactory = {
      name: 'test-handler',
      create(): FrameHandler {
        let n = 0;
        return {
          onFrame(frame, direction): Verdict | Promise<Verdict> {
            const text = frame.toString();
            if (direction === 'toDownstream') return { action: 'continue' };
            if (text === 'PING') return { action: 'reply', frames: [Buffer.from('PONG')] };
            if (text === 'DROP') return { action: 'drop' };
            if (text === 'QUIT') return { action: 'close', error: new SwitchyardError(ErrorCodes.BAD_REQUEST, 'quit') };
            const delay = (n++ % 3) * 15;
            return new Promise((r) => setTimeout(() => r({ action: 'continue', frames: [Buffer.from(text.toUpperCase())] }), delay));
          },
        };
      },
    };
    const upstream = await startEchoServer();
    const yard = await startYard(
      {
        listeners: [{ id: 'l1', listen: '127.0.0.1:0', framing: 'line' }],
        clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${upstream.port}`] }],
        routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
      },
      { handlers: [factory] },
    );
    const a = yard.listeners.get('l1')!.address!;
    try {
      const c = await connect(a.kind === 'tcp' ? a.port : 0);
      let got = '';
      c.setEncoding('utf8');
      c.on('data', (d: string) => (got += d));
      c.write('a\nb\nPING\nc\nDROP\nd\ne\n');
      await eventually(() => got.split('\n').length >= 7, `all replies (got ${JSON.stringify(got)})`);
      // PONG is answered by the proxy at once; the echoed lines keep their order
      assert.deepEqual(got.split('\n').filter((l) => l !== 'PONG' && l !== ''), ['A', 'B', 'C', 'D', 'E']);
      assert.ok(got.includes('PONG\n'));
      c.write('QUIT\n');
      await readAll(c).catch(() => undefined);
      assert.ok(c.readableEnded || c.destroyed);
    } finally {
      await yard.close();
      await upstream.close();
    }
  });
});
