import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Toxiproxy } from 'toxiproxy-node-client';
import { startEchoServer } from '../helpers/net.js';
import { spawnCli } from '../helpers/cli.js';
import { VERSION } from '../../src/core/version.js';
import { call, connectError, portOf, roundTrip, startApi } from './toxiproxy-helpers.js';

test('acceptance: toxiproxy-node-client drives switchyard unchanged (create, latency toxic, update, remove, disable/enable, reset, populate, version, delete)', async (t) => {
  const echo = await startEchoServer();
  const h = await startApi();
  t.after(async () => {
    await h.close();
    await echo.close();
  });
  const client = new Toxiproxy(h.url);

  const proxy = await client.createProxy({ name: 'echo', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}` });
  assert.equal(proxy.name, 'echo');
  assert.equal(proxy.enabled, true);
  assert.match(proxy.listen, /^127\.0\.0\.1:\d+$/);
  const port = portOf(proxy.listen);
  assert.notEqual(port, 0, 'the ephemeral port is resolved in `listen`');
  t.diagnostic(`no toxic: ${(await roundTrip(port)).toFixed(1)} ms`);

  const toxic = await proxy.addToxic<{ latency: number; jitter: number }>({
    name: 'lat',
    type: 'latency',
    stream: 'downstream',
    toxicity: 1,
    attributes: { latency: 300, jitter: 0 },
  });
  assert.deepEqual(toxic.toJson(), { name: 'lat', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 300, jitter: 0 } });
  // Timers fire on libuv's millisecond loop clock, so a delay measured with performance.now() may read ~1 ms short.
  const delayed = await roundTrip(port);
  assert.ok(delayed >= 295, `latency 300 ms downstream delays a round trip by at least 300 ms (${delayed.toFixed(1)} ms)`);

  const updated = await toxic.update({ ...toxic.toJson(), attributes: { latency: 600, jitter: 0 } });
  assert.equal(updated.attributes.latency, 600);
  const afterUpdate = await roundTrip(port);
  assert.ok(afterUpdate >= 595, `after update: at least 600 ms (${afterUpdate.toFixed(1)} ms)`);

  await updated.remove();
  await assert.rejects(proxy.getToxic('lat'), /status code 404/);
  t.diagnostic(`toxic removed: ${(await roundTrip(port)).toFixed(1)} ms`);

  const disabled = await proxy.update({ ...proxy.toJson(), enabled: false });
  assert.equal(disabled.enabled, false);
  assert.equal(disabled.listen, proxy.listen, 'listen is kept (with its port) while disabled');
  assert.equal(await connectError(port), 'ECONNREFUSED');

  const enabled = await proxy.update({ ...proxy.toJson(), enabled: true });
  assert.equal(enabled.enabled, true);
  assert.equal(enabled.listen, proxy.listen, 'enabled again on the same port');
  await roundTrip(port);

  await proxy.addToxic({ name: 'lat2', type: 'latency', stream: 'upstream', toxicity: 1, attributes: { latency: 100, jitter: 0 } });
  await proxy.update({ ...proxy.toJson(), enabled: false });
  await client.reset();
  const afterReset = await call(`${h.url}/proxies/echo`, 'GET');
  assert.deepEqual((afterReset.json() as { toxics: unknown[] }).toxics, [], 'reset removes every toxic');
  assert.equal((afterReset.json() as { enabled: boolean }).enabled, true, 'reset enables every proxy');
  await roundTrip(port);

  const populated = await client.populate([
    { name: 'echo', listen: proxy.listen, upstream: `127.0.0.1:${echo.port}` },
    { name: 'pop_b', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}` },
  ]);
  assert.deepEqual(Object.keys(populated).sort(), ['echo', 'pop_b']);
  assert.equal(populated['echo']!.listen, proxy.listen, 'same name, listen and upstream: kept untouched');
  await roundTrip(portOf(populated['pop_b']!.listen));
  assert.deepEqual(await client.populate([]), {}, 'populate([]) returns without a TypeError');
  assert.deepEqual(Object.keys(await client.getAll()).sort(), ['echo', 'pop_b']);

  assert.deepEqual(JSON.parse(await client.getVersion()), { version: VERSION });

  const b = await client.get('pop_b');
  await b.remove();
  await proxy.remove();
  await assert.rejects(client.get('echo'), /status code 404/);
  assert.equal(await connectError(port), 'ECONNREFUSED');
  const again = net.createServer();
  again.listen(port, '127.0.0.1');
  await once(again, 'listening');
  await new Promise<void>((r) => again.close(() => r()));
  assert.deepEqual(await client.getAll(), {});
});

