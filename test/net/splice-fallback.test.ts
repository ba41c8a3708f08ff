/**
 * Without the splice addon (not built: no compiler at install, not Linux; here: a path that does not exist), raw
 * TCP passthrough takes the JS path, and says why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, eventually, hashAll, pseudoRandomChunks, startServer, writeChunks } from '../helpers/net.js';
import { startProxy } from '../helpers/yard.js';
import { spliceAvailable, spliceInfo } from '../../src/net/splice.js';

// read when the first listener is built (the addon is loaded lazily, once per process)
process.env['SWITCHYARD_SPLICE_ADDON'] = '/nonexistent/switchyard_splice.node';

test('the addon is missing: the listener (socket.splice: auto) forwards on the JS path, byte-exact both ways', async () => {
  const size = 4 * 1024 * 1024;
  let serverGot: Promise<{ sha256: string; bytes: number }> | undefined;
  let serverSent: Promise<string> | undefined;
  const upstream = await startServer((s) => {
    serverGot = hashAll(s);
    serverSent = writeChunks(s, pseudoRandomChunks(size, 2));
  });
  const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`], listener: { socket: { splice: 'auto' } } });
  try {
    assert.equal(spliceAvailable(), false);
    assert.match(spliceInfo().reason ?? '', /did not load/);
    const client = await connect(port);
    const clientGot = hashAll(client);
    const clientSent = await writeChunks(client, pseudoRandomChunks(size, 1));
    const got = await clientGot;
    await eventually(() => serverGot !== undefined, 'server connection');
    assert.equal((await serverGot!).sha256, clientSent);
    assert.equal(got.sha256, await serverSent!);
    const stats = yard.listeners.get('l1')!.stats;
    await eventually(() => stats.active === 0, 'session closed');
    assert.equal(stats.bytesToUpstream, size);
    assert.equal(stats.bytesToDownstream, size);
    assert.equal(spliceInfo().handedOver, 0, 'nothing was handed to an addon');
  } finally {
    await yard.close();
    await upstream.close();
  }
});
