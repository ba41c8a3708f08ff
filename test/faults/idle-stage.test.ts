/**
 * A raw TCP listener whose faults can do nothing (passive ones such as `noop`, connection-scope ones with toxicity 0)
 * starts its connections without the fault stage, on the raw byte path (issue 11: connection rate with no-op
 * faults); a change of the set that gives a fault work reaches them at once, as a fault added to a listener without
 * faults does: the session switches to the framed path between two chunks, byte-exact. Where the splice(2) addon is
 * available, such connections are spliced as passthrough ones are, and join the fault stage once the addon has let
 * their sockets go (asynchronously).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { AdminServer } from '../../src/admin/server.js';
import { createFaultRegistry } from '../../src/faults/builtins.js';
import { FaultSet } from '../../src/faults/fault-set.js';
import { FaultHandlerFactory, faultStagePending } from '../../src/faults/stage/fault-stage.js';
import { RandomSource } from '../../src/faults/random.js';
import { spliceInfo } from '../../src/net/splice.js';
import type { SessionContext, SessionIO, Verdict } from '../../src/pipeline/handler.js';
import { LOOPBACK } from '../helpers/admin.js';
import { connect, eventually, hashAll, pseudoRandomChunks, startEchoServer, writeChunks } from '../helpers/net.js';
import { startYard } from '../helpers/yard.js';

async function call(admin: AdminServer, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(admin.url + path, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Write `data` and read exactly as many bytes back. */
async function roundTrip(c: net.Socket, data: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      chunks.push(d);
      got += d.length;
      if (got >= data.length) {
        c.off('data', onData);
        c.off('error', reject);
        c.pause();
        resolve();
      }
    };
    c.on('data', onData);
    c.once('error', reject);
    c.resume();
  });
  c.write(data);
  await done;
  return Buffer.concat(chunks);
}

test('three noop faults: connections start on the raw path; a fault with work added live reaches them, byte-exact', async () => {
  const echo = await startEchoServer();
  const yard = await startYard({
    listeners: [{ id: 'l1', listen: '127.0.0.1:0', faults: [{ type: 'noop', name: 'n0' }, { type: 'noop', name: 'n1' }, { type: 'noop', name: 'n2' }] }],
    clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${echo.port}`] }],
    routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
  });
  const admin = await AdminServer.start(yard, { listen: LOOPBACK });
  const set = yard.faultSet('l1');
  const stats = yard.listeners.get('l1')!.stats;
  try {
    const handedOver = spliceInfo().handedOver;
    const c = await connect((yard.listeners.get('l1')!.address as { port: number }).port);
    const a = Buffer.from('through three noops\n');
    assert.deepEqual(await roundTrip(c, a), a);
    assert.equal(faultStagePending(set).sessions, 0, 'no fault has work: the connection runs without the stage');
    if (spliceInfo().available) assert.equal(spliceInfo().handedOver, handedOver + 1, 'idle faults: the connection is spliced, as a passthrough one is');
    // the splice path reports its counts every ~250 ms (and at the end)
    await eventually(() => stats.framesToUpstream >= 1 && stats.framesToDownstream >= 1, 'each read still counts as a passthrough frame');
    // a noop more changes nothing
    assert.equal((await call(admin, 'POST', '/api/v1/listeners/l1/faults', { type: 'noop', name: 'n3', stream: 'upstream' })).status, 201);
    assert.equal(faultStagePending(set).sessions, 0);

    const r = await call(admin, 'POST', '/api/v1/listeners/l1/faults', { name: 'slices', type: 'slicer', stream: 'upstream', attributes: { average_size: 100, size_variation: 30 } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(r.body['reaches'], { connections: 1, reached: 1 });
    await eventually(() => faultStagePending(set).sessions === 1, 'the live connection runs through the fault stage now', 10_000);
    const b = Buffer.concat([...pseudoRandomChunks(256 * 1024, 21)]);
    assert.deepEqual(await roundTrip(c, b), b);
    const slices = await call(admin, 'GET', '/api/v1/listeners/l1/faults/slices');
    assert.ok((slices.body['injected'] as number) > 0, 'the slicer cut the live connection\'s bytes');

    // removed again: the connection stays framed, and a new one starts on the raw path again
    assert.equal((await call(admin, 'DELETE', '/api/v1/listeners/l1/faults/slices')).status, 200);
    const c2 = await connect((yard.listeners.get('l1')!.address as { port: number }).port);
    const received = hashAll(c2);
    c2.resume();
    const want = await writeChunks(c2, pseudoRandomChunks(2 * 1024 * 1024, 22));
    c2.end();
    assert.equal((await received).sha256, want);
    assert.equal(faultStagePending(set).sessions, 1, 'only the switched connection has a stage');
    assert.deepEqual(await roundTrip(c, a), a);
    c.destroy();
    await eventually(() => stats.active === 0, 'sessions closed');
    assert.equal(faultStagePending(set).sessions, 0);
    assert.equal(stats.errors.size, 0, JSON.stringify([...stats.errors]));
  } finally {
    await admin.close();
    await yard.close();
    await echo.close();
  }
});

test('a connection-scope fault with toxicity 0 waits too; raising its toxicity reaches the live connection', async () => {
  const echo = await startEchoServer();
  const yard = await startYard({
    listeners: [{ id: 'l1', listen: '127.0.0.1:0', faults: [{ type: 'limit_data', name: 'cut', toxicity: 0, attributes: { bytes: 5 } }] }],
    clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${echo.port}`] }],
    routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
  });
  const admin = await AdminServer.start(yard, { listen: LOOPBACK });
  const set = yard.faultSet('l1');
  try {
    const c = await connect((yard.listeners.get('l1')!.address as { port: number }).port);
    const a = Buffer.from('0123456789');
    assert.deepEqual(await roundTrip(c, a), a);
    assert.equal(faultStagePending(set).sessions, 0);
    const r = await call(admin, 'PATCH', '/api/v1/listeners/l1/faults/cut', { toxicity: 1 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await eventually(() => faultStagePending(set).sessions === 1, 'the live connection runs through the fault stage now', 10_000);
    // limit_data now ends the connection after 5 more bytes downstream
    const rest: Buffer[] = [];
    c.on('data', (x: Buffer) => rest.push(x));
    c.on('error', () => undefined);
    const ended = new Promise((resolve) => c.once('end', resolve));
    c.resume();
    c.write(a);
    await ended;
    assert.equal(Buffer.concat(rest).toString(), '01234');
    c.destroy();
  } finally {
    await admin.close();
    await yard.close();
    await echo.close();
  }
});

