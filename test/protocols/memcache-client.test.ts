import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { MemcacheClient, type MultiRetrievalResponse } from 'memcache-client';
import { startCodecTap, type CodecTap, type TappedFrame } from '../helpers/codec-tap.js';
import { eventually, freePort } from '../helpers/net.js';
import { memcacheOptionsSchema, memcacheProtocol } from '../../src/protocols/memcache/index.js';
import type { Attributes, ErrorReplyRequest } from '../../src/protocols/protocol.js';

const MEMCACHED = '/usr/bin/memcached';
const P = 'memcache-client:';
const factory = memcacheProtocol.factory(memcacheOptionsSchema.parse({}));

let proc: ChildProcess | undefined;
let tap: CodecTap | undefined;
let port = 0;
let failWith: ((a: Attributes | undefined) => ErrorReplyRequest | undefined) | undefined;
const clients: MemcacheClient[] = [];

async function up(p: number): Promise<boolean> {
  const s = net.connect({ host: '127.0.0.1', port: p });
  try {
    await once(s, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    s.destroy();
  }
}

before(async () => {
  if (!existsSync(MEMCACHED)) return;
  port = await freePort();
  proc = spawn(MEMCACHED, ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-u', 'root'], { stdio: 'ignore' });
  const start = Date.now();
  while (!(await up(port)) && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 50));
  tap = await startCodecTap(factory, { host: '127.0.0.1', port }, { fail: (a) => failWith?.(a) });
});

after(async () => {
  for (const c of clients) c.shutdown();
  await tap?.close();
  if (proc) {
    proc.kill('SIGTERM');
    if (proc.exitCode === null) await once(proc, 'exit');
  }
});

function ready(t: { skip(msg: string): void }): boolean {
  if (proc && tap) return true;
  if (process.env['CI']) assert.fail(`memcached not available at ${MEMCACHED} (required in CI)`);
  t.skip(`memcached not available at ${MEMCACHED}`);
  return false;
}

function client(): MemcacheClient {
  const c = new MemcacheClient({ server: `127.0.0.1:${tap!.port}`, cmdTimeout: 5000 });
  clients.push(c);
  return c;
}

/** Pair recorded messages in order; returns each request's attributes with the text of its reply messages. */
function pair(log: TappedFrame[]): { attributes: Attributes | undefined; responses: number; replies: string[] }[] {
  const out: { attributes: Attributes | undefined; responses: number; replies: string[] }[] = [];
  let reply: Buffer[] = [];
  let unsolicited = false;
  for (const f of log) {
    if (f.from === 'c') {
      if (f.info.start) out.push({ attributes: f.info.attributes, responses: f.info.responses ?? 1, replies: [] });
      continue;
    }
    if (f.info.start) {
      reply = [];
      unsolicited = f.info.unsolicited === true;
    }
    reply.push(f.frame);
    if (!f.info.end || unsolicited) continue;
    const ex = out.find((e) => e.replies.length < e.responses);
    assert.ok(ex, 'a reply with no pending request');
    ex.replies.push(Buffer.concat(reply).toString('latin1'));
  }
  return out;
}

test('memcache-client: set, get, multi-get, delete, incr and noreply through the codec', async (t) => {
  if (!ready(t)) return;
  const c = client();
  assert.deepEqual(await c.set(`${P}a`, 'alpha'), ['STORED']);
  assert.deepEqual(await c.set(`${P}b`, 'beta'), ['STORED']);
  assert.equal((await c.get<string>(`${P}a`))?.value, 'alpha');
  const multi = await c.get<MultiRetrievalResponse<string>>([`${P}a`, `${P}b`, `${P}none`]);
  assert.equal(multi[`${P}a`]?.value, 'alpha');
  assert.equal(multi[`${P}b`]?.value, 'beta');
  assert.equal(multi[`${P}none`], undefined);
  assert.deepEqual(await c.set(`${P}n`, '10'), ['STORED']);
  assert.equal(await c.incr(`${P}n`, 5), '15');
  await c.set(`${P}quiet`, 'fire-and-forget', { noreply: true });
  assert.equal((await c.get<string>(`${P}quiet`))?.value, 'fire-and-forget');
  assert.deepEqual(await c.delete(`${P}a`), ['DELETED']);
  assert.equal(await c.get(`${P}a`), undefined);
  const big = Buffer.alloc(600_000, 'memcache-client-big:');
  assert.deepEqual(await c.set(`${P}big`, big), ['STORED']);
  const back = await c.get<Buffer>(`${P}big`);
  assert.ok(Buffer.isBuffer(back?.value) && back.value.equals(big), 'large value read back intact');
  const log = tap!.connections.at(-1)!;
  assert.ok(log.every((f) => f.frame.length <= 64 * 1024), 'bounded frames');
  const ex = pair(log);
  assert.ok(ex.every((e) => e.replies.length === e.responses), 'every request answered');
  const noreply = ex.find((e) => e.attributes?.['key'] === `${P}quiet` && e.attributes['command'] === 'set');
  assert.equal(noreply?.responses, 0);
  const mget = ex.find((e) => e.attributes?.['keys'] === 3);
  assert.deepEqual(mget?.attributes, { command: 'get', key: `${P}a`, keys: 3 });
  assert.match(mget?.replies[0] ?? '', /^VALUE memcache-client:a \d+ 5\r\nalpha\r\nVALUE memcache-client:b \d+ 4\r\nbeta\r\nEND\r\n$/);
  assert.equal(ex.find((e) => e.attributes?.['command'] === 'incr')?.replies[0], '15\r\n');
  assert.deepEqual(tap!.errors, []);
});

test('memcache-client: concurrent commands are pipelined and pair in order', async (t) => {
  if (!ready(t)) return;
  const c = client();
  await Promise.all(Array.from({ length: 50 }, (_, i) => c.set(`${P}p${i}`, `v${i}`)));
  const got = await Promise.all(Array.from({ length: 50 }, (_, i) => c.get<string>(`${P}p${i}`)));
  got.forEach((g, i) => assert.equal(g?.value, `v${i}`));
  const ex = pair(tap!.connections.at(-1)!);
  const gets = ex.filter((e) => e.attributes?.['command'] === 'get');
  assert.equal(gets.length, 50);
  gets.forEach((e, i) => assert.match(e.replies[0] ?? '', new RegExp(`^VALUE ${P}p${i} \\d+ ${`v${i}`.length}\\r\\nv${i}\\r\\nEND\\r\\n$`)));
});

test('memcache-client: an error reply surfaces as a server error and the connection serves the next command', async (t) => {
  if (!ready(t)) return;
  const c = client();
  assert.deepEqual(await c.set(`${P}ok`, 'fine'), ['STORED']);
  failWith = (a) => (a?.['key'] === `${P}boom` ? { message: 'injected by switchyard' } : undefined);
  try {
    await assert.rejects(c.get(`${P}boom`), (err: Error) => {
      assert.equal(err.message, 'SERVER_ERROR injected by switchyard');
      return true;
    });
    await assert.rejects(c.set(`${P}boom`, 'x'), /^Error: SERVER_ERROR injected by switchyard$/);
  } finally {
    failWith = undefined;
  }
  assert.equal((await c.get<string>(`${P}ok`))?.value, 'fine');
  assert.deepEqual(await c.set(`${P}after`, 'works'), ['STORED']);
  assert.equal((await c.get<string>(`${P}after`))?.value, 'works');
  await eventually(() => tap!.connections.length > 0, 'connection recorded');
  assert.deepEqual(tap!.errors, []);
});
