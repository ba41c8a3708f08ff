/**
 * Per-command Redis routing over two real redis-server processes (started here on free ports): ioredis 5 and 6
 * pipelines of mixed keys get every reply in order and each key lands on its cluster's server; CROSSSLOT; MULTI
 * pins; keyless commands go to the default route; setup (HELLO 3, CLIENT SETNAME, SELECT) is replayed.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Redis as Redis5 } from 'ioredis';
import { Redis as Redis6 } from 'ioredis6';
import { startRoutedProxy, testCluster, type RoutedProxy } from './router-harness.js';
import { freePort, eventually, connect, readAll } from '../helpers/net.js';
import { reachable } from '../helpers/services.js';

const REDIS_SERVER = '/usr/bin/redis-server';

interface RedisProc {
  port: number;
  proc: ChildProcess;
}

async function startRedis(): Promise<RedisProc> {
  const port = await freePort();
  const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' });
  let up = false;
  await eventually(() => up, `redis-server on ${port}`, 10_000).catch(() => undefined);
  for (let i = 0; i < 100 && !up; i++) {
    up = await reachable('127.0.0.1', port);
    if (!up) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(up, `redis-server did not start on ${port}`);
  return { port, proc };
}

type AnyRedis = Redis5 | Redis6;
const CLIENTS: Array<{ name: string; create(port: number, extra?: Record<string, unknown>): AnyRedis }> = [
  { name: 'ioredis 5', create: (port, extra = {}) => new Redis5({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...extra }) },
  { name: 'ioredis 6', create: (port, extra = {}) => new Redis6({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...extra }) },
];

const skip = !existsSync(REDIS_SERVER) ? `${REDIS_SERVER} is missing` : false;

describe('Redis per-command routing', { skip }, () => {
  let ra: RedisProc;
  let rb: RedisProc;
  let proxy: RoutedProxy;
  let directA: Redis5;
  let directB: Redis5;

  before(async () => {
    [ra, rb] = await Promise.all([startRedis(), startRedis()]);
    proxy = await startRoutedProxy('redis', [
      { id: 'ra', match: { key: 'a:*' }, cluster: testCluster('ca', ra.port), default: true },
      { id: 'rb', match: { key: 'b:*' }, cluster: testCluster('cb', rb.port) },
    ]);
    directA = new Redis5({ host: '127.0.0.1', port: ra.port, lazyConnect: true });
    directB = new Redis5({ host: '127.0.0.1', port: rb.port, lazyConnect: true });
    await directA.connect();
    await directB.connect();
  });
  after(async () => {
    directA?.disconnect();
    directB?.disconnect();
    await proxy?.close();
    ra?.proc.kill('SIGKILL');
    rb?.proc.kill('SIGKILL');
  });

  for (const client of CLIENTS) {
    test(`${client.name}: a pipeline of mixed keys gets every reply in order; each key lands on its cluster`, async () => {
      const r = client.create(proxy.port, { connectionName: 'routed' });
      r.on('error', () => undefined);
      try {
        await r.connect();
        assert.equal(r.status, 'ready');
        const tag = client.name.replace(' ', '');
        const p = r.pipeline();
        const expected: unknown[] = [];
        for (let i = 0; i < 50; i++) {
          const k = `${i % 2 === 0 ? 'a' : 'b'}:${tag}:${i}`;
          p.set(k, `v${i}`);
          expected.push('OK');
          p.get(k);
          expected.push(`v${i}`);
          p.incr(`${k}:n`);
          expected.push(1);
        }
        p.ping();
        expected.push('PONG');
        const out = (await p.exec())!;
        assert.deepEqual(
          out.map(([err, v]) => (err ? String(err) : v)),
          expected,
        );
        for (let i = 0; i < 50; i++) {
          const k = `${i % 2 === 0 ? 'a' : 'b'}:${tag}:${i}`;
          const [on, off] = i % 2 === 0 ? [directA, directB] : [directB, directA];
          assert.equal(await on.get(k), `v${i}`, `${k} on its server`);
          assert.equal(await off.get(k), null, `${k} not on the other server`);
        }
        // setup replayed: the connection name is set on both servers' connections
        const lists = [await directA.client('LIST'), await directB.client('LIST')] as string[];
        for (const l of lists) assert.match(l, /name=routed/);
      } finally {
        r.disconnect();
      }
    });
  }

  test('large values (several frames each) interleaved across both clusters keep their order and bytes', async () => {
    const r = CLIENTS[1]!.create(proxy.port);
    r.on('error', () => undefined);
    try {
      await r.connect();
      const p = r.pipeline();
      const values: string[] = [];
      for (let i = 0; i < 12; i++) {
        const v = `${i}:`.padEnd(150_000 + i * 7919, String.fromCharCode(97 + (i % 26)));
        values.push(v);
        p.set(`${i % 2 === 0 ? 'a' : 'b'}:big:${i}`, v);
        p.get(`${i % 2 === 0 ? 'a' : 'b'}:big:${i}`);
      }
      const out = (await p.exec())!;
      for (let i = 0; i < 12; i++) {
        assert.equal(out[2 * i]![1], 'OK');
        assert.equal(out[2 * i + 1]![1], values[i], `value ${i}`);
      }
      assert.equal((await directB.strlen('b:big:1')), values[1]!.length);
    } finally {
      r.disconnect();
    }
  });

  test('keyless PING and INFO go to the default route; a key no route takes gets an error', async () => {
    const r = CLIENTS[0]!.create(proxy.port);
    r.on('error', () => undefined);
    try {
      await r.connect();
      assert.equal(await r.ping(), 'PONG');
      const info = await r.info('server');
      assert.match(info, new RegExp(`tcp_port:${ra.port}`));
      await assert.rejects(r.get('zzz:1'), /^ReplyError: ERR no route for key 'zzz:1'/);
      await eventually(() => (proxy.stats.errors.get('SWY_NO_ROUTE') ?? 0) >= 1, 'no_route counted');
      assert.equal(await r.set('a:still', '1'), 'OK');
    } finally {
      r.disconnect();
    }
  });

  test('a multi-key command whose keys map to different clusters gets CROSSSLOT; same-cluster keys pass', async () => {
    const r = CLIENTS[1]!.create(proxy.port);
    r.on('error', () => undefined);
    try {
      await r.connect();
      const p = r.pipeline().mset('a:x1', '1', 'a:x2', '2').mget('a:x1', 'b:x2').mget('a:x1', 'a:x2').del('a:x1', 'b:y');
      const out = (await p.exec())!;
      assert.equal(out[0]![1], 'OK');
      assert.match(String(out[1]![0]), /CROSSSLOT keys in request map to clusters 'ca' and 'cb'/);
      assert.deepEqual(out[2]![1], ['1', '2']);
      assert.match(String(out[3]![0]), /CROSSSLOT/);
    } finally {
      r.disconnect();
    }
  });

  test('MULTI pins the connection to the default cluster for the rest of the connection', async () => {
    const r = CLIENTS[0]!.create(proxy.port);
    r.on('error', () => undefined);
    try {
      await r.connect();
      assert.equal(await r.set('b:before', 'x'), 'OK');
      const out = (await r.multi().set('b:in-multi', '1').get('b:in-multi').exec())!;
      assert.deepEqual(out.map(([, v]) => v), ['OK', '1']);
      // pinned to cluster A (MULTI has no key: the default route), so b:* keys now land on A
      assert.equal(await directA.get('b:in-multi'), '1');
      assert.equal(await directB.get('b:in-multi'), null);
      assert.equal(await r.get('b:before'), null, 'pinned: b:before is looked up on A');
    } finally {
      r.disconnect();
    }
  });

  test('SUBSCRIBE pins the connection to the default cluster: messages published there arrive', async () => {
    const sub = CLIENTS[1]!.create(proxy.port);
    sub.on('error', () => undefined);
    try {
      await sub.connect();
      const got: string[] = [];
      sub.on('message', (channel: string, message: string) => got.push(`${channel}=${message}`));
      await sub.subscribe('routed-news');
      await eventually(() => {
        void directA.publish('routed-news', 'hello');
        return got.includes('routed-news=hello');
      }, 'message through the pinned connection', 10_000);
    } finally {
      sub.disconnect();
    }
  });

  test('a client that pins (MULTI) and half-closes at once gets every answer, then the FIN', async () => {
    const s = await connect(proxy.port);
    s.end('GET b:half\r\nMULTI\r\nSET b:half-multi 1\r\nEXEC\r\n');
    const text = (await readAll(s)).toString('latin1');
    assert.equal(text, '$-1\r\n+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n');
    assert.equal(await directA.get('b:half-multi'), '1', 'pinned to the default cluster');
  });

  test('a later SELECT replaces the earlier one for connections opened after it', async () => {
    const r = CLIENTS[0]!.create(proxy.port, { db: 4 });
    r.on('error', () => undefined);
    try {
      await r.connect();
      assert.equal(await r.set('a:db', 'four'), 'OK'); // opens the connection to A (db 4)
      assert.equal(await r.select(6), 'OK');
      assert.equal(await r.set('b:db', 'six'), 'OK'); // B is opened now: only SELECT 6 is replayed there
      assert.equal(await r.set('a:db6', 'six'), 'OK');
      await directB.select(6);
      await directA.select(6);
      assert.equal(await directB.get('b:db'), 'six');
      assert.equal(await directA.get('a:db6'), 'six');
      await directB.select(0);
      await directA.select(0);
    } finally {
      r.disconnect();
    }
  });

  test('routes may match the selected database (db)', async () => {
    const byDb = await startRoutedProxy('redis', [
      { id: 'db1', match: { db: 1 }, cluster: testCluster('cb', rb.port) },
      { id: 'rest', cluster: testCluster('ca', ra.port), default: true },
    ]);
    const r0 = CLIENTS[0]!.create(byDb.port);
    const r1 = CLIENTS[1]!.create(byDb.port, { db: 1 });
    r0.on('error', () => undefined);
    r1.on('error', () => undefined);
    try {
      await r0.connect();
      await r1.connect();
      assert.equal(await r0.set('dbroute:k', 'zero'), 'OK');
      assert.equal(await r1.set('dbroute:k', 'one'), 'OK');
      assert.equal(await directA.get('dbroute:k'), 'zero');
      await directB.select(1);
      assert.equal(await directB.get('dbroute:k'), 'one');
      await directB.select(0);
    } finally {
      r0.disconnect();
      r1.disconnect();
      await byDb.close();
    }
  });

  test('SELECT is replayed on connections opened later', async () => {
    const r = CLIENTS[0]!.create(proxy.port, { db: 3 });
    r.on('error', () => undefined);
    try {
      await r.connect();
      assert.equal(await r.set('b:db3', 'three'), 'OK');
      assert.equal(await r.set('a:db3', 'three'), 'OK');
      await directB.select(3);
      await directA.select(3);
      assert.equal(await directB.get('b:db3'), 'three');
      assert.equal(await directA.get('a:db3'), 'three');
      await directB.select(0);
      await directA.select(0);
    } finally {
      r.disconnect();
    }
  });
});
