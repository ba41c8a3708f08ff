import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { AdminServer } from '../../src/admin/server.js';
import { startProxy } from '../helpers/yard.js';
import { LOOPBACK } from '../helpers/admin.js';
import { connect, eventually } from '../helpers/net.js';
import { startHttpEcho, startRedisEcho } from './echo-upstreams.js';

const json = (body: unknown, method = 'POST'): RequestInit => ({ method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

test('after an upstream slicer was added and removed, an error fault answers every request (issue 10 §4)', async () => {
  const up = await startHttpEcho();
  const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${up.port}`], listener: { protocol: 'http', faults: [] } });
  const admin = await AdminServer.start(yard, { listen: LOOPBACK });
  const api = async (path: string, init?: RequestInit): Promise<number> => (await fetch(`${admin.url}/api/v1/listeners/l1${path}`, init)).status;
  const agent = new Agent({ connections: 1, pipelining: 1 });
  const get = async (id: string): Promise<string> => {
    const r = await request(`http://127.0.0.1:${port}/${id}`, { dispatcher: agent });
    return `${r.statusCode} ${(await r.body.text()).trim()}`;
  };
  try {
    assert.equal(await get('r1'), '200 r1');
    assert.equal(await api('/faults', json({ type: 'slicer', stream: 'upstream', attributes: { average_size: 8, size_variation: 4, delay: 10 } })), 201);
    assert.equal(await get('r2'), '200 r2');
    assert.equal(await api('/faults/slicer_upstream', { method: 'DELETE' }), 200);
    assert.equal(await get('r3'), '200 r3');
    assert.equal(await api('/faults', json({ type: 'error', attributes: { status: 503 } })), 201);
    assert.equal(await get('r4'), '503 error injected by switchyard');
    assert.equal(await get('r5'), '503 error injected by switchyard');
    assert.deepEqual(up.seen, ['r1', 'r2', 'r3']);
  } finally {
    await agent.close();
    await admin.close();
    await yard.close();
    await up.close();
  }
});

test('an injected reply waiting behind a sliced response is written after the whole response, not inside it', async () => {
  const up = await startHttpEcho();
  const { yard, port } = await startProxy({
    upstreams: [`127.0.0.1:${up.port}`],
    listener: {
      protocol: 'http',
      faults: [
        { type: 'slicer', stream: 'downstream', attributes: { average_size: 4, size_variation: 2, delay: 100 } },
        { type: 'error', attributes: { status: 503 }, match: { path: '/bad' } },
      ],
    },
  });
  const client = await connect(port);
  try {
    let got = '';
    const done = new Promise<void>((resolve) => {
      client.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (got.includes('error injected by switchyard')) resolve();
      });
    });
    client.write('GET /good-one HTTP/1.1\r\nHost: x\r\n\r\nGET /bad HTTP/1.1\r\nHost: x\r\n\r\n');
    await done;
    const first = 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ngood-one';
    assert.equal(got.slice(0, first.length), first);
    assert.match(got.slice(first.length), /^HTTP\/1\.1 503 /);
  } finally {
    client.destroy();
    await yard.close();
    await up.close();
  }
});

// fast-check counterexample (live-changes-property, seed 6): an upstream slicer before an error fault
test('a request an error fault answers at its first slicer piece sends none of its other pieces to the server', async () => {
  const up = await startRedisEcho();
  const { yard, port } = await startProxy({
    upstreams: [`127.0.0.1:${up.port}`],
    listener: {
      protocol: 'redis',
      faults: [
        { type: 'slicer', stream: 'upstream', attributes: { average_size: 3, size_variation: 0, delay: 237 } },
        { type: 'error', attributes: { status: 'ERR' } },
      ],
    },
  });
  const set = yard.faultSet('l1');
  const client = await connect(port);
  try {
    let got = '';
    const lines = (n: number): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (got.split('\r\n').length > n) {
            client.off('data', onData);
            resolve();
          }
        };
        const onData = (d: Buffer): void => {
          got += d.toString('latin1');
          check();
        };
        client.on('data', onData);
        client.once('close', () => reject(new Error(`closed after ${JSON.stringify(got)}`)));
        check();
      });
    client.write('*2\r\n$4\r\nECHO\r\n$2\r\nr1\r\n*2\r\n$4\r\nECHO\r\n$2\r\nr2\r\n');
    await lines(2);
    assert.equal(got, '-ERR error injected by switchyard\r\n-ERR error injected by switchyard\r\n');
    set.clear();
    client.write('*2\r\n$4\r\nECHO\r\n$2\r\nr3\r\n');
    await lines(4);
    assert.ok(got.endsWith('\r\n$2\r\nr3\r\n'), JSON.stringify(got));
    assert.deepEqual(up.seen, ['r3']);
  } finally {
    client.destroy();
    await yard.close();
    await up.close();
  }
});

