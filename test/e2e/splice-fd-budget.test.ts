/**
 * The descriptor budget and the splice path: a listener hands a connection to the splice addon only while less
 * than a quarter of the descriptor room is in use. Short connections that closed must leave that estimate, or a
 * steady stream of them pushes it past the quarter and later connections take the JS path although few are open.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { connect, readAll, startServer } from '../helpers/net.js';
import { startYard } from '../helpers/yard.js';
import { FdBudget } from '../../src/core/fd-budget.js';
import { spliceInfo } from '../../src/net/splice.js';

test('splice: 120 short connections one after the other all take the splice path (closed ones leave the fd estimate)', { skip: process.platform !== 'linux' }, async () => {
  const upstream = await startServer((s) => {
    s.on('data', (d: Buffer) => s.write(d));
    s.on('end', () => s.end());
  });
  const open = readdirSync('/proc/self/fd').length;
  // a quarter of the room is ~40 descriptors above what is open now: ten spliced connections' worth. No recount
  // within the test (sampleMs): only the closed connections' release keeps the estimate down.
  const budget = new FdBudget({ limit: 4 * (open + 60) + 16, reserve: 16, sampleMs: 600_000 });
  const yard = await startYard(
    {
      listeners: [{ id: 'l1', listen: '127.0.0.1:0', socket: { splice: 'auto' } }],
      clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${upstream.port}`] }],
      routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
    },
    { fdBudget: budget },
  );
  try {
    assert.ok(spliceInfo().available, `the splice addon is built and loads: ${spliceInfo().reason}`);
    const a = yard.listeners.get('l1')!.address!;
    assert.equal(a.kind, 'tcp');
    const port = a.kind === 'tcp' ? a.port : 0;
    const before = spliceInfo().handedOver;
    const n = 120;
    for (let i = 0; i < n; i++) {
      const c = await connect(port);
      const got = readAll(c);
      c.end(`hello ${i}`);
      assert.equal((await got).toString(), `hello ${i}`);
      c.destroy();
      // the session closes after both sockets do; the next connection should find the estimate down again
      const stats = yard.listeners.get('l1')!.stats;
      const deadline = Date.now() + 5000;
      while (stats.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(spliceInfo().handedOver - before, n, `all ${n} connections spliced (estimate now ${budget.estimate}, limit ${budget.limit})`);
    assert.ok(budget.estimate < open + 60, `estimate ${budget.estimate} stays near the ${open} descriptors open at the start`);
  } finally {
    await yard.close();
    await upstream.close();
  }
});
