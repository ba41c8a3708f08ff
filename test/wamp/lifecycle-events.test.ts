/** `event: lifecycle` on GET /api/v1/events: admin start/stop of a WAMP listener, route, cluster and a WAMP session, read by a streaming fetch client. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { AdminServer } from '../../src/admin/server.js';
import { startYard } from '../helpers/yard.js';
import { eventually } from '../helpers/net.js';
import { type Fox, joined, startFox } from './stack.js';

interface SseEvent {
  type: string;
  id: string | undefined;
  data: Record<string, unknown>;
}

/** A real SSE reader over node's fetch: parses `event:`/`id:`/`data:` blocks into `events`. */
async function openStream(url: string): Promise<{ events: SseEvent[]; close(): void }> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream' }, signal: controller.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const events: SseEvent[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let type = 'message';
          let id: string | undefined;
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const c = line.indexOf(':');
            const field = c < 0 ? line : line.slice(0, c);
            const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (field === 'event') type = v;
            else if (field === 'data') data.push(v);
            else if (field === 'id') id = v;
          }
          if (data.length > 0) events.push({ type, id, data: JSON.parse(data.join('\n')) as Record<string, unknown> });
        }
      }
    } catch {
      // aborted
    }
  })();
  return { events, close: () => controller.abort() };
}

