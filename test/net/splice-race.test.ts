/**
 * A spliced connection can end before the JS thread that handed it over runs again (a descheduled process on a
 * busy machine): the worker may register, finish and free it in that gap. The id add() returns must still be the
 * connection's, or its records (FIN, done) reach no one and the session never closes.
 *
 * SWITCHYARD_SPLICE_TEST_ADD_STALL_MS (read when the addon loads) makes add() stall after the hand-over, so the
 * gap is certain instead of rare.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { eventually, startEchoServer } from '../helpers/net.js';
import { startProxy } from '../helpers/yard.js';
import { spliceInfo } from '../../src/net/splice.js';

process.env['SWITCHYARD_SPLICE_TEST_ADD_STALL_MS'] = '300';

test('a connection the worker ends while add() has not returned still closes its session (its records keep their id)', { skip: process.env['SWITCHYARD_SPLICE_ADDON'] === 'off', timeout: 30_000 }, async () => {
  const echo = await startEchoServer();
  const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${echo.port}`] });
  try {
    const info = spliceInfo();
    assert.ok(info.available, `the splice addon is built and loads: ${info.reason}`);
    const stats = yard.listeners.get('l1')!.stats;
    for (let i = 0; i < 3; i++) {
      const before = spliceInfo().handedOver;
      const c = net.connect({ port, host: '127.0.0.1' });
      c.on('error', () => undefined);
      await once(c, 'connect');
      // an RST before the proxy has even connected upstream: the worker reads it at once, during add()'s stall
      c.resetAndDestroy();
      await eventually(() => spliceInfo().handedOver > before, `connection ${i} handed to the addon`);
      await eventually(() => stats.active === 0, `session ${i} closed (its done record found its watcher)`);
    }
    assert.equal(stats.total, 3);
  } finally {
    await yard.close();
    await echo.close();
  }
});
