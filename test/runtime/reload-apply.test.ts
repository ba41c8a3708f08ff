/**
 * Applying a reload plan to a live in-process Switchyard, against real loopback peers: what is kept, updated in
 * place, replaced, drained, and what a failure part-way leaves.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { validateConfig } from '../../src/runtime/config.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import type { SwitchyardConfig } from '../../src/config/types.js';
import { applyConfig, currentConfig } from '../../src/runtime/reload.js';
import { TcpListener } from '../../src/listeners/tcp.js';
import { startYard } from '../helpers/yard.js';
import { connect, eventually, freePort, readAll, startLineServer, type TestServer } from '../helpers/net.js';

const framers = createFramerRegistry();

function config(raw: Record<string, unknown>): SwitchyardConfig {
  const r = validateConfig(raw, framers);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  return r.config;
}

/** A line service answering `name:line` (so a test sees which upstream answered). */
function named(name: string): Promise<TestServer> {
  return startLineServer((l) => `${name}:${l}`);
}

/** Send one line on a live connection and read one answer line. */
function roundTrip(socket: net.Socket, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.includes('\n')) {
        socket.off('data', onData);
        socket.off('error', reject);
        resolve(got.trim());
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`${line}\n`);
  });
}

async function ask(port: number, line: string): Promise<string> {
  const s = await connect(port);
  s.end(`${line}\n`);
  return (await readAll(s)).toString().trim();
}

function portOf(yard: { listeners: Map<string, { address: unknown }> }, id: string): number {
  return (yard.listeners.get(id)!.address as { port: number }).port;
}


