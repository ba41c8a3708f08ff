/**
 * Request-scope faults skip each protocol's connection setup (issue 10 §6): `switchyard chaos --protocol redis
 * --behavior 100:error` lets ioredis 5 and ioredis 6 connect (HELLO 3, CLIENT SETINFO, CLIENT MAINT_NOTIFICATIONS,
 * the INFO ready check pass) and then fails every application command; at 20:error all 30 connections connect;
 * `handshake: true` (`chaos --handshake`) includes the setup again. Real Redis on 127.0.0.1:6379.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { Redis as Redis5 } from 'ioredis';
import { Redis as Redis6 } from 'ioredis6';
import { startChaos, type ChaosRunning } from '../../src/cli/commands/chaos.js';
import { createLogger } from '../../src/core/log.js';
import { redisOptionsSchema, redisProtocol } from '../../src/protocols/redis/index.js';
import { startYard } from '../helpers/yard.js';
import { SERVICES, needService, reachable } from '../helpers/services.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';

const REDIS = '127.0.0.1:6379';
const P = 'chaos-handshake:';
let available = false;

before(async () => {
  available = await reachable(SERVICES.redis.host, SERVICES.redis.port);
});

function needRedis(t: { skip(msg: string): void }): boolean {
  return needService(t, available, 'redis');
}

async function chaos(behavior: string, extra: { handshake?: boolean; seed?: number } = {}): Promise<{ running: ChaosRunning; port: number }> {
  const running = await startChaos({ proxy: '127.0.0.1:0', backend: REDIS, protocol: 'redis', behavior, logger: createLogger({ level: 'silent' }), ...extra });
  const a = running.yard.listeners.get('chaos')!.address!;
  assert.equal(a.kind, 'tcp');
  return { running, port: a.kind === 'tcp' ? a.port : 0 };
}

type AnyRedis = Redis5 | Redis6;
type Client = { name: string; create(port: number): AnyRedis };

/** Both majors with their default connection setup (ready check on; ioredis 6 speaks RESP3 with HELLO 3). */
const CLIENTS: Client[] = [
  { name: 'ioredis 5', create: (port) => new Redis5({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null }) },
  { name: 'ioredis 6', create: (port) => new Redis6({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null }) },
];

/** The injected error as ioredis reports it: a ReplyError (both majors share the class from redis-errors). */
function isInjected(err: unknown): boolean {
  return err instanceof Error && err.name === 'ReplyError' && /error injected by switchyard/.test(err.message);
}

for (const client of CLIENTS) {
  test(`${client.name} connects through chaos --behavior 100:error, then every application command gets the injected error`, async (t) => {
    if (!needRedis(t)) return;
    const { running, port } = await chaos('100:error');
    const r = client.create(port);
    r.on('error', () => undefined);
    try {
      await r.connect();
      assert.equal(r.status, 'ready');
      const k = `${P}${client.name}:k`;
      const single: Promise<unknown>[] = [r.get(k), r.set(k, 'v'), r.incr(k), r.ping(), r.info()];
      const results = await Promise.allSettled(single);
      results.forEach((res, i) => {
        if (res.status === 'fulfilled') assert.fail(`command ${i} passed: ${JSON.stringify(res.value)}`);
        assert.ok(isInjected(res.reason), `command ${i}: ${String(res.reason)}`);
      });
      const piped = (await r.pipeline().get(k).del(k).exists(k).exec())!;
      assert.equal(piped.length, 3);
      for (const [err] of piped) assert.ok(isInjected(err), `pipelined: ${String(err)}`);
      assert.equal(r.status, 'ready', 'the connection stays usable');
      // Only the application's commands drew: the setup never counted as an injection.
      assert.equal(running.yard.faultSet('chaos').get('error')?.injected, 8);
    } finally {
      r.disconnect();
      await running.close();
    }
  });

  test(`${client.name}: at 20:error all 30 connections connect; the application's commands get errors at that rate`, async (t) => {
    if (!needRedis(t)) return;
    const { running, port } = await chaos('20:error', { seed: 10 });
    const clients: AnyRedis[] = [];
    try {
      for (let i = 0; i < 30; i++) {
        const r = client.create(port);
        r.on('error', () => undefined);
        clients.push(r);
      }
      const connected = await Promise.allSettled(clients.map((r) => r.connect()));
      const failed = connected.map((c, i) => (c.status === 'rejected' ? `#${i}: ${String(c.reason)}` : '')).filter((s) => s !== '');
      assert.deepEqual(failed, [], 'every connection connects');
      assert.ok(clients.every((r) => r.status === 'ready'));
      let errors = 0;
      let ok = 0;
      for (const r of clients) {
        for (const res of await Promise.allSettled([r.get(`${P}rate:a`), r.get(`${P}rate:b`), r.exists(`${P}rate:c`), r.ping()])) {
          if (res.status === 'fulfilled') ok++;
          else if (isInjected(res.reason)) errors++;
          else assert.fail(`unexpected failure: ${String(res.reason)}`);
        }
      }
      assert.equal(errors + ok, 120);
      assert.ok(errors > 0 && ok > 0, `errors ${errors}, ok ${ok}`);
      assert.equal(running.yard.faultSet('chaos').get('error')?.injected, errors, 'every injection hit an application command');
    } finally {
      for (const r of clients) r.disconnect();
      await running.close();
    }
  });
}