// fast-check counterexample (live-changes-property, seed 21): reset_peer removed while it waited
test('a reset_peer removed while it waits releases the frame it held: no request is lost', async () => {
  const up = await startHttpEcho();
  const { yard, port } = await startProxy({
    upstreams: [`127.0.0.1:${up.port}`],
    listener: { protocol: 'http', faults: [{ type: 'reset_peer', stream: 'upstream', attributes: { timeout: 60_000 } }] },
  });
  const set = yard.faultSet('l1');
  const client = await connect(port);
  try {
    let got = '';
    const done = new Promise<void>((resolve, reject) => {
      client.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (got.endsWith('r2')) resolve();
      });
      client.once('close', () => reject(new Error(`closed after ${JSON.stringify(got)}`)));
    });
    client.write('POST /r1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /r2 HTTP/1.1\r\nHost: x\r\n\r\n');
    await eventually(() => set.get('reset_peer_upstream')!.injected === 1, 'reset_peer holding the first frame');
    set.remove('reset_peer_upstream');
    await done;
    assert.equal(got, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr1HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr2');
    assert.deepEqual(up.seen, ['r1', 'r2']);
  } finally {
    client.destroy();
    await yard.close();
    await up.close();
  }
});

test('a hang removed after it took the client FIN lets the FIN go on: the connection ends', { timeout: 10_000 }, async () => {
  const up = await startHttpEcho();
  const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${up.port}`], listener: { protocol: 'http', faults: [{ type: 'hang' }] } });
  const set = yard.faultSet('l1');
  const client = await connect(port);
  try {
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.end('GET /r1 HTTP/1.1\r\nHost: x\r\n\r\n');
    await eventually(() => set.get('hang_upstream')!.injected === 1, 'hang swallowing the request');
    set.remove('hang_upstream');
    await closed;
    assert.deepEqual(up.seen, []);
  } finally {
    client.destroy();
    await yard.close();
    await up.close();
  }
});

// fast-check counterexample (live-changes-property, seed 72), in the fault's own (connection) scope
test('a timeout updated after it dropped a request closes the connection instead of letting later requests be answered out of turn', { timeout: 10_000 }, async () => {
  const up = await startHttpEcho();
  const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${up.port}`], listener: { protocol: 'http', faults: [{ type: 'timeout', stream: 'upstream' }] } });
  const set = yard.faultSet('l1');
  const client = await connect(port);
  try {
    let got = '';
    client.on('data', (d: Buffer) => (got += d.toString('latin1')));
    const closed = new Promise<void>((resolve) => client.once('end', () => resolve()));
    client.write('GET /r1 HTTP/1.1\r\nHost: x\r\n\r\n');
    const stats = yard.listeners.get('l1')!.stats;
    await eventually(() => stats.framesToUpstream >= 1, 'the proxy framed (and the timeout dropped) r1');
    set.update('timeout_upstream', { toxicity: 0 });
    client.write('GET /r2 HTTP/1.1\r\nHost: x\r\n\r\n');
    await closed;
    assert.equal(got, '', 'no answer out of turn (r2 answered as if it were r1)');
  } finally {
    client.destroy();
    await yard.close();
    await up.close();
  }
});