describe('lifecycle events on the SSE stream', () => {
  let fox: Fox;
  let yard: Switchyard;
  let admin: AdminServer;

  before(async () => {
    fox = await startFox();
    yard = await startYard({
      listeners: [{ id: 'wamp', listen: '127.0.0.1:0', protocol: { type: 'wamp', auth: { anonymous: { role: 'anonymous' } } } }],
      clusters: [{ id: 'fox', endpoints: [`127.0.0.1:${fox.port}`], wamp: { path: '/' } }],
      routes: [{ id: 'r1', listener: 'wamp', match: { realm: 'realm1' }, cluster: 'fox' }],
    });
    admin = await AdminServer.start(yard, { listen: { kind: 'tcp', host: '127.0.0.1', port: 0 } });
  });

  after(async () => {
    await admin?.close();
    await yard?.close();
    await fox?.close();
  });

  it('admin start/stop of a wamp listener, route, cluster and a session arrive in order as `event: lifecycle`', async () => {
    const stream = await openStream(`${admin.url}/api/v1/events`);
    try {
      const post = async (kind: string, body: unknown): Promise<void> => {
        const res = await fetch(`${admin.url}/api/v1/${kind}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        assert.equal(res.status, 201, await res.text());
      };
      const del = async (kind: string, id: string): Promise<void> => {
        const res = await fetch(`${admin.url}/api/v1/${kind}/${id}`, { method: 'DELETE' });
        assert.equal(res.status, 200, await res.text());
      };
      await post('clusters', { id: 'fox2', endpoints: [`127.0.0.1:${fox.port}`], wamp: { path: '/' } });
      await post('listeners', { id: 'wamp2', listen: '127.0.0.1:0', protocol: { type: 'wamp', auth: { anonymous: { role: 'anonymous' } } } });
      await post('routes', { id: 'r2', listener: 'wamp2', match: { realm: 'realm2' }, cluster: 'fox2' });
      const a = yard.listeners.get('wamp2')!.address!;
      const j = await joined({ url: `ws://127.0.0.1:${a.kind === 'tcp' ? a.port : 0}/ws`, realm: 'realm2' });
      const sessionId = String(j.session.id);
      await j.close();
      await eventually(() => yard.wamp.sessions('wamp2').length === 0, 'the session to end');
      await del('routes', 'r2');
      await del('listeners', 'wamp2');
      await del('clusters', 'fox2');

      const lifecycle = (): SseEvent[] => stream.events.filter((e) => e.type === 'lifecycle');
      await eventually(() => lifecycle().some((e) => e.data['kind'] === 'cluster' && e.data['id'] === 'fox2' && e.data['state'] === 'stopped'), 'the cluster stopped event');
      const seen = lifecycle().map((e) => `${String(e.data['kind'])}:${String(e.data['id'])}:${String(e.data['state'])}`);
      // The proxy's own session id differs from the backend's: pick the wamp-session events by kind.
      const sessions = lifecycle().filter((e) => e.data['kind'] === 'wamp-session');
      assert.equal(sessions.length, 2, seen.join('\n'));
      const proxySession = String(sessions[0]!.data['id']);
      assert.deepEqual(sessions.map((e) => e.data['state']), ['started', 'stopped']);
      assert.equal(sessions[0]!.data['detail'] && (sessions[0]!.data['detail'] as Record<string, unknown>)['realm'], 'realm2');
      assert.equal((sessions[0]!.data['detail'] as Record<string, unknown>)['route'], 'r2');
      assert.ok(sessionId.length > 0);
      assert.deepEqual(seen, [
        'cluster:fox2:starting',
        'cluster:fox2:started',
        'listener:wamp2:starting',
        'listener:wamp2:started',
        'route:r2:starting',
        'route:r2:started',
        `wamp-session:${proxySession}:started`,
        `wamp-session:${proxySession}:stopped`,
        'route:r2:stopping',
        'route:r2:stopped',
        'listener:wamp2:stopping',
        'listener:wamp2:stopped',
        'cluster:fox2:stopping',
        'cluster:fox2:stopped',
      ]);
      // Increasing seq, ISO time, previous state; no `id:` line (Last-Event-ID keeps naming divergences).
      const all = lifecycle();
      for (let i = 1; i < all.length; i++) assert.ok((all[i]!.data['seq'] as number) > (all[i - 1]!.data['seq'] as number));
      for (const e of all) {
        assert.equal(e.id, undefined);
        assert.ok(!Number.isNaN(Date.parse(String(e.data['time']))));
      }
      assert.equal(all.find((e) => e.data['id'] === 'r2' && e.data['state'] === 'stopped')!.data['previous'], 'stopping');
      // Nothing else on the stream (no divergence happened).
      assert.deepEqual(stream.events.filter((e) => e.type !== 'lifecycle'), []);
    } finally {
      stream.close();
    }
  });

  it('?types=divergence leaves lifecycle events out; an unknown type is a 400 naming it', async () => {
    const stream = await openStream(`${admin.url}/api/v1/events?types=divergence`);
    try {
      const res = await fetch(`${admin.url}/api/v1/routes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'r3', listener: 'wamp', match: { realm: 'realm3' }, cluster: 'fox' }) });
      assert.equal(res.status, 201);
      await fetch(`${admin.url}/api/v1/routes/r3`, { method: 'DELETE' });
      const events = yard.lifecycle.recent().filter((e) => e.id === 'r3');
      assert.deepEqual(events.map((e) => e.state), ['starting', 'started', 'stopping', 'stopped']);
      // A request after the changes, on the same server, has been answered: the stream had every chance to carry them.
      await (await fetch(`${admin.url}/api/v1/routes`)).text();
      assert.deepEqual(stream.events, []);
    } finally {
      stream.close();
    }
    const bad = await fetch(`${admin.url}/api/v1/events?types=divergence,bogus`);
    assert.equal(bad.status, 400);
    const body = (await bad.json()) as { error: { message: string } };
    assert.match(body.error.message, /types.*"bogus"/);
  });
});

describe('lifecycle events of config load and shutdown', () => {
  it('a config start reports every object starting/started; close() reports them stopping/stopped', async () => {
    const fox = await startFox();
    const yard = await startYard({
      listeners: [{ id: 'w', listen: '127.0.0.1:0', protocol: { type: 'wamp' } }],
      clusters: [{ id: 'c', endpoints: [`127.0.0.1:${fox.port}`], wamp: { path: '/' } }],
      routes: [{ id: 'r', listener: 'w', cluster: 'c' }],
    });
    const line = (e: { kind: string; id: string; state: string }): string => `${e.kind}:${e.id}:${e.state}`;
    try {
      assert.deepEqual(yard.lifecycle.recent().map(line), ['cluster:c:starting', 'cluster:c:started', 'route:r:starting', 'route:r:started', 'listener:w:starting', 'listener:w:started']);
      const seen: string[] = [];
      yard.lifecycle.subscribe((e) => void seen.push(line(e)));
      await yard.close();
      assert.deepEqual(seen, ['listener:w:stopping', 'listener:w:stopped', 'route:r:stopping', 'route:r:stopped', 'cluster:c:stopping', 'cluster:c:stopped']);
    } finally {
      await yard.close();
      await fox.close();
    }
  });
});
