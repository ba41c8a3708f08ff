import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Redis } from 'ioredis';
import { startYard } from '../helpers/yard.js';
import { startLineServer } from '../helpers/net.js';
import { needService, reachable } from '../helpers/services.js';

const REDIS = { host: '127.0.0.1', port: 6379 };
let redisUp = false;
const servers: net.Server[] = [];

before(async () => {
  redisUp = await reachable(REDIS.host, REDIS.port);
});
after(() => {
  for (const s of servers) s.close();
});

const needRedis = (t: { skip(msg: string): void }): boolean => needService(t, redisUp, 'redis');

/** A line service: answers each line with f(line). */
async function lineService(f: (line: string) => string | undefined): Promise<number> {
  const s = await startLineServer(f);
  servers.push(s.server);
  return s.port;
}

/** Send lines, collect what comes back until the connection closes or `expect` lines arrived. */
async function exchange(port: number, lines: string[], expect: number): Promise<{ lines: string[]; closed: boolean }> {
  const sock = net.connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => (text += d));
  sock.on('error', () => undefined);
  const done = new Promise<void>((resolve) => {
    sock.on('close', () => {
      closed = true;
      resolve();
    });
    const check = setInterval(() => {
      if (text.split('\n').length - 1 >= expect) {
        clearInterval(check);
        resolve();
      }
    }, 5);
    setTimeout(() => (clearInterval(check), resolve()), 3000);
  });
  sock.write(lines.map((l) => `${l}\n`).join(''));
  await done;
  sock.destroy();
  return { lines: text.split('\n').filter((l) => l.length > 0), closed };
}

test('line framing: lines are compared one by one; a diverging line closes the connection (raw protocols have no error message)', async () => {
  const upper = (l: string): string => l.toUpperCase();
  const flawed = (l: string): string => (l === 'magic' ? 'LEAKED' : l.toUpperCase());
  const ports = [await lineService(upper), await lineService(upper), await lineService(flawed)];
  const yard = await startYard({
    listeners: [{ id: 'front', listen: '127.0.0.1:0', framing: 'line' }],
    routes: [{ id: 'r', listener: 'front', replicate: { variants: ports.map((p) => `127.0.0.1:${p}`) } }],
  });
  const a = yard.listeners.get('front')!.address!;
  const port = a.kind === 'tcp' ? a.port : 0;
  try {
    const ok = await exchange(port, ['hello', 'world'], 2);
    assert.deepEqual(ok.lines, ['HELLO', 'WORLD']);
    const bad = await exchange(port, ['fine', 'magic', 'never'], 3);
    assert.deepEqual(bad.lines, ['FINE']);
    assert.equal(bad.closed, true);
    const e = yard.divergences.list().at(-1)!;
    assert.equal(e.decision, 'blocked');
    assert.match(e.diff, /MAGIC|LEAKED/);
  } finally {
    await yard.close();
  }
});

test('redis: three real Redis connections as variants; agreeing replies pass through ioredis; a diverging reply is an -ERR', async (t) => {
  if (!needRedis(t)) return;
  // Three "variants" of one Redis service: the real server, twice more through a line-level rewriter that
  // corrupts one key's value on the third.
  const key = `swy:nv:${process.pid}:${Date.now()}`;
  const direct = new Redis(REDIS);
  await direct.set(key, 'v1');
  await direct.set(`${key}:other`, 'same');
  const corrupting = net.createServer((client) => {
    const up = net.connect(REDIS);
    client.pipe(up);
    up.on('data', (d: Buffer) => client.write(Buffer.from(d.toString('latin1').replace('$2\r\nv1\r\n', '$2\r\nXX\r\n'), 'latin1')));
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
    client.on('close', () => up.destroy());
  });
  await new Promise<void>((r) => corrupting.listen(0, '127.0.0.1', r));
  servers.push(corrupting);
  const cport = (corrupting.address() as net.AddressInfo).port;
  const yard = await startYard({
    listeners: [{ id: 'front', listen: '127.0.0.1:0', protocol: 'redis' }],
    routes: [{ id: 'r', listener: 'front', replicate: { variants: [`127.0.0.1:6379`, `127.0.0.1:6379`, `127.0.0.1:${cport}`], policy: 'unanimous' } }],
  });
  const a = yard.listeners.get('front')!.address!;
  const client = new Redis({ host: '127.0.0.1', port: a.kind === 'tcp' ? a.port : 0, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true, enableReadyCheck: false });
  client.on('error', () => undefined);
  try {
    await client.connect();
    assert.equal(await client.get(`${key}:other`), 'same');
    // Pipelined commands.
    const res = await client.pipeline().exists(`${key}:other`).strlen(`${key}:other`).get(`${key}:other`).exec();
    assert.deepEqual(res?.map(([, v]) => v), [1, 4, 'same']);
    await assert.rejects(client.get(key), /blocked/);
    const e = yard.divergences.list().at(-1)!;
    assert.match(e.request.summary, /GET/i);
    assert.match(e.diff, /XX/);
  } finally {
    client.disconnect();
    await direct.del(key, `${key}:other`);
    direct.disconnect();
    await yard.close();
  }
});

test('raw TCP (no framer): answer streams are compared byte for byte; unanimous closes at the first difference, majority serves the majority', async () => {
  const echo = (l: string): string => `echo ${l}`;
  const flawed = (l: string): string => (l === 'magic' ? 'echo MAGIC' : `echo ${l}`);
  const ports = [await lineService(echo), await lineService(echo), await lineService(flawed)];
  for (const policy of ['unanimous', 'majority'] as const) {
    const yard = await startYard({
      listeners: [{ id: 'front', listen: '127.0.0.1:0' }],
      routes: [{ id: 'r', listener: 'front', replicate: { variants: ports.map((p) => `127.0.0.1:${p}`), policy, timeout: '500ms' } }],
    });
    const a = yard.listeners.get('front')!.address!;
    const port = a.kind === 'tcp' ? a.port : 0;
    try {
      const ok = await exchange(port, ['one', 'two'], 2);
      assert.deepEqual(ok.lines, ['echo one', 'echo two']);
      // Variant connections count on the variants' clusters, as for framed sessions.
      const variants = (yard.routes.get('r')!.engine as unknown as { variants: Array<{ cluster: { stats: { total: number } } }> }).variants;
      assert.ok(variants.every((v) => v.cluster.stats.total >= 1), JSON.stringify(variants.map((v) => v.cluster.stats.total)));
      const bad = await exchange(port, ['one', 'magic', 'three'], 3);
      if (policy === 'unanimous') {
        assert.deepEqual(bad.lines, ['echo one', 'echo ']);
        assert.equal(bad.closed, true);
        assert.equal(yard.divergences.list().at(-1)!.decision, 'blocked');
      } else {
        assert.deepEqual(bad.lines, ['echo one', 'echo magic', 'echo three']);
        const e = yard.divergences.list().at(-1)!;
        assert.equal(e.decision, 'outvoted');
        assert.match(e.diff, /byte \d+/);
      }
    } finally {
      await yard.close();
    }
  }
});
