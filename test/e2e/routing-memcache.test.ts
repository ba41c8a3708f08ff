/**
 * memcache per-request routing through two real memcached processes (started here): each request routed by its key
 * over one client connection, replies in request order, multi-key retrievals across clusters refused, keyless
 * commands to the default route, noreply requests answered by nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { startYard } from '../helpers/yard.js';
import { connect, freePort } from '../helpers/net.js';
import { reachable } from '../helpers/services.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';

const MEMCACHED = '/usr/bin/memcached';
const P = 'mcroute';

interface Memcached {
  proc: ChildProcess;
  port: number;
}
const mcs: Memcached[] = [];

async function startMemcached(): Promise<Memcached | undefined> {
  const port = await freePort();
  const proc = spawn(MEMCACHED, ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-u', 'root'], { stdio: 'ignore' });
  proc.on('error', () => undefined);
  const m = { proc, port };
  mcs.push(m);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (await reachable('127.0.0.1', port)) return m;
    if (proc.exitCode !== null) return undefined;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

let A: Memcached | undefined;
let B: Memcached | undefined;
before(async () => {
  if (!existsSync(MEMCACHED)) return;
  A = await startMemcached();
  B = await startMemcached();
});
after(async () => {
  for (const m of mcs) {
    if (m.proc.exitCode === null && m.proc.signalCode === null) {
      m.proc.kill('SIGTERM');
      await once(m.proc, 'exit');
    }
  }
});

/** Write `request` on `socket` and read until the text read ends with `until` (bounded by a generous deadline). */
function exchange(socket: net.Socket, request: string, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no complete answer within 20 s; got ${JSON.stringify(text)}`));
    }, 20_000);
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      if (until.test(text)) {
        cleanup();
        resolve(text);
      }
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error(`connection closed; got ${JSON.stringify(text)}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.write(request);
  });
}

/** One request straight to a memcached (not through the proxy). */
async function direct(port: number, request: string, until: RegExp): Promise<string> {
  const s = await connect(port);
  try {
    return await exchange(s, request, until);
  } finally {
    s.destroy();
  }
}

function portOf(yard: Switchyard, id: string): number {
  const a = yard.listeners.get(id)!.address!;
  return a.kind === 'tcp' ? a.port : 0;
}

async function routedYard(a: Memcached, b: Memcached): Promise<Switchyard> {
  return startYard({
    listeners: [{ id: 'mc', listen: '127.0.0.1:0', protocol: 'memcache' }],
    clusters: [
      { id: 'mc-a', endpoints: [`127.0.0.1:${a.port}`] },
      { id: 'mc-b', endpoints: [`127.0.0.1:${b.port}`] },
    ],
    routes: [
      { id: 'keys-a', listener: 'mc', cluster: 'mc-a', match: { key: `${P}:a:*` } },
      { id: 'keys-b', listener: 'mc', cluster: 'mc-b', match: { key: `${P}:b:*` }, default: true },
    ],
  });
}

function need(t: { skip(msg: string): void }): [Memcached, Memcached] | undefined {
  if (A && B) return [A, B];
  if (process.env['CI']) assert.fail(`memcached not available at ${MEMCACHED} (required in CI)`);
  t.skip(`memcached not available at ${MEMCACHED}`);
  return undefined;
}

test('memcache per-request routing: pipelined set/get on two clusters over one connection, replies in order, each key on its memcached', async (t) => {
  const both = need(t);
  if (!both) return;
  const [a, b] = both;
  const yard = await routedYard(a, b);
  const s = await connect(portOf(yard, 'mc'));
  try {
    assert.equal(yard.listeners.get('mc')!.toJSON()['routing'], 'request');
    const n = 20;
    let req = '';
    const want: string[] = [];
    for (let i = 0; i < n; i++) {
      const side = i % 2 === 0 ? 'a' : 'b';
      const key = `${P}:${side}:${i}`;
      const value = `v${side}${i}`;
      req += `set ${key} ${i} 0 ${value.length}\r\n${value}\r\nget ${key}\r\n`;
      want.push('STORED\r\n', `VALUE ${key} ${i} ${value.length}\r\n${value}\r\nEND\r\n`);
    }
    // same-cluster multi-key get, then a delete and incr on each side
    req += `get ${P}:a:0 ${P}:a:2\r\nset ${P}:b:n 0 0 1\r\n5\r\nincr ${P}:b:n 3\r\ndelete ${P}:a:4\r\nget ${P}:a:4\r\n`;
    want.push(`VALUE ${P}:a:0 0 3\r\nva0\r\nVALUE ${P}:a:2 2 3\r\nva2\r\nEND\r\n`, 'STORED\r\n', '8\r\n', 'DELETED\r\n', 'END\r\n');
    const expected = want.join('');
    const got = await exchange(s, req, new RegExp(`^[\\s\\S]{${expected.length}}`));
    assert.equal(got, expected);
    // each key is on the memcached of its route, and only there
    for (let i = 0; i < n; i++) {
      const side = i % 2 === 0 ? 'a' : 'b';
      if (side === 'a' && i === 4) continue;
      const key = `${P}:${side}:${i}`;
      const [on, off] = side === 'a' ? [a, b] : [b, a];
      const value = `v${side}${i}`;
      assert.equal(await direct(on.port, `get ${key}\r\n`, /END\r\n$/), `VALUE ${key} ${i} ${value.length}\r\n${value}\r\nEND\r\n`, key);
      assert.equal(await direct(off.port, `get ${key}\r\n`, /END\r\n$/), 'END\r\n', `${key} not on the other memcached`);
    }
    assert.equal(await direct(b.port, `get ${P}:b:n\r\n`, /END\r\n$/), `VALUE ${P}:b:n 0 1\r\n8\r\nEND\r\n`);
    assert.equal(yard.routes.get('keys-a')!.requests > 0 && yard.routes.get('keys-b')!.requests > 0, true);
  } finally {
    s.destroy();
    await yard.close({ drainTimeout: 0 });
  }
});

