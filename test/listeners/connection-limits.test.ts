import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startEchoServer, eventually } from '../helpers/net.js';
import { startYard } from '../helpers/yard.js';
import { FdBudget } from '../../src/core/fd-budget.js';

/** Connect (optionally from a given loopback source) and report whether an echo comes back or the connection ends. */
async function tryEcho(port: number, localAddress?: string): Promise<'echoed' | 'closed' | 'refused'> {
  const socket = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
  try {
    await once(socket, 'connect');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') return 'refused';
    throw err;
  }
  return new Promise((resolve) => {
    socket.on('error', () => undefined);
    socket.once('data', () => {
      socket.destroy();
      resolve('echoed');
    });
    socket.once('close', () => resolve('closed'));
    socket.write('ping');
  });
}

async function held(port: number, localAddress?: string): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
  await once(socket, 'connect');
  socket.write('x');
  await once(socket, 'data'); // the proxy accepted it and the upstream answered: it counts against its source
  return socket;
}

test('maxConnectionsPerSource: a source over its share is closed and counted; other sources and freed slots are served', async (t) => {
  const upstream = await startEchoServer();
  t.after(() => upstream.close());
  const yard = await startYard({
    listeners: [{ id: 'l1', listen: '127.0.0.1:0', maxConnectionsPerSource: 2 }],
    clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${upstream.port}`] }],
    routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
  });
  t.after(() => yard.close());
  const listener = yard.listeners.get('l1')!;
  const port = (listener.address as { port: number }).port;

  const a = await held(port);
  const b = await held(port);
  assert.equal(await tryEcho(port), 'closed', 'a third connection from 127.0.0.1 is closed');
  assert.equal(listener.stats.errors.get('SWY_MAX_CONNECTIONS_PER_SOURCE'), 1);
  // Another source address (all of 127/8 is loopback on Linux) has its own share.
  assert.equal(await tryEcho(port, '127.0.0.2'), 'echoed');
  a.destroy();
  await eventually(() => listener.stats.active === 1, 'the freed slot is released');
  assert.equal(await tryEcho(port), 'echoed', 'a freed slot is usable again');
  b.destroy();
});

test('maxConnectionsPerSource is validated and defaults to 0 (unlimited)', async () => {
  const { validateConfig } = await import('../../src/runtime/config.js');
  const { createFramerRegistry } = await import('../../src/framing/builtins.js');
  const base = { clusters: [{ id: 'c1', endpoints: ['127.0.0.1:1'] }], routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }] };
  const ok = validateConfig({ ...base, listeners: [{ id: 'l1', listen: '127.0.0.1:0' }] }, createFramerRegistry());
  assert.ok(ok.ok);
  assert.equal(ok.config.listeners[0]!.maxConnectionsPerSource, 0);
  const bad = validateConfig({ ...base, listeners: [{ id: 'l1', listen: '127.0.0.1:0', maxConnectionsPerSource: -1 }] }, createFramerRegistry());
  assert.ok(!bad.ok);
  assert.match(bad.errors.map((e) => `${e.path}: ${e.message}`).join('\n'), /listeners\[0\]\.maxConnectionsPerSource/);
});

test('file-descriptor budget: a listener stops accepting (clients are refused, not accepted and closed) and accepts again when descriptors are free', async (t) => {
  const upstream = await startEchoServer();
  t.after(() => upstream.close());
  const open = readdirSync('/proc/self/fd').length;
  // Room for about five proxied connections above what this process holds now (each costs the proxy two
  // descriptors and the test's own client one more, all in this one process).
  const budget = new FdBudget({ limit: open + 16 + 20, reserve: 16, sampleMs: 1 });
  const yard = await startYard(
    {
      listeners: [{ id: 'l1', listen: '127.0.0.1:0' }],
      clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${upstream.port}`] }],
      routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
    },
    { fdBudget: budget },
  );
  t.after(() => yard.close());
  const listener = yard.listeners.get('l1')!;
  const port = (listener.address as { port: number }).port;

  const kept: net.Socket[] = [];
  let refused = 0;
  for (let i = 0; i < 20; i++) {
    try {
      kept.push(await held(port));
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ECONNREFUSED', 'an accepted connection is served, never accepted and closed');
      refused++;
      break;
    }
  }
  assert.equal(refused, 1, `the listener stopped accepting before descriptors ran out (after ${kept.length} connections)`);
  assert.ok(kept.length >= 1);
  assert.ok((listener.stats.errors.get('SWY_FD_EXHAUSTED') ?? 0) >= 1, 'the pause is counted');
  for (const s of kept) s.destroy();
  let back = false;
  const deadline = Date.now() + 20_000;
  while (!back && Date.now() < deadline) {
    back = (await tryEcho(port)) === 'echoed';
    if (!back) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(back, 'accepting again once descriptors are free');
});

test('a process run with a low descriptor limit logs the shortage once per second with counts and serves or refuses every client', async (t) => {
  const upstream = await startEchoServer();
  t.after(() => upstream.close());
  const entry = fileURLToPath(new URL('../helpers/cli-entry.ts', import.meta.url));
  const child = spawn('bash', ['-c', `ulimit -n 200 && exec "${process.execPath}" --import tsx "${entry}" proxy --listen 127.0.0.1:0 --upstream 127.0.0.1:${upstream.port} --log-level warn`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null) child.kill();
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  await eventually(() => /127\.0\.0\.1:(\d+)/.test(out), `the proxy prints its address (stdout: ${out}; stderr: ${err})`, 30_000);
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(out)![1]);

  const sockets: net.Socket[] = [];
  const outcomes = { echoed: 0, refused: 0, closed: 0 };
  for (let i = 0; i < 150; i++) {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.on('error', () => undefined);
    sockets.push(socket);
    const outcome = await new Promise<keyof typeof outcomes>((resolve) => {
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' ? 'refused' : 'closed'));
      socket.once('connect', () => socket.write('ping'));
      socket.once('data', () => resolve('echoed'));
      socket.once('close', () => resolve('closed'));
    });
    outcomes[outcome]++;
  }
  for (const s of sockets) s.destroy();
  assert.ok(outcomes.echoed > 10, `some clients are served: ${JSON.stringify(outcomes)}`);
  assert.ok(outcomes.refused > 0, `the rest are refused: ${JSON.stringify(outcomes)}`);
  assert.equal(outcomes.closed, 0, `no client is accepted and then closed: ${JSON.stringify(outcomes)}`);
  await eventually(() => /file descriptors nearly exhausted/.test(err), 'the shortage is logged', 10_000);
  const lines = err.split('\n').filter((l) => l.includes('file descriptors nearly exhausted'));
  assert.ok(lines.length <= 10, `logged at most about once per second, not per connection: ${lines.length} lines`);
  assert.match(lines[0]!, /"count":\d+/);
  assert.match(lines[0]!, /"limit":200/);
});
