/**
 * Chaos through the real proxy with the memcache and smtp protocol modules: memcached (started here) with
 * memcache-client, and an smtp-server with nodemailer. The `error` behavior is a native server error reply and the
 * session goes on.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { MemcacheClient } from 'memcache-client';
import { SMTPServer } from 'smtp-server';
import nodemailer from 'nodemailer';
import { startYard } from '../helpers/yard.js';
import { freePort } from '../helpers/net.js';
import { reachable } from '../helpers/services.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';

const MEMCACHED = '/usr/bin/memcached';
const P = 'chaos-mc-smtp:';
let mcProc: ChildProcess | undefined;
let mcPort = 0;

before(async () => {
  if (!existsSync(MEMCACHED)) return;
  mcPort = await freePort();
  mcProc = spawn(MEMCACHED, ['-l', '127.0.0.1', '-p', String(mcPort), '-U', '0', '-u', 'root'], { stdio: 'ignore' });
  const start = Date.now();
  while (!(await reachable('127.0.0.1', mcPort)) && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 50));
});

after(async () => {
  if (mcProc && mcProc.exitCode === null) {
    mcProc.kill('SIGTERM');
    await once(mcProc, 'exit');
  }
});

async function proxy(protocol: string, port: number, faults: unknown[]): Promise<{ yard: Switchyard; port: number }> {
  const yard = await startYard({
    listeners: [{ id: 'l1', listen: '127.0.0.1:0', protocol, faults }],
    clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${port}`] }],
    routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
  });
  const a = yard.listeners.get('l1')!.address!;
  return { yard, port: a.kind === 'tcp' ? a.port : 0 };
}

test('memcache error matched on get: memcache-client rejects with SERVER_ERROR, the next commands work', async (t) => {
  if (!mcProc || !(await reachable('127.0.0.1', mcPort))) {
    if (process.env['CI']) assert.fail(`memcached not available at ${MEMCACHED} (required in CI)`);
    t.skip(`memcached not available at ${MEMCACHED}`);
    return;
  }
  const p = await proxy('memcache', mcPort, [{ type: 'error', toxicity: 1, scope: 'request', match: { command: 'get', key: `${P}fail*` }, attributes: { message: 'chaos memcache' } }]);
  const c = new MemcacheClient({ server: `127.0.0.1:${p.port}`, cmdTimeout: 5000 });
  try {
    assert.deepEqual(await c.set(`${P}fail1`, 'hidden'), ['STORED']);
    assert.deepEqual(await c.set(`${P}ok`, 'visible'), ['STORED']);
    await assert.rejects(c.get(`${P}fail1`), /SERVER_ERROR chaos memcache/);
    assert.equal((await c.get<string>(`${P}ok`))?.value, 'visible');
    await assert.rejects(c.get(`${P}fail1`), /SERVER_ERROR/);
    assert.deepEqual(await c.delete(`${P}fail1`), ['DELETED']);
    assert.deepEqual(await c.delete(`${P}ok`), ['DELETED']);
    assert.equal(p.yard.faultSet('l1').get('error_upstream')?.injected, 2);
  } finally {
    c.shutdown();
    await p.yard.close();
  }
});

test('smtp error on RCPT: nodemailer rejects with responseCode 451; a second message on a new connection goes through', async () => {
  const received: { to: string[]; raw: string }[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (b: Buffer) => chunks.push(b));
      stream.on('end', () => {
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString() });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const p = await proxy('smtp', (server.server.address() as AddressInfo).port, [
    { type: 'error', toxicity: 1, scope: 'request', match: { command: 'RCPT', address: 'blocked@example.com' }, attributes: { message: 'chaos greylisting' } },
  ]);
  try {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: p.port, secure: false, ignoreTLS: true });
    await assert.rejects(transport.sendMail({ from: 'alice@example.com', to: 'blocked@example.com', subject: 'one', text: 'first' }), (err: unknown) => {
      const e = err as { responseCode?: number; response?: string };
      assert.equal(e.responseCode, 451);
      assert.match(e.response ?? '', /chaos greylisting/);
      return true;
    });
    const info = await transport.sendMail({ from: 'alice@example.com', to: 'bob@example.com', subject: 'two', text: 'second message' });
    assert.deepEqual(info.accepted, ['bob@example.com']);
    assert.equal(received.length, 1);
    assert.deepEqual(received[0]!.to, ['bob@example.com']);
    assert.match(received[0]!.raw, /second message/);
    transport.close();
  } finally {
    await p.yard.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