test('the CLI: switchyard toxiproxy --config loads proxies like Toxiproxy -config and serves the client', async (t) => {
  const echo = await startEchoServer();
  const dir = await mkdtemp(path.join(tmpdir(), 'swy-toxi-'));
  const file = path.join(dir, 'proxies.json');
  await writeFile(
    file,
    JSON.stringify([
      { name: 'cfg_echo', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}` },
      { name: 'cfg_off', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}`, enabled: false },
    ]),
  );
  const cli = spawnCli(['toxiproxy', '--host', '127.0.0.1', '--port', '0', '--config', file, '--seed', '7', '--log-level', 'warn']);
  t.after(async () => {
    cli.kill('SIGKILL');
    await echo.close();
    await rm(dir, { recursive: true, force: true });
  });
  const m = await cli.waitFor(/(http:\/\/127\.0\.0\.1:\d+)/);
  const client = new Toxiproxy(m[1]!);
  const all = await client.getAll();
  assert.deepEqual(Object.keys(all).sort(), ['cfg_echo', 'cfg_off']);
  assert.equal(all['cfg_off']!.enabled, false);
  const port = portOf(all['cfg_echo']!.listen);
  const toxic = await all['cfg_echo']!.addToxic({ name: 'slow', type: 'latency', stream: 'upstream', toxicity: 1, attributes: { latency: 200, jitter: 0 } });
  assert.ok((await roundTrip(port)) >= 195); // slack: timers run on libuv's millisecond clock
  await toxic.remove();
  cli.kill('SIGTERM');
  const { code } = await cli.exited;
  assert.equal(code, 0, `graceful exit; stderr: ${cli.stderr()}`);
});

test('the CLI keeps running when the config file is bad (errors logged, like Toxiproxy)', async (t) => {
  const cli = spawnCli(['toxiproxy', '--port', '0', '--config', '/nonexistent/proxies.json']);
  t.after(() => cli.kill('SIGKILL'));
  const m = await cli.waitFor(/(http:\/\/127\.0\.0\.1:\d+)/);
  const client = new Toxiproxy(m[1]!);
  assert.deepEqual(await client.getAll(), {});
  cli.kill('SIGINT');
  assert.equal((await cli.exited).code, 0);
});

test('switchyard run: a config with toxiproxy: {listen} serves the API next to the proxy and stops with it', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'swy-toxi-run-'));
  const file = path.join(dir, 'switchyard.json');
  await writeFile(file, JSON.stringify({ toxiproxy: { listen: '127.0.0.1:0' }, listeners: [], clusters: [], routes: [] }));
  const cli = spawnCli(['run', '-c', file, '--log-level', 'info']);
  t.after(async () => {
    cli.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  let url: string | undefined;
  const start = Date.now();
  while (!url) {
    url = /"toxiproxy":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(cli.stderr())?.[1];
    if (!url) {
      assert.ok(Date.now() - start < 15000, `no Toxiproxy API log line; stderr: ${cli.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const client = new Toxiproxy(url);
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const proxy = await client.createProxy({ name: 'via_run', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echo.port}` });
  await roundTrip(portOf(proxy.listen));
  cli.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0, 'the API server does not keep the process alive');
});
