/** A route's faults act on the WAMP sessions that route carries, not on the listener's other sessions. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdminServer } from '../../src/admin/server.js';
import { startYard } from '../helpers/yard.js';
import { joined, startFox } from './stack.js';

test('WAMP route faults: error/drop on one route\'s sessions only (config and admin-created routes)', async (t) => {
  const fox = await startFox();
  const yard = await startYard({
    listeners: [{ id: 'wamp', listen: '127.0.0.1:0', protocol: { type: 'wamp' } }],
    clusters: [{ id: 'fox', endpoints: [`127.0.0.1:${fox.port}`], wamp: { path: '/' } }],
    routes: [
      { id: 'flaky', listener: 'wamp', match: { realm: 'realm1' }, cluster: 'fox', faults: [{ name: 'flaky-x', type: 'error', match: { procedure: 'com.x' }, attributes: { status: 'app.error.flaky' } }] },
      { id: 'clean', listener: 'wamp', match: { realm: 'realm2' }, cluster: 'fox' },
    ],
  });
  const admin = await AdminServer.start(yard, { listen: { kind: 'tcp', host: '127.0.0.1', port: 0 } });
  const a = yard.listeners.get('wamp')!.address!;
  const url = `ws://127.0.0.1:${a.kind === 'tcp' ? a.port : 0}/ws`;
  const open: Array<{ close(): Promise<void> }> = [];
  t.after(async () => {
    for (const j of open) await j.close();
    await admin.close();
    await yard.close();
    await fox.close();
  });
  const join = async (realm: string) => {
    const j = await joined({ url, realm });
    open.push(j);
    return j;
  };
  // The same procedure registered in both realms on the same router.
  const callee1 = await join('realm1');
  const callee2 = await join('realm2');
  await callee1.session.register('com.x', () => 'ran1');
  await callee2.session.register('com.x', () => 'ran2');
  const caller1 = await join('realm1');
  const caller2 = await join('realm2');
  await assert.rejects(caller1.session.call('com.x'), (e: { error?: string }) => e.error === 'app.error.flaky');
  assert.equal(await caller2.session.call('com.x'), 'ran2');

  // A route created at run time with a downstream drop: only its sessions lose the events.
  const res = await fetch(`${admin.url}/api/v1/routes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'lossy', listener: 'wamp', match: { realm: 'realm3' }, cluster: 'fox', faults: [{ name: 'lossy-ev', type: 'drop', stream: 'downstream', match: { topic: 'ticks' } }] }),
  });
  assert.equal(res.status, 201, await res.text());
  const sub3 = await join('realm3');
  const sub2 = await join('realm2');
  const got: string[] = [];
  await sub3.session.subscribe('ticks', () => void got.push('realm3'));
  await sub2.session.subscribe('ticks', () => void got.push('realm2'));
  const pub3 = await join('realm3');
  await pub3.session.publish('ticks', [1], {}, { acknowledge: true });
  await caller2.session.publish('ticks', [1], {}, { acknowledge: true });
  // Events flow in order per session: a later marker event proves the dropped one is not merely late.
  await sub3.session.subscribe('marker', () => void got.push('realm3-marker'));
  await pub3.session.publish('marker', [1], {}, { acknowledge: true });
  const deadline = Date.now() + 5000;
  while (!(got.includes('realm2') && got.includes('realm3-marker')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got.sort(), ['realm2', 'realm3-marker']);
  const injected = Object.fromEntries(yard.faultSets.get('wamp')!.list().map((f) => [f.name, f.injected]));
  assert.deepEqual(injected, { 'flaky-x': 1, 'lossy-ev': 1 });
});