const quiet = { isLevelEnabled: () => false, debug() {}, info() {}, warn() {}, error() {} } as unknown as SessionContext['logger'];

function context(): SessionContext {
  const io: SessionIO = { write: () => true, drained: () => Promise.resolve(), end() {}, answered() {}, reset() {}, close() {}, closed: false };
  return { sessionId: 1, listenerId: 'l1', remoteAddress: undefined, remotePort: undefined, logger: quiet, signal: new AbortController().signal, io, codec: undefined };
}

test('FaultHandlerFactory.idle: only faults that cannot act on a connection leave the stage idle', () => {
  const set = new FaultSet(createFaultRegistry());
  const factory = new FaultHandlerFactory({ set, random: new RandomSource(7) });
  assert.equal(factory.idle(), true, 'no faults');
  set.add({ type: 'noop', name: 'n' });
  set.add({ type: 'dummy', name: 'd' }); // request scope, toxicity 1: no draw
  set.add({ type: 'latency', name: 'off', toxicity: 0, scope: 'connection', attributes: { latency: 5 } });
  assert.equal(factory.idle(), true);
  set.update('off', { toxicity: 0.5 });
  assert.equal(factory.idle(), false, 'a connection-scope fault that may be drawn');
  set.remove('off');
  assert.equal(factory.idle(), true);
  set.update('d', { toxicity: 0.5 });
  assert.equal(factory.idle(), false, 'a passive fault drawing per request (from the link\'s random stream)');
  set.update('d', { toxicity: 1 });
  set.add({ type: 'dummy', name: 'g', group: 'mix', toxicity: 0.5 });
  assert.equal(factory.idle(), false, 'an exclusive group draws per request');
  set.remove('g');
  set.add({ type: 'latency', name: 'zero-req', toxicity: 0, scope: 'request', attributes: { latency: 5 } });
  assert.equal(factory.idle(), false, 'a request-scope fault starts on every connection');
  set.remove('zero-req');
  assert.equal(factory.idle(), true);
  const grpcLike = new FaultHandlerFactory({ set, random: new RandomSource(7), include: (f) => f.scope === 'connection' });
  set.add({ type: 'latency', name: 'per-call', scope: 'request', attributes: { latency: 5 } });
  assert.equal(grpcLike.idle(), true, 'faults the stage does not run do not count');
  assert.equal(factory.idle(), false);
});

test('a ticket taken at connection start gives the handler made later the same random streams (seeded runs repeat)', () => {
  const draws = (order: 'now' | 'later'): string => {
    const set = new FaultSet(createFaultRegistry());
    set.add({ type: 'latency', name: 'half', scope: 'connection', toxicity: 0.5, attributes: { latency: 0 } });
    const factory = new FaultHandlerFactory({ set, random: new RandomSource(7) });
    const ctx = context();
    const made = order === 'now' ? Array.from({ length: 16 }, () => factory.create(ctx)) : Array.from({ length: 16 }, () => factory.ticket()).reverse().map((t) => factory.create(ctx, t)).reverse();
    // drawn: the frame goes through the fault (the stage writes it: drop); not drawn: passed on (continue)
    const out = made.map((h) => ((h.onFrame(Buffer.from('x'), 'toDownstream', ctx, undefined) as Verdict).action === 'drop' ? '1' : '0')).join('');
    for (const h of made) h.onClose?.(ctx);
    return out;
  };
  const now = draws('now');
  assert.match(now, /0/);
  assert.match(now, /1/);
  assert.equal(draws('later'), now);
});
