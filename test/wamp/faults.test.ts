/** Request-scope faults on WAMP: error answers a CALL with ERROR, delay holds a CALL, drop loses a PUBLISH or an EVENT. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startYard } from '../helpers/yard.js';
import { eventually } from '../helpers/net.js';
import { joined, startFox } from './stack.js';

test('WAMP faults: error (configured URI), delay, drop upstream and downstream, matched on procedure/topic', async (t) => {
  const fox = await startFox();
  const yard = await startYard({
    listeners: [
      {
        id: 'wamp',
        listen: '127.0.0.1:0',
        protocol: { type: 'wamp' },
        faults: [
          { name: 'fail', type: 'error', match: { procedure: 'com.fail' }, attributes: { status: 'app.error.injected', message: 'boom' } },
          { name: 'fail-default', type: 'error', match: { procedure: 'com.fail2', realm: 'realm1' } },
          { name: 'slow', type: 'delay', match: { procedure: 'com.slow' }, attributes: { sleep: 0.4 } },
          { name: 'lose-pub', type: 'drop', match: { topic: 'lossy.pub' } },
          { name: 'lose-event', type: 'drop', stream: 'downstream', match: { topic: 'lossy.event' } },
        ],
      },
    ],
    clusters: [{ id: 'fox', endpoints: [`127.0.0.1:${fox.port}`], wamp: { path: '/' } }],
    routes: [{ id: 'r', listener: 'wamp', cluster: 'fox' }],
  });
  const a = yard.listeners.get('wamp')!.address!;
  const url = `ws://127.0.0.1:${a.kind === 'tcp' ? a.port : 0}/ws`;
  const callee = await joined({ url, realm: 'realm1' });
  const caller = await joined({ url, realm: 'realm1' });
  t.after(async () => {
    await caller.close();
    await callee.close();
    await yard.close();
    await fox.close();
  });
  for (const p of ['com.fail', 'com.fail2', 'com.slow', 'com.ok']) await callee.session.register(p, () => 'ran');
  await assert.rejects(caller.session.call('com.fail'), (e: { error?: string; args?: unknown[] }) => e.error === 'app.error.injected' && e.args?.[0] === 'boom');
  await assert.rejects(caller.session.call('com.fail2'), (e: { error?: string }) => e.error === 'wamp.error.runtime_error');
  assert.equal(await caller.session.call('com.ok'), 'ran');
  const t0 = Date.now();
  assert.equal(await caller.session.call('com.slow'), 'ran');
  assert.ok(Date.now() - t0 >= 390, `delay fault: ${Date.now() - t0} ms`);
  const got: string[] = [];
  for (const topic of ['lossy.pub', 'lossy.event', 'fine']) await callee.session.subscribe(topic, () => void got.push(topic));
  for (const topic of ['lossy.pub', 'lossy.event', 'fine']) await caller.session.publish(topic, [1], {}, { acknowledge: true });
  await eventually(() => got.includes('fine'), 'the unfaulted event');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(got, ['fine']);
  const faults = yard.faultSets.get('wamp')!.list().map((f) => [f.name, f.injected]);
  assert.deepEqual(Object.fromEntries(faults), { fail: 1, 'fail-default': 1, slow: 1, 'lose-pub': 1, 'lose-event': 1 });
});