test('memcache per-request routing: cross-cluster multi-key get → SERVER_ERROR naming both clusters; keyless to the default route; no route; noreply', async (t) => {
  const both = need(t);
  if (!both) return;
  const [a, b] = both;
  const yard = await routedYard(a, b);
  const s = await connect(portOf(yard, 'mc'));
  try {
    // cross-cluster retrieval refused, the connection goes on in order
    const cross = await exchange(s, `get ${P}:a:x ${P}:b:x\r\ngets ${P}:b:y ${P}:a:y\r\nget ${P}:a:x\r\n`, /\r\n[^\r\n]*\r\n(END\r\n)$/);
    const lines = cross.split('\r\n');
    assert.match(lines[0]!, /^SERVER_ERROR .*'mc-a'.*'mc-b'/);
    assert.match(lines[1]!, /^SERVER_ERROR .*'mc-b'.*'mc-a'/);
    assert.equal(lines[2], 'END');
    // keyless: stats answered by the default route's memcached (its pid), version too
    const stats = await exchange(s, 'stats\r\nversion\r\n', /VERSION [^\r\n]+\r\n$/);
    assert.match(stats, new RegExp(`^STAT pid ${b.proc.pid}\r\n`), 'stats from the default route (mc-b)');
    assert.match(stats, /END\r\nVERSION \S+\r\n$/);
    // a key no route matches: the codec's no-route refusal, counted
    const none = await exchange(s, `get ${P}:z:1\r\nversion\r\n`, /VERSION [^\r\n]+\r\n$/);
    assert.match(none, /^SERVER_ERROR no route[^\r\n]*\r\nVERSION /);
    // noreply sets on both clusters, then gets: the only answers are the gets'
    const nr = await exchange(
      s,
      `set ${P}:a:nr 0 0 2 noreply\r\naa\r\nset ${P}:b:nr 0 0 2 noreply\r\nbb\r\nset ${P}:z:nr 0 0 2 noreply\r\nzz\r\nget ${P}:a:nr\r\nget ${P}:b:nr\r\n`,
      /END\r\n[\s\S]*END\r\n$/,
    );
    assert.equal(nr, `VALUE ${P}:a:nr 0 2\r\naa\r\nEND\r\nVALUE ${P}:b:nr 0 2\r\nbb\r\nEND\r\n`);
    assert.equal(await direct(a.port, `get ${P}:b:nr\r\n`, /END\r\n$/), 'END\r\n');
    // meta commands: routed by key, mn (keyless) to the default route
    const meta = await exchange(s, `ms ${P}:a:m 2\r\nmm\r\nmg ${P}:b:nr v\r\nmg ${P}:a:m v\r\nmd ${P}:a:m\r\nmn\r\n`, /MN\r\n$/);
    assert.equal(meta, 'HD\r\nVA 2\r\nbb\r\nVA 2\r\nmm\r\nHD\r\nMN\r\n');
    assert.equal(yard.listeners.get('mc')!.stats.errors.get('SWY_NO_ROUTE'), 2);
    // quit (keyless, no reply): the connection ends
    const closed = new Promise<void>((resolve) => s.once('end', () => resolve()));
    s.write('quit\r\n');
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('no end after quit within 20 s')), 20_000).unref())]);
  } finally {
    s.destroy();
    await yard.close({ drainTimeout: 0 });
  }
});
