/**
 * First-run polish (issue 10 §7): where the docs are, the demo's output and busy default ports, one line for an
 * address in use, did-you-mean for every command's flags, `validate --print`, `run`'s start lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli, spawnCli } from '../helpers/cli.js';

/** A loopback port held by another server until the test ends. */
async function busyPort(t: import('node:test').TestContext): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

/**
 * Hold 127.0.0.1:port for the rest of the test. Another process (a demo of another test, a second copy of the
 * suite) may hold it for a moment: then try again until it is ours (bounded), so the port is busy for certain.
 */
async function hold(t: import('node:test').TestContext, port: number): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    const server = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(true));
    });
    if (ok) {
      t.after(() => server.close());
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`127.0.0.1:${port} stayed held by another process for 30 s`);
}

test('--help names the docs folder of the installed package, which exists', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  assert.doesNotMatch(r.stdout, /https:\/\/github\.com\/ \(/, 'no placeholder URL');
  const m = /^Docs \(installed with the package\): (.+)$/m.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.ok(existsSync(path.join(m[1]!, 'configuration.md')), `${m[1]} holds configuration.md`);
  assert.ok(existsSync(path.join(m[1]!, 'toxiproxy-compat.md')));
});

test('demo --once prints no commands for the servers it has stopped', async () => {
  const r = await runCli(['demo', '--once', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /curl |nc -q1/);
  assert.match(r.stdout, /--once: self-check passed; everything has stopped/);
});

test('demo: busy default ports (7070, 7071, 9901) are replaced by free ones, and printed', async (t) => {
  for (const port of [7070, 7071, 9901]) await hold(t, port);
  const r = await runCli(['demo', '--once']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  for (const [port, flag] of [[7070, '--listen'], [7071, '--nvariant-listen'], [9901, '--admin']] as const) {
    assert.ok(r.stdout.includes(`note: port ${port} (the default of ${flag}) is in use: using a free port instead`), r.stdout);
  }
  const proxy = /^ {2}proxy +127\.0\.0\.1:(\d+)/m.exec(r.stdout);
  const admin = /^ {2}admin API http:\/\/127\.0\.0\.1:(\d+)/m.exec(r.stdout);
  assert.ok(proxy && admin, r.stdout);
  assert.notEqual(Number(proxy[1]), 7070);
  assert.notEqual(Number(admin[1]), 9901);
});

test('an address in use is one line naming it and what to change, no stack trace, exit 1', async (t) => {
  const port = await busyPort(t);
  const cases: Array<[string[], RegExp]> = [
    [['proxy', '--listen', `127.0.0.1:${port}`, '--upstream', '127.0.0.1:1'], /listener 'proxy' cannot listen on 127\.0\.0\.1:\d+: address already in use.*; choose another --listen$/],
    [['proxy', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:1', '--admin', `127.0.0.1:${port}`], /^error: cannot listen on 127\.0\.0\.1:\d+: address already in use.*; choose another --admin$/],
    [['demo', '--once', '--listen', `127.0.0.1:${port}`], /listener 'demo' cannot listen .*; choose another --listen$/],
    [['demo', '--once', '--listen', '127.0.0.1:0', '--admin', `127.0.0.1:${port}`], /cannot listen .*; choose another --admin/],
    [['toxiproxy', '--port', String(port)], /^error: cannot listen on 127\.0\.0\.1:\d+: address already in use.*see --help for the address options/],
  ];
  for (const [args, line] of cases) {
    const r = await runCli([...args, '--log-level', 'warn']);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `${args.join(' ')}: one line, got:\n${r.stderr}`);
    assert.match(lines[0]!, line);
    assert.ok(lines[0]!.includes(`127.0.0.1:${port}`));
  }
});

test('run: the config key of a busy address', async (t) => {
  const port = await busyPort(t);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'swy-first-run-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'busy.yaml');
  await writeFile(file, `listeners:\n  - id: a\n    listen: 127.0.0.1:0\n  - id: b\n    listen: 127.0.0.1:${port}\nclusters:\n  - id: c\n    endpoints: [127.0.0.1:1]\nroutes:\n  - id: r\n    listener: b\n    cluster: c\n`);
  let r = await runCli(['run', '-c', file, '--log-level', 'warn']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^error: listener 'b' cannot listen on 127\\.0\\.0\\.1:${port}: address already in use.*; change listeners\\[1\\]\\.listen \\(listener 'b'\\) in ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n$`));

  await writeFile(file, `admin:\n  listen: 127.0.0.1:${port}\n`);
  r = await runCli(['run', '-c', file, '--log-level', 'warn']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /; change admin\.listen in /);
});

test('every command answers an unknown flag with a did-you-mean', async () => {
  const cases: Array<[string[], string, string]> = [
    [['run', '--confg', 'x'], '--confg', '--config'],
    [['validate', '--prnt'], '--prnt', '--print'],
    [['proxy', '--upstraem', 'x'], '--upstraem', '--upstream'],
    [['demo', '--admn', 'x'], '--admn', '--admin'],
    [['toxiproxy', '--prot', '1'], '--prot', '--port'],
    [['nvariant', '--varient', 'x'], '--varient', '--variant'],
    [['chaos', '--backnd', 'x'], '--backnd', '--backend'],
    [['run', '--log-levle', 'x'], '--log-levle', '--log-level'],
  ];
  for (const [args, typo, meant] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    // chaos has always said `unknown option`; the others keep Node's `Unknown option`.
    assert.ok(r.stderr.toLowerCase().startsWith(`error: unknown option '${typo}' (did you mean "${meant}"?)\n`), `${args.join(' ')}: ${r.stderr}`);
  }
  const far = await runCli(['proxy', '--zzzzzzzz']);
  assert.ok(far.stderr.startsWith("error: Unknown option '--zzzzzzzz'\n"), far.stderr);
});

test('validate --print prints the normalised config as JSON (defaults filled in, addresses as text, no token)', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'swy-first-run-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'print.yaml');
  await writeFile(file, 'admin:\n  listen: 127.0.0.1:9901\n  token: s3cret-value\nlisteners:\n  - id: web\n    listen: 127.0.0.1:8080\n    protocol: http\n    idleTimeout: 2m\n');
  const r = await runCli(['validate', '-c', file, '--print']);
  assert.equal(r.code, 0, r.stderr);
  const config = JSON.parse(r.stdout) as { admin: { listen: string; token: string }; listeners: Array<Record<string, unknown>>; shutdown: { drainTimeout: number } };
  assert.equal(config.admin.listen, '127.0.0.1:9901');
  assert.equal(config.admin.token, '<redacted>');
  assert.doesNotMatch(r.stdout, /s3cret/);
  assert.equal(config.listeners[0]!['listen'], '127.0.0.1:8080');
  assert.equal(config.listeners[0]!['idleTimeout'], 120_000, 'durations in ms');
  assert.equal(typeof config.shutdown.drainTimeout, 'number', 'defaults filled in');
  const plain = await runCli(['validate', '-c', file]);
  assert.match(plain.stdout, /valid \(1 listener/);
});

test('run prints each listener’s protocol and faults at start', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'swy-first-run-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'run.yaml');
  await writeFile(
    file,
    [
      'listeners:',
      '  - id: web',
      '    listen: 127.0.0.1:0',
      '    protocol: http',
      '    faults:',
      '      - { name: slow, type: latency, stream: downstream, attributes: { latency: 10 } }',
      '      - { name: flaky, type: error, toxicity: 0.1 }',
      '  - id: lines',
      '    listen: 127.0.0.1:0',
      '    framing: line',
      '  - id: raw',
      '    listen: 127.0.0.1:0',
      '',
    ].join('\n'),
  );
  const p = spawnCli(['run', '-c', file, '--log-level', 'warn']);
  t.after(() => p.kill('SIGKILL'));
  await p.waitFor(/^listener raw: .*\n/m);
  const out = p.stdout();
  const web = /^listener web: 127\.0\.0\.1:\d+ \(tcp, protocol http, faults: (.*)\)$/m.exec(out);
  assert.ok(web, out);
  assert.deepEqual(web[1]!.split(/, (?![^(]*\))/).sort(), ['flaky (error, upstream, 10%)', 'slow (latency, downstream)']);
  assert.match(out, /^listener lines: 127\.0\.0\.1:\d+ \(tcp, framing line, no faults\)$/m);
  assert.match(out, /^listener raw: 127\.0\.0\.1:\d+ \(tcp, no protocol \(bytes\), no faults\)$/m);
});
