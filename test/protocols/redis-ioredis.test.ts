import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { Redis, ReplyError } from 'ioredis';
import { startCodecTap, type CodecTap, type TappedFrame } from '../helpers/codec-tap.js';
import { eventually } from '../helpers/net.js';
import { redisOptionsSchema, redisProtocol } from '../../src/protocols/redis/index.js';
import type { Attributes, ErrorReplyRequest } from '../../src/protocols/protocol.js';

const REDIS = { host: '127.0.0.1', port: 6379 };
const P = 'redis-ioredis:';
const factory = redisProtocol.factory(redisOptionsSchema.parse({}));

let available = false;
let tap: CodecTap;
let failWith: ((a: Attributes | undefined) => ErrorReplyRequest | undefined) | undefined;
const clients: Redis[] = [];

async function reachable(): Promise<boolean> {
  const s = net.connect(REDIS);
  try {
    await once(s, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    s.destroy();
  }
}

function needRedis(t: { skip(msg: string): void }): boolean {
  if (available) return true;
  if (process.env['CI']) assert.fail('Redis is not reachable at 127.0.0.1:6379 (required in CI)');
  t.skip('Redis is not reachable at 127.0.0.1:6379');
  return false;
}

function client(): Redis {
  const r = new Redis({ host: '127.0.0.1', port: tap.port, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: false });
  clients.push(r);
  return r;
}

interface Exchange {
  attributes: Attributes | undefined;
  responses: number;
  replies: Buffer[];
}

/** Pair the recorded messages of one connection as a proxy would: request starts in order, non-unsolicited replies in order. */
function pair(log: TappedFrame[]): { exchanges: Exchange[]; unsolicited: Buffer[] } {
  const exchanges: Exchange[] = [];
  const unsolicited: Buffer[] = [];
  let reply: Buffer[] = [];
  let replyUnsolicited = false;
  for (const f of log) {
    if (f.from === 'c') {
      if (f.info.start) exchanges.push({ attributes: f.info.attributes, responses: f.info.responses ?? 1, replies: [] });
      continue;
    }
    if (f.info.start) {
      reply = [];
      replyUnsolicited = f.info.unsolicited === true;
    }
    reply.push(f.frame);
    if (!f.info.end) continue;
    const msg = Buffer.concat(reply);
    if (replyUnsolicited) unsolicited.push(msg);
    else {
      const ex = exchanges.find((e) => e.replies.length < e.responses);
      assert.ok(ex, `a reply with no pending request: ${JSON.stringify(msg.toString('latin1').slice(0, 80))}`);
      ex.replies.push(msg);
    }
  }
  return { exchanges, unsolicited };
}

before(async () => {
  available = await reachable();
  tap = await startCodecTap(factory, REDIS, { fail: (a) => failWith?.(a) });
});

after(async () => {
  for (const c of clients) c.disconnect();
  const cleanup = available ? new Redis(REDIS.port, REDIS.host) : undefined;
  if (cleanup) {
    const keys = await cleanup.keys(`${P}*`);
    if (keys.length) await cleanup.del(...keys);
    cleanup.disconnect();
  }
  await tap.close();
});

test('ioredis pipeline of 100 commands pairs every reply with its request', async (t) => {
  if (!needRedis(t)) return;
  const r = client();
  await r.ping();
  const conn = tap.connections.length - 1;
  const p = r.pipeline();
  for (let i = 0; i < 50; i++) p.set(`${P}pipe:${i}`, `value-${i}`);
  for (let i = 0; i < 50; i++) p.get(`${P}pipe:${i}`);
  const results = await p.exec();
  assert.equal(results?.length, 100);
  for (let i = 0; i < 50; i++) assert.deepEqual(results[50 + i], [null, `value-${i}`]);
  const { exchanges } = pair(tap.connections[conn]!);
  const gets = exchanges.filter((e) => e.attributes?.['command'] === 'GET');
  assert.equal(gets.length, 50);
  gets.forEach((e, i) => {
    assert.equal(e.attributes?.['key'], `${P}pipe:${i}`);
    assert.equal(e.replies[0]?.toString(), `$${`value-${i}`.length}\r\nvalue-${i}\r\n`);
  });
  assert.ok(exchanges.every((e) => e.replies.length === e.responses), 'every request answered');
  assert.deepEqual(tap.errors, []);
});

test('ioredis MULTI/EXEC, HGETALL and LRANGE (multi-bulk replies) pass and pair', async (t) => {
  if (!needRedis(t)) return;
  const r = client();
  await r.ping();
  const conn = tap.connections.length - 1;
  const res = await r.multi().set(`${P}m`, '1').incr(`${P}m`).incr(`${P}m`).exec();
  assert.deepEqual(res, [[null, 'OK'], [null, 2], [null, 3]]);
  await r.hset(`${P}h`, { a: '1', b: '2', c: '3' });
  assert.deepEqual(await r.hgetall(`${P}h`), { a: '1', b: '2', c: '3' });
  await r.del(`${P}l`);
  await r.rpush(`${P}l`, ...Array.from({ length: 1000 }, (_, i) => `item-${i}`));
  const list = await r.lrange(`${P}l`, 0, -1);
  assert.equal(list.length, 1000);
  assert.equal(list[999], 'item-999');
  const { exchanges } = pair(tap.connections[conn]!);
  assert.deepEqual(
    exchanges.filter((e) => ['MULTI', 'SET', 'INCR', 'EXEC'].includes(String(e.attributes?.['command']))).map((e) => e.replies[0]?.toString('latin1')),
    ['+OK\r\n', '+QUEUED\r\n', '+QUEUED\r\n', '+QUEUED\r\n', '*3\r\n+OK\r\n:2\r\n:3\r\n'],
  );
  const lrange = exchanges.find((e) => e.attributes?.['command'] === 'LRANGE');
  assert.ok(lrange?.replies[0]?.toString('latin1').startsWith('*1000\r\n$6\r\nitem-0\r\n'));
  assert.deepEqual(tap.errors, []);
});

test('ioredis 2 MiB value is forwarded in bounded frames and read back intact', async (t) => {
  if (!needRedis(t)) return;
  const r = client();
  await r.ping();
  const conn = tap.connections.length - 1;
  const value = Buffer.alloc(2 * 1024 * 1024, 'redis-ioredis-big-value:');
  await r.set(`${P}big`, value);
  const back = await r.getBuffer(`${P}big`);
  assert.ok(back && back.equals(value), 'value read back unchanged');
  const log = tap.connections[conn]!;
  assert.ok(log.every((f) => f.frame.length <= 64 * 1024 + 64), 'no frame above maxFrame');
  const setFrames = log.filter((f) => f.from === 'c').length;
  assert.ok(setFrames > 32, `large request cut into frames (${setFrames})`);
  const { exchanges } = pair(log);
  const get = exchanges.find((e) => e.attributes?.['command'] === 'GET');
  assert.equal(get?.replies[0]?.length, value.length + `$${value.length}\r\n\r\n`.length);
});

test('ioredis pub/sub: subscribe, message from another client, unsubscribe', async (t) => {
  if (!needRedis(t)) return;
  const sub = client();
  await sub.ping();
  const conn = tap.connections.length - 1;
  const pub = client();
  const got: [string, string][] = [];
  sub.on('message', (ch: string, msg: string) => got.push([ch, msg]));
  assert.equal(await sub.subscribe(`${P}ch1`, `${P}ch2`), 2);
  await pub.publish(`${P}ch1`, 'hello');
  await pub.publish(`${P}ch2`, 'world');
  await eventually(() => got.length === 2, 'two messages');
  assert.deepEqual(got, [[`${P}ch1`, 'hello'], [`${P}ch2`, 'world']]);
  await sub.unsubscribe();
  assert.equal(await sub.ping(), 'PONG');
  const { exchanges, unsolicited } = pair(tap.connections[conn]!);
  const subscribe = exchanges.find((e) => e.attributes?.['command'] === 'SUBSCRIBE');
  assert.equal(subscribe?.responses, 2);
  assert.ok(subscribe?.replies.every((b) => b.toString().includes('subscribe')));
  const unsubscribe = exchanges.find((e) => e.attributes?.['command'] === 'UNSUBSCRIBE');
  assert.equal(unsubscribe?.responses, 2, 'UNSUBSCRIBE without arguments expects one confirmation per channel');
  assert.equal(unsolicited.length, 2);
  assert.ok(unsolicited.every((b) => b.toString().startsWith('*3\r\n$7\r\nmessage\r\n')));
  assert.equal(exchanges.at(-1)?.replies[0]?.toString(), '+PONG\r\n');
});

test('RESP3 (HELLO 3 sent raw): maps, sets, nulls, pushes and subscribe confirmations pair correctly', async (t) => {
  if (!needRedis(t)) return;
  const sock = net.connect({ host: '127.0.0.1', port: tap.port });
  await once(sock, 'connect');
  const conn = tap.connections.length - 1;
  let received = '';
  sock.on('data', (d: Buffer) => (received += d.toString('latin1')));
  const cmd = (...a: string[]): string => `*${a.length}\r\n` + a.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join('');
  const send = async (s: string, until: string): Promise<void> => {
    sock.write(s);
    await eventually(() => received.includes(until), `reply containing ${JSON.stringify(until)}`);
  };
  await send(cmd('HELLO', '3'), 'modules');
  await send(cmd('HSET', `${P}r3`, 'f', 'v') + cmd('HGETALL', `${P}r3`) + cmd('SADD', `${P}s3`, 'm') + cmd('SMEMBERS', `${P}s3`) + cmd('GET', `${P}none`) + cmd('ECHO', 'done1'), 'done1');
  await send(cmd('CLIENT', 'TRACKING', 'on') + cmd('HGET', `${P}r3`, 'f') + cmd('HSET', `${P}r3`, 'f', 'w') + cmd('ECHO', 'done2'), 'done2');
  await send(cmd('SUBSCRIBE', `${P}r3a`, `${P}r3b`) + cmd('PING') + cmd('UNSUBSCRIBE') + cmd('ECHO', 'done3'), 'done3');
  sock.destroy();
  const { exchanges, unsolicited } = pair(tap.connections[conn]!);
  assert.ok(exchanges.every((e) => e.replies.length === e.responses), 'every request answered');
  const reply = (c: string): string | undefined => exchanges.find((e) => e.attributes?.['command'] === c)?.replies[0]?.toString('latin1');
  assert.ok(reply('HELLO')?.startsWith('%7\r\n'));
  assert.equal(reply('HGETALL'), '%1\r\n$1\r\nf\r\n$1\r\nv\r\n');
  assert.equal(reply('SMEMBERS'), '~1\r\n$1\r\nm\r\n');
  assert.equal(reply('GET'), '_\r\n');
  assert.equal(exchanges.find((e) => e.attributes?.['command'] === 'SUBSCRIBE')?.replies.length, 2);
  assert.equal(exchanges.find((e) => e.attributes?.['command'] === 'UNSUBSCRIBE')?.replies.length, 2);
  assert.equal(unsolicited.length, 1);
  assert.match(unsolicited[0]!.toString(), /^>2\r\n\$10\r\ninvalidate\r\n/);
  assert.deepEqual(tap.errors, []);
});

test('error reply: a failed GET rejects with a ReplyError carrying the message, the connection keeps working', async (t) => {
  if (!needRedis(t)) return;
  const r = client();
  await r.ping();
  failWith = (a) => (a?.['command'] === 'GET' && a['key'] === `${P}fail` ? { message: 'injected by the switchyard test' } : undefined);
  try {
    await assert.rejects(r.get(`${P}fail`), (err: unknown) => {
      assert.ok(err instanceof ReplyError, `a ReplyError, got ${String(err)}`);
      assert.equal((err as Error).message, 'ERR injected by the switchyard test');
      return true;
    });
    failWith = (a) => (a?.['command'] === 'GET' && a['key'] === `${P}fail` ? { message: 'server is loading', status: 'LOADING' } : undefined);
    await assert.rejects(r.get(`${P}fail`), /^ReplyError: LOADING server is loading$/);
    assert.equal(await r.set(`${P}after`, 'still-works'), 'OK');
    assert.equal(await r.get(`${P}after`), 'still-works');
  } finally {
    failWith = undefined;
  }
  assert.deepEqual(tap.errors, []);
});
