import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startServer, connect, readAll } from '../helpers/net.js';
import { spawnCli, runCli } from '../helpers/cli.js';

describe('switchyard CLI commands', () => {
  test('--help works for the tool and every command', async () => {
    const top = await runCli(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /Commands:/);
    assert.match(top.stdout, /^ {2}nvariant +N-variant execution/m);
    for (const cmd of ['run', 'validate', 'proxy', 'demo', 'nvariant']) {
      const r = await runCli([cmd, '--help']);
      assert.equal(r.code, 0, `${cmd} --help exit code`);
      assert.match(r.stdout, new RegExp(`Usage: switchyard ${cmd}`));
      assert.match(r.stdout, /--log-level/);
    }
  });

  test('an unknown command exits 2 with usage', async () => {
    const r = await runCli(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
  });

  test('validate exits 1 naming the bad path, 0 for a good file', async () => {
    const bad = await runCli(['validate', '-c', 'test/fixtures/config/bad.yaml']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /listeners\[0\]\.listen: bad port/);
    assert.match(bad.stderr, /listeners\[0\]\.idleTimout: unknown key \(did you mean "idleTimeout"\?\)/);
    const good = await runCli(['validate', '-c', 'test/fixtures/config/good.yaml']);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /valid/);
  });

  test('validate without -c is a usage error', async () => {
    const r = await runCli(['validate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing -c FILE/);
  });

  test('run -c FILE serves the configured listener and admin API, and stops on SIGINT', async (t) => {
    const upstream = await startServer((s) => {
      s.setEncoding('utf8');
      s.on('data', (d: string) => s.write(d.toUpperCase()));
      s.on('end', () => s.end());
    });
    t.after(() => upstream.close());
    const dir = await mkdtemp(path.join(os.tmpdir(), 'swy-run-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'proxy.yaml');
    await writeFile(
      file,
      [
        'admin:',
        '  listen: 127.0.0.1:0',
        'listeners:',
        '  - id: web',
        '    listen: 127.0.0.1:0',
        '    framing: { type: line, stripDelimiter: false }',
        'clusters:',
        '  - id: app',
        '    endpoints:',
        '      - 127.0.0.1:${UPSTREAM_PORT}',
        'routes:',
        '  - { id: web, listener: web, cluster: app }',
        'shutdown: { drainTimeout: 1s }',
      ].join('\n'),
    );
    const p = spawnCli(['run', '-c', file, '--log-level', 'warn'], { UPSTREAM_PORT: String(upstream.port) });
    t.after(() => p.kill('SIGKILL'));
    const [, port] = await p.waitFor(/listener web: 127\.0\.0\.1:(\d+)/);
    const [, adminUrl] = await p.waitFor(/admin API: (http:\S+)/);
    const client = await connect(Number(port));
    client.end('hello\nworld\n');
    assert.equal((await readAll(client)).toString(), 'HELLO\nWORLD\n');
    const listeners = (await (await fetch(`${adminUrl}/api/v1/listeners`)).json()) as Array<{ id: string; state: string; stats: { total: number } }>;
    assert.equal(listeners.length, 1);
    assert.equal(listeners[0]!.id, 'web');
    assert.equal(listeners[0]!.state, 'started');
    assert.equal(listeners[0]!.stats.total, 1);
    const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
    assert.match(metrics, /switchyard_connections_total\{kind="listener",id="web"\} 1/);
    assert.match(metrics, /switchyard_bytes_total\{kind="listener",id="web",direction="to_upstream"\} 12/);
    p.kill('SIGINT');
    assert.equal((await p.exited).code, 0);
  });

  test('run with an invalid config exits 1 with the errors', async () => {
    const r = await runCli(['run', '-c', 'test/fixtures/config/bad.yaml']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /idleTimout/);
  });

  test('demo --once starts backend, proxy and admin API and passes its self-check', async () => {
    const r = await runCli(['demo', '--once', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /self-check: .*HELLO SWITCHYARD.*\(ok\)/);
    assert.match(r.stdout, /admin API http:\/\/127\.0\.0\.1:\d+/);
  });
});
