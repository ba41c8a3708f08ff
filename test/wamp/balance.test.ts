/** Round robin per (realm, authrole) over routes and endpoints, skipping removed/stopped routes and dead endpoints; the admin sessions API. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { AdminServer } from '../../src/admin/server.js';
import { startYard } from '../helpers/yard.js';
import { eventually } from '../helpers/net.js';
import { type Fox, joined, type Joined, startFox } from './stack.js';

describe('WAMP proxy: round robin, stopped routes, dead backends, admin sessions API', () => {
  const foxes: Fox[] = [];
  let yard: Switchyard;
  let admin: AdminServer;
  let url: string;

  before(async () => {
    for (let i = 0; i < 3; i++) foxes.push(await startFox());
    yard = await startYard({
      listeners: [{ id: 'wamp', listen: '127.0.0.1:0', protocol: { type: 'wamp', auth: { anonymous: { role: 'anonymous' } } } }],
      clusters: [
        ...foxes.map((f, i) => ({ id: `fox${i}`, endpoints: [`127.0.0.1:${f.port}`], wamp: { path: '/' } })),
        // One cluster over the three routers plus a dead endpoint: connect retries go to the next endpoint.
        { id: 'pool', endpoints: ['127.0.0.1:1', ...foxes.map((f) => `127.0.0.1:${f.port}`)], retries: 2, retryBackoff: 0, wamp: { path: '/' } },
      ],
      // Crossbar's `routes: {realm1: {anonymous: [fox0, fox1, fox2]}}`: one route per connection, same match.
      routes: [
        ...foxes.map((_f, i) => ({ id: `rr${i}`, listener: 'wamp', match: { realm: 'realm1', authrole: 'anonymous' }, cluster: `fox${i}` })),
        { id: 'pooled', listener: 'wamp', match: { realm: 'realm2' }, cluster: 'pool' },
      ],
    });
    const a = yard.listeners.get('wamp')!.address!;
    url = `ws://127.0.0.1:${a.kind === 'tcp' ? a.port : 0}/ws`;
    admin = await AdminServer.start(yard, { listen: { kind: 'tcp', host: '127.0.0.1', port: 0 } });
  });

  after(async () => {
    await admin?.close();
    await yard?.close();
    for (const f of foxes) await f.close();
  });

  /** Join n sessions (20 at a time), return them. */
  async function many(realm: string, n: number): Promise<Joined[]> {
    const out: Joined[] = [];
    while (out.length < n) {
      const batch = await Promise.all(Array.from({ length: Math.min(20, n - out.length) }, () => joined({ url, realm })));
      out.push(...batch);
    }
    return out;
  }

  function spread(by: 'cluster' | 'backendEndpoint'): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const s of yard.wamp.sessions('wamp')) {
      const k = String(s.toJSON()[by]);
      counts[k] = (counts[k] ?? 0) + 1;
    }
    return counts;
  }

  async function closeAll(list: Joined[]): Promise<void> {
    await Promise.all(list.map((j) => j.close()));
    await eventually(() => yard.wamp.sessions('wamp').length === 0, 'all sessions to end');
  }

  it('100 sessions spread evenly over 3 routes (34/33/33); the admin API lists them and kills one', async () => {
    const list = await many('realm1', 100);
    try {
      const counts = Object.values(spread('cluster')).sort();
      assert.deepEqual(counts, [33, 33, 34]);
      const res = await fetch(`${admin.url}/api/v1/wamp/sessions?listener=wamp`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { sessions: Array<Record<string, unknown>> };
      assert.equal(body.sessions.length, 100);
      const one = body.sessions[0]!;
      for (const k of ['id', 'realm', 'authid', 'authrole', 'backendEndpoint', 'serializers', 'messages']) assert.ok(k in one, `missing ${k}`);
      const del = await fetch(`${admin.url}/api/v1/wamp/sessions/${String(one['id'])}`, { method: 'DELETE' });
      assert.equal(del.status, 200);
      await eventually(() => yard.wamp.sessions('wamp').length === 99, 'the killed session to go');
      const gone = await fetch(`${admin.url}/api/v1/wamp/sessions/${String(one['id'])}`, { method: 'DELETE' });
      assert.equal(gone.status, 404);
      const bad = await fetch(`${admin.url}/api/v1/wamp/sessions/abc`);
      assert.equal(bad.status, 400);
    } finally {
      await closeAll(list);
    }
  });

  it('a removed route leaves round robin at once (no stale entry); a stopped cluster too', async () => {
    await yard.removeRoute('rr1');
    let list = await many('realm1', 30);
    assert.deepEqual(spread('cluster'), { fox0: 15, fox2: 15 });
    await closeAll(list);
    yard.clusters.get('fox2')!.stop();
    yard.publish();
    list = await many('realm1', 10);
    assert.deepEqual(spread('cluster'), { fox0: 10 });
    await closeAll(list);
  });

  it('a dead endpoint in a cluster is skipped (connect retried on the next one): all 30 sessions join over the live three', async () => {
    const list = await many('realm2', 30);
    try {
      const counts = spread('backendEndpoint');
      assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), 30);
      assert.ok(!Object.keys(counts).some((k) => k.endsWith(':1')), JSON.stringify(counts));
      assert.equal(Object.keys(counts).length, 3, JSON.stringify(counts));
    } finally {
      await closeAll(list);
    }
  });
});