/** A raw RESP client: one command at a time, the whole reply back (framed by the redis codec itself). */
async function respClient(port: number): Promise<{ send(...args: string[]): Promise<string>; sendRaw(line: string): Promise<string>; close(): void }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const codec = redisProtocol.factory(redisOptionsSchema.parse({})).create();
  let waiting: ((reply: string) => void) | undefined;
  let parts: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => {
    codec.toDownstream.push(chunk);
    for (let f = codec.toDownstream.next(); f !== null; f = codec.toDownstream.next()) {
      parts.push(Buffer.from(f));
      const info = codec.toDownstream.info!;
      if (info.end && !info.unsolicited) {
        const reply = Buffer.concat(parts).toString('latin1');
        parts = [];
        const w = waiting;
        waiting = undefined;
        w?.(reply);
      }
    }
  });
  const sendRaw = (bytes: string): Promise<string> => {
    const b = Buffer.from(bytes, 'latin1');
    codec.toUpstream.push(b);
    while (codec.toUpstream.next() !== null);
    const p = new Promise<string>((resolve, reject) => {
      waiting = resolve;
      socket.once('close', () => reject(new Error(`connection closed waiting for the reply to ${JSON.stringify(bytes)}`)));
    });
    socket.write(b);
    return p;
  };
  return {
    send: (...args) => sendRaw(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`).join('')}`),
    sendRaw,
    close: () => socket.destroy(),
  };
}

async function redisYard(faults: unknown[]): Promise<{ yard: Switchyard; port: number }> {
  const yard = await startYard({
    listeners: [{ id: 'l1', listen: '127.0.0.1:0', protocol: 'redis', faults }],
    clusters: [{ id: 'c1', endpoints: [REDIS] }],
    routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
  });
  const a = yard.listeners.get('l1')!.address!;
  return { yard, port: a.kind === 'tcp' ? a.port : 0 };
}

test("ioredis 6's opening by hand (HELLO 3, CLIENT SETINFO in any case, inline CLIENT SETNAME, INFO): passes a 100% error fault; the second INFO and GET get the error", async (t) => {
  if (!needRedis(t)) return;
  const { yard, port } = await redisYard([{ type: 'error', toxicity: 1, scope: 'request', attributes: { message: 'app chaos' } }]);
  const c = await respClient(port);
  try {
    assert.match(await c.send('HELLO', '3'), /^%\d+\r\n\$6\r\nserver\r\n/);
    // Redis before 7.2 answers CLIENT SETINFO with its own error: either way the server answered, not the fault.
    const fromServer = /^(\+OK|-ERR unknown subcommand 'setinfo'.*)\r\n$/i;
    assert.match(await c.send('client', 'setinfo', 'lib-name', 'ioredis'), fromServer);
    assert.match(await c.send('CLIENT', 'SETINFO', 'LIB-VER', '6.1.0'), fromServer);
    assert.equal(await c.sendRaw('client setname handshake-test\r\n'), '+OK\r\n');
    assert.match(await c.send('INFO'), /^=\d+\r\ntxt:# Server|^\$\d+\r\n# Server/);
    assert.equal(yard.faultSet('l1').get('error_upstream')?.injected, 0);
    assert.equal(await c.send('INFO'), '-ERR app chaos\r\n', 'only the first INFO of a connection is setup');
    assert.equal(await c.send('GET', `${P}raw`), '-ERR app chaos\r\n');
    assert.equal(await c.send('SELECT', '0'), '+OK\r\n');
    assert.equal(yard.faultSet('l1').get('error_upstream')?.injected, 2);
  } finally {
    c.close();
    await yard.close();
  }
});

test('a downstream request-scope fault skips the responses to setup requests too', async (t) => {
  if (!needRedis(t)) return;
  const { yard, port } = await redisYard([{ type: 'delay', stream: 'downstream', toxicity: 1, scope: 'request', attributes: { sleep: 0 } }]);
  const c = await respClient(port);
  try {
    await c.send('HELLO', '3');
    await c.send('CLIENT', 'SETINFO', 'LIB-NAME', 'raw');
    await c.send('INFO', 'server');
    assert.equal(yard.faultSet('l1').get('delay_downstream')?.injected, 0);
    assert.equal(await c.send('PING'), '+PONG\r\n');
    assert.equal(yard.faultSet('l1').get('delay_downstream')?.injected, 1);
  } finally {
    c.close();
    await yard.close();
  }
});

test('handshake: true includes the setup: HELLO gets the injected error (config fault, and chaos --handshake)', async (t) => {
  if (!needRedis(t)) return;
  const { yard, port } = await redisYard([{ type: 'error', toxicity: 1, scope: 'request', handshake: true, attributes: { message: 'setup chaos' } }]);
  const c = await respClient(port);
  try {
    assert.equal(await c.send('HELLO', '3'), '-ERR setup chaos\r\n');
    assert.equal(await c.send('AUTH', 'nobody', 'pw'), '-ERR setup chaos\r\n');
    assert.equal(yard.faultSet('l1').get('error_upstream')?.toJSON()['handshake'], true);
  } finally {
    c.close();
    await yard.close();
  }
  const { running, port: chaosPort } = await chaos('100:error', { handshake: true });
  const c2 = await respClient(chaosPort);
  try {
    assert.match(await c2.send('HELLO', '3'), /^-ERR error injected by switchyard/);
    assert.equal(running.yard.faultSet('chaos').get('error')?.injected, 1);
  } finally {
    c2.close();
    await running.close();
  }
});