describe('applying a reload', () => {
  test('in place: faults and timeouts change on the same listener object, live connections kept', async (t) => {
    const a = await named('a');
    t.after(() => a.close());
    const raw = {
      listeners: [{ id: 'l1', listen: '127.0.0.1:0', framing: { type: 'line', stripDelimiter: false } }],
      clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${a.port}`] }],
      routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
      shutdown: { drainTimeout: '1s' },
    };
    const yard = await startYard(raw);
    t.after(() => yard.close());
    const before = yard.listeners.get('l1');
    const port = portOf(yard, 'l1');
    const live = await connect(port);
    assert.equal(await roundTrip(live, 'one'), 'a:one');
    const next = structuredClone(raw) as typeof raw & { listeners: Array<Record<string, unknown>> };
    Object.assign(next.listeners[0]!, { idleTimeout: '5m', faults: [{ name: 'slow', type: 'latency', attributes: { latency: 1 } }] });
    const out = await applyConfig(yard, config(next));
    assert.equal(out.result, 'applied');
    assert.deepEqual(out.plan.listeners.changed, [{ id: 'l1', keys: ['faults', 'idleTimeout'], action: 'update' }]);
    assert.equal(yard.listeners.get('l1'), before, 'the same listener object');
    assert.equal((yard.listeners.get('l1') as TcpListener).config.idleTimeout, 300_000);
    assert.deepEqual(yard.faultSets.get('l1')!.list().map((f) => f.name), ['slow']);
    assert.equal(await roundTrip(live, 'two'), 'a:two', 'the live connection goes on (now through the fault)');
    assert.equal(await ask(port, 'new'), 'a:new');
    assert.equal(yard.reloads.applied, 1);
    // The effective config is the new one: reloading it again changes nothing.
    const again = await applyConfig(yard, currentConfig(yard));
    assert.equal(again.plan.empty, true);
    live.destroy();
  });

  test('a changed cluster serves new connections; a connection opened before keeps its upstream; a moved listener drains the old address', async (t) => {
    const a = await named('a');
    const b = await named('b');
    t.after(() => Promise.all([a.close(), b.close()]));
    const raw = {
      listeners: [{ id: 'l1', listen: '127.0.0.1:0', framing: { type: 'line', stripDelimiter: false } }],
      clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${a.port}`] }],
      routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
      shutdown: { drainTimeout: '5s' },
    };
    const yard = await startYard(raw);
    t.after(() => yard.close());
    const oldPort = portOf(yard, 'l1');
    const live = await connect(oldPort);
    assert.equal(await roundTrip(live, 'x'), 'a:x');

    const newPort = await freePort();
    const next = structuredClone(raw);
    next.clusters[0]!.endpoints = [`127.0.0.1:${b.port}`];
    next.listeners[0]!.listen = `127.0.0.1:${newPort}`;
    const out = await applyConfig(yard, config(next));
    assert.equal(out.result, 'applied', out.error);
    assert.deepEqual(out.plan.clusters.changed, [{ id: 'c1', keys: ['endpoints'] }]);
    assert.equal(out.plan.listeners.changed[0]!.action, 'replace');
    assert.equal(await ask(newPort, 'y'), 'b:y', 'new connections: the new listener and the new cluster');
    assert.equal(await roundTrip(live, 'z'), 'a:z', 'the old connection keeps its upstream while it drains');
    await assert.rejects(connect(oldPort), /ECONNREFUSED/, 'the old address no longer accepts');
    live.end();
  });

  test('a listener replaced on the same address (new framing): new connections get the new one, the live one drains on the old', async (t) => {
    const a = await named('a');
    t.after(() => a.close());
    const port = await freePort();
    const raw = {
      listeners: [{ id: 'l1', listen: `127.0.0.1:${port}`, framing: { type: 'line', stripDelimiter: false } }],
      clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${a.port}`] }],
      routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
      shutdown: { drainTimeout: '5s' },
    };
    const yard = await startYard(raw);
    t.after(() => yard.close());
    const before = yard.listeners.get('l1');
    const live = await connect(port);
    assert.equal(await roundTrip(live, 'old'), 'a:old');
    const next: typeof raw = structuredClone(raw);
    next.listeners[0]!.framing = { type: 'line', stripDelimiter: true };
    const out = await applyConfig(yard, config(next));
    assert.equal(out.result, 'applied', out.error);
    assert.equal(out.plan.listeners.changed[0]!.action, 'replace');
    assert.notEqual(yard.listeners.get('l1'), before, 'a new listener object');
    assert.equal(before!.state, 'stopping', 'the old one drains');
    assert.equal((yard.listeners.get('l1') as TcpListener).config.framing.toUpstream.options['stripDelimiter'], true);
    assert.equal(await ask(port, 'new'), 'a:new');
    assert.equal(await roundTrip(live, 'still'), 'a:still');
    live.end();
    await before!.stop();
    assert.equal(before!.state, 'stopped');
  });

  test('a failure part-way (a port in use) is reported with what was applied; the old config still serves', async (t) => {
    const a = await named('a');
    t.after(() => a.close());
    const busy = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => busy.once('listening', r));
    t.after(() => new Promise((r) => busy.close(r)));
    const busyPort = (busy.address() as net.AddressInfo).port;
    const raw = {
      listeners: [{ id: 'l1', listen: '127.0.0.1:0', framing: { type: 'line', stripDelimiter: false } }],
      clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${a.port}`] }],
      routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
    };
    const yard = await startYard(raw);
    t.after(() => yard.close());
    const port = portOf(yard, 'l1');
    const next: typeof raw = structuredClone(raw);
    next.listeners.push({ id: 'l2', listen: `127.0.0.1:${busyPort}`, framing: { type: 'line', stripDelimiter: false } });
    next.clusters.push({ id: 'c2', endpoints: [`127.0.0.1:${a.port}`] });
    next.routes.push({ id: 'r2', listener: 'l2', cluster: 'c2' });
    const out = await applyConfig(yard, config(next));
    assert.equal(out.result, 'failed');
    assert.equal(out.failedStep, 'listener l2: add');
    assert.match(out.error ?? '', /address already in use|EADDRINUSE/i);
    assert.deepEqual(out.applied, ['cluster c2: add', 'route r2: add', 'routes: order as in the config']);
    assert.equal(yard.reloads.failed, 1);
    assert.equal(await ask(port, 'ok'), 'a:ok');
  });

  test('a removed listener stops accepting and lets its live connection finish within the drain deadline', async (t) => {
    const a = await named('a');
    t.after(() => a.close());
    const raw = {
      listeners: [
        { id: 'l1', listen: '127.0.0.1:0', framing: { type: 'line', stripDelimiter: false } },
        { id: 'l2', listen: '127.0.0.1:0', framing: { type: 'line', stripDelimiter: false } },
      ],
      clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${a.port}`] }],
      routes: [
        { id: 'r1', listener: 'l1', cluster: 'c1' },
        { id: 'r2', listener: 'l2', cluster: 'c1' },
      ],
      shutdown: { drainTimeout: '10s' },
    };
    const yard = await startYard(raw);
    t.after(() => yard.close());
    const port2 = portOf(yard, 'l2');
    const live = await connect(port2);
    assert.equal(await roundTrip(live, 'before'), 'a:before');
    const next = { ...raw, listeners: [raw.listeners[0]], routes: [raw.routes[0]] };
    const out = await applyConfig(yard, config(next));
    assert.equal(out.result, 'applied', out.error);
    assert.deepEqual(out.plan.listeners.removed, ['l2']);
    assert.deepEqual(out.plan.routes.removed, ['r2']);
    assert.equal(yard.listeners.has('l2'), false);
    await assert.rejects(connect(port2), /ECONNREFUSED/);
    assert.equal(await roundTrip(live, 'after'), 'a:after', 'the draining connection still works');
    live.end();
  });

  test('objects created at run time (admin API, Toxiproxy API) that no config declared are left alone', async (t) => {
    const a = await named('a');
    t.after(() => a.close());
    const raw = {
      listeners: [{ id: 'l1', listen: '127.0.0.1:0', framing: { type: 'line', stripDelimiter: false } }],
      clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${a.port}`] }],
      routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
    };
    const yard = await startYard(raw);
    t.after(() => yard.close());
    // As POST /api/v1/clusters, /routes, /listeners would.
    const extra = config({
      listeners: [{ id: 'api', listen: '127.0.0.1:0', framing: { type: 'line', stripDelimiter: false } }],
      clusters: [{ id: 'apic', endpoints: [`127.0.0.1:${a.port}`] }],
      routes: [{ id: 'apir', listener: 'api', cluster: 'apic' }],
    });
    await yard.addCluster(extra.clusters[0]!);
    await yard.addRoute(extra.routes[0]!);
    await yard.addListener(extra.listeners[0]!);
    const next = config({ ...raw, listeners: [{ ...raw.listeners[0], idleTimeout: '1m' }] });
    const out = await applyConfig(yard, next);
    assert.equal(out.result, 'applied', out.error);
    assert.deepEqual(out.untouched, { listeners: ['api'], clusters: ['apic'], routes: ['apir'] });
    assert.deepEqual(out.plan.listeners.removed, []);
    assert.equal(await ask(portOf(yard, 'api'), 'kept'), 'a:kept');
    // Once a config declares them they are the file's: a later config without them removes them.
    const adopt = await applyConfig(yard, config({ ...raw, listeners: [...raw.listeners, { id: 'api', listen: '127.0.0.1:0', framing: { type: 'line', stripDelimiter: false } }], clusters: [...raw.clusters, { id: 'apic', endpoints: [`127.0.0.1:${a.port}`] }], routes: [...raw.routes, { id: 'apir', listener: 'api', cluster: 'apic' }] }));
    assert.equal(adopt.result, 'applied', adopt.error);
    const drop = await applyConfig(yard, config(raw));
    assert.deepEqual(drop.plan.listeners.removed, ['api']);
    assert.deepEqual(drop.plan.clusters.removed, ['apic']);
    assert.equal(yard.listeners.has('api'), false);
  });

  test('a mirror route whose shadow cluster changed is rebuilt: new connections mirror to the new shadow', async (t) => {
    const seen = { prod: 0, shadow1: 0, shadow2: 0 };
    const servers = await Promise.all(
      (['prod', 'shadow1', 'shadow2'] as const).map(async (name) => {
        const server = http.createServer((req, res) => {
          seen[name]++;
          req.resume();
          res.end(name);
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        t.after(() => new Promise((r) => server.close(r)));
        return (server.address() as net.AddressInfo).port;
      }),
    );
    const [prodPort, shadow1, shadow2] = servers as [number, number, number];
    const raw = {
      listeners: [{ id: 'front', listen: '127.0.0.1:0', protocol: 'http' }],
      clusters: [
        { id: 'prod', endpoints: [`127.0.0.1:${prodPort}`] },
        { id: 'canary', endpoints: [`127.0.0.1:${shadow1}`] },
      ],
      routes: [{ id: 'web', listener: 'front', cluster: 'prod', mirror: { cluster: 'canary', fraction: 1 } }],
      shutdown: { drainTimeout: '1s' },
    };
    const yard = await startYard(raw);
    t.after(() => yard.close());
    const get = async (): Promise<string> => {
      const port = portOf(yard, 'front');
      return new Promise((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve(body));
        }).on('error', reject);
      });
    };
    assert.equal(await get(), 'prod');
    await eventually(() => seen.shadow1 === 1, 'mirrored to shadow1', 10_000);
    const next = structuredClone(raw);
    next.clusters[1]!.endpoints = [`127.0.0.1:${shadow2}`];
    const out = await applyConfig(yard, config(next));
    assert.equal(out.result, 'applied', out.error);
    assert.deepEqual(out.plan.routes.rebuilt, [{ id: 'web', clusters: ['canary'] }]);
    assert.equal(await get(), 'prod');
    await eventually(() => seen.shadow2 === 1, 'mirrored to shadow2', 10_000);
    assert.equal(seen.shadow1, 1);
  });

  test('dry run: the plan only, nothing applied or counted', async (t) => {
    const a = await named('a');
    t.after(() => a.close());
    const raw = {
      listeners: [{ id: 'l1', listen: '127.0.0.1:0' }],
      clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${a.port}`] }],
      routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
    };
    const yard = await startYard(raw);
    t.after(() => yard.close());
    const out = await applyConfig(yard, config({ ...raw, listeners: [], routes: [] }), { dryRun: true });
    assert.equal(out.result, 'dry-run');
    assert.deepEqual(out.plan.listeners.removed, ['l1']);
    assert.deepEqual(out.changes, ['listener l1: removed', 'route r1: removed']);
    assert.equal(yard.listeners.size, 1);
    assert.deepEqual(yard.reloads, { applied: 0, rejected: 0, failed: 0 });
  });
});
