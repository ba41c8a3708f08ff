/**
 * The splice addon's pipe pool is capped (SWITCHYARD_SPLICE_MAX_PIPES, read once when the addon loads): a direction
 * that finds it spent copies through a buffer instead. Connections on both kinds stay byte-exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, eventually, hashAll, pseudoRandomChunks, startServer, writeChunks } from '../helpers/net.js';
import { startProxy } from '../helpers/yard.js';
import { spliceInfo } from '../../src/net/splice.js';

process.env['SWITCHYARD_SPLICE_MAX_PIPES'] = '1';

test('one pipe for four bulk connections both ways at once: the others copy, every byte arrives', { skip: process.env['SWITCHYARD_SPLICE_ADDON'] === 'off' }, async () => {
  const size = 8 * 1024 * 1024;
  const conns = 4;
  const server: { got: Promise<{ sha256: string; bytes: number }>; sent: Promise<string> }[] = [];
  const upstream = await startServer((s) => {
    const seed = 100 + server.length;
    server.push({ got: hashAll(s), sent: writeChunks(s, pseudoRandomChunks(size, seed)) });
  });
  const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`] });
  try {
    const info = spliceInfo();
    assert.ok(info.available, `the splice addon is built and loads: ${info.reason}`);
    assert.equal(info.maxPipes, 1);
    const before = info.handedOver;
    const runs = await Promise.all(
      Array.from({ length: conns }, async (_, i) => {
        const c = await connect(port);
        const got = hashAll(c);
        const sent = await writeChunks(c, pseudoRandomChunks(size, i + 1));
        return { sent, got: await got };
      }),
    );
    await eventually(() => server.length === conns, 'server connections');
    const upHashes = new Set(await Promise.all(server.map((s) => s.got.then((g) => g.sha256))));
    const downHashes = new Set(await Promise.all(server.map((s) => s.sent)));
    for (const r of runs) {
      assert.ok(upHashes.has(r.sent), 'client → server byte-exact');
      assert.equal(r.got.bytes, size);
      assert.ok(downHashes.has(r.got.sha256), 'server → client byte-exact');
    }
    const stats = yard.listeners.get('l1')!.stats;
    await eventually(() => stats.active === 0, 'sessions closed');
    assert.equal(stats.bytesToUpstream, size * conns);
    assert.equal(stats.bytesToDownstream, size * conns);
    const after = spliceInfo();
    assert.equal(after.handedOver - before, conns, 'every connection went through the addon');
    assert.ok(after.pipes <= 1, `never more than the cap: ${after.pipes}`);
    assert.ok(after.copyFallbacks > 0, 'the spent pool made directions copy');
    assert.equal(after.copyDirections, 0, 'copy buffers are freed');
  } finally {
    await yard.close();
    await upstream.close();
  }
});
