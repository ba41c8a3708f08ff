/**
 * `switchyard nvariant` as a real process in front of three node:http variants of one service (the third with a
 * planted bug): unanimous blocks the crafted request and records it (admin API, stderr line, JSONL file),
 * majority serves the majority's answer, masks hide noisy fields, raw TCP with line framing closes the
 * connection on a difference; bad arguments exit 2 naming the flag. Also the demo's N-variant self-check.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { spawnCli, runCli, type CliProcess } from '../helpers/cli.js';
import { startLineServer } from '../helpers/net.js';
import { nvariantCommand, formatDivergence } from '../../src/cli/commands/nvariant.js';
import type { DivergenceEvent } from '../../src/replication/events.js';

type T = { after(fn: () => unknown): void };

const servers: net.Server[] = [];
let httpPorts: number[] = [];
let linePorts: number[] = [];
let tmp = '';

/** One variant of a small service: `/secret?x=1` leaks in the flawed one; `/random` carries a random requestId. */
async function httpVariant(flawed: boolean): Promise<number> {
  const server = http.createServer((req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/secret') {
      const leak = flawed && url.searchParams.get('x') === '1';
      return json(leak ? 200 : 403, leak ? { secret: 'hunter2' } : { error: 'forbidden' });
    }
    if (url.pathname === '/random') return json(200, { ok: true, requestId: Math.random().toString(36).slice(2) });
    json(200, { path: url.pathname });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return (server.address() as net.AddressInfo).port;
}

/** A line service: each line back upper-cased, except that the flawed one answers `secret` with `LEAK`. */
async function lineVariant(flawed: boolean): Promise<number> {
  const s = await startLineServer((line) => (flawed && line === 'secret' ? 'LEAK' : line.toUpperCase()));
  servers.push(s.server);
  return s.port;
}

before(async () => {
  httpPorts = [await httpVariant(false), await httpVariant(false), await httpVariant(true)];
  linePorts = [await lineVariant(false), await lineVariant(false), await lineVariant(true)];
  tmp = await mkdtemp(path.join(os.tmpdir(), 'switchyard-nvariant-'));
});

after(async () => {
  for (const s of servers) {
    if (s instanceof http.Server) s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
  await rm(tmp, { recursive: true, force: true });
});

const variantArgs = (ports: number[]): string[] => ports.flatMap((p) => ['--variant', `127.0.0.1:${p}`]);

interface Started {
  p: CliProcess;
  url: string;
  port: number;
  admin: string | undefined;
}

async function startCli(t: T, args: string[], ready: RegExp): Promise<Started> {
  const p = spawnCli(['nvariant', '--listen', '127.0.0.1:0', ...args]);
  t.after(() => p.kill('SIGKILL'));
  await p.waitFor(ready);
  const m = /listening on 127\.0\.0\.1:(\d+)/.exec(p.stdout())!;
  const admin = /^ {2}admin (http:\/\/127\.0\.0\.1:\d+) /m.exec(p.stdout())?.[1];
  return { p, port: Number(m[1]), url: `http://127.0.0.1:${m[1]}`, admin };
}

/** Wait until stderr matches (the divergence lines arrive there). */
async function stderrMatch(p: CliProcess, re: RegExp, timeout = 5000): Promise<RegExpMatchArray> {
  const end = Date.now() + timeout;
  for (;;) {
    const m = p.stderr().match(re);
    if (m) return m;
    if (Date.now() > end) throw new Error(`stderr never matched ${re}: ${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A GET on its own connection (node:http without an agent), so nothing stays pooled after the test. */
function get(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

test('unanimous: ordinary requests pass, the crafted one is blocked (502), reported on stderr, in the admin API and the events file', async (t) => {
  const events = path.join(tmp, 'events.jsonl');
  const { p, url, admin } = await startCli(
    t,
    [...variantArgs(httpPorts), '--protocol', 'http', '--admin', '127.0.0.1:0', '--events', events, '--mask', '/body/requestId'],
    /^ {2}admin http/m,
  );
  const out = p.stdout();
  assert.match(out, new RegExp(`variant v1 127\\.0\\.0\\.1:${httpPorts[0]} \\(primary\\)`));
  assert.match(out, new RegExp(`variant v2 127\\.0\\.0\\.1:${httpPorts[1]} \\(variant\\)`));
  assert.match(out, new RegExp(`variant v3 127\\.0\\.0\\.1:${httpPorts[2]} \\(variant\\)`));
  assert.match(out, /policy unanimous: any difference blocks/);
  assert.ok(admin, out);

  const ok = await get(`${url}/hello`);
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.text), { path: '/hello' });
  const masked = await get(`${url}/random`);
  assert.equal(masked.status, 200, 'a masked random requestId is not a difference');
  assert.equal((JSON.parse(masked.text) as { ok: boolean }).ok, true);

  const crafted = await get(`${url}/secret?x=1`);
  assert.equal(crafted.status, 502);
  assert.doesNotMatch(crafted.text, /hunter2|forbidden/);

  const res = await fetch(`${admin}/api/v1/divergences`);
  assert.equal(res.status, 200);
  const list = (await res.json()) as DivergenceEvent[];
  assert.equal(list.length, 1, JSON.stringify(list));
  const e = list[0]!;
  assert.equal(e.decision, 'blocked');
  assert.equal(e.policy, 'unanimous');
  assert.match(e.request.summary, /^GET \/secret\?x=1/);
  assert.ok(e.fields.includes('/status') && e.fields.includes('/body/secret'), `fields: ${e.fields.join(', ')}`);
  assert.match(e.diff, /\/body\/secret: "hunter2"/);
  assert.deepEqual(e.variants.map((v) => v.agreed), [true, true, false]);

  const line = await stderrMatch(p, /^divergence (\d+) blocked: GET \/secret\?x=1 — v3 differs at (.*)$/m);
  assert.equal(Number(line[1]), e.id);
  assert.match(line[2]!, /\/body\/secret/);
  assert.match(line[2]!, /\/status/);
  assert.doesNotMatch(p.stderr(), /variants diverged/, 'the runtime warning is replaced by the one-line summary');

  let jsonl = '';
  for (let i = 0; i < 500 && !jsonl.includes('\n'); i++) {
    jsonl = await readFile(events, 'utf8').catch(() => '');
    if (!jsonl.includes('\n')) await new Promise((r) => setTimeout(r, 20));
  }
  const recorded = jsonl.trim().split('\n').map((l) => JSON.parse(l) as DivergenceEvent);
  assert.deepEqual(recorded.map((r) => [r.id, r.decision]), [[e.id, 'blocked']]);

  p.kill('SIGTERM');
  assert.deepEqual(await p.exited, { code: 0, signal: null });
});

test('--policy majority: the crafted request gets the majority answer; the odd variant is reported as out-voted', async (t) => {
  const { p, url } = await startCli(t, [...variantArgs(httpPorts), '--protocol', 'http', '--policy', 'majority', '--filter-pair', '--timeout', '2s'], /policy majority/);
  assert.match(p.stdout(), /variant v2 \S+ \(filter pair\)/);
  assert.match(p.stdout(), /timeout 2s/);
  const crafted = await get(`${url}/secret?x=1`);
  assert.equal(crafted.status, 403);
  assert.deepEqual(JSON.parse(crafted.text), { error: 'forbidden' });
  await stderrMatch(p, /^divergence \d+ outvoted: GET \/secret\?x=1 — v3 differs at .*\/status.*; served v1$/m);
});

test('raw TCP with --framing line: a differing line closes the connection before the odd answer is sent', async (t) => {
  const { p, port } = await startCli(t, [...variantArgs(linePorts), '--framing', 'line'], /policy unanimous/);
  assert.match(p.stdout(), /\(raw tcp, framing line\)/);
  const socket = net.connect(port, '127.0.0.1');
  socket.setEncoding('utf8');
  let got = '';
  socket.on('data', (d: string) => (got += d));
  socket.on('error', () => undefined);
  socket.write('hello\n');
  for (let i = 0; i < 1000 && !got.includes('\n'); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(got, 'HELLO\n');
  socket.write('secret\n');
  await once(socket, 'close');
  assert.equal(got, 'HELLO\n', 'neither SECRET nor LEAK reached the client');
  await stderrMatch(p, /^divergence \d+ blocked: .* — v3 differs/m);
});

/** Run the command in process, capturing what it writes (for argument errors: nothing starts). */
async function captured(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => ((out.stdout += String(chunk)), true));
  process.stderr.write = ((chunk: string | Uint8Array) => ((out.stderr += String(chunk)), true));
  try {
    return { code: await nvariantCommand(argv), ...out };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

test('bad arguments exit 2 with a message naming the flag', async () => {
  const one = await runCli(['nvariant', '--listen', '127.0.0.1:0', '--variant', '127.0.0.1:1']);
  assert.equal(one.code, 2);
  assert.match(one.stderr, /error: --variant: N-variant execution needs at least 2 variants, got 1/);
  const typo = await runCli(['nvariant', '--listen', '127.0.0.1:0', '--variant', '127.0.0.1:1', '--variant', '127.0.0.1:2', '--policy', 'unanimus']);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /error: --policy: unknown policy 'unanimus' \(did you mean "unanimous"\?\)/);

  const two = ['--listen', '127.0.0.1:0', '--variant', '127.0.0.1:1', '--variant', '127.0.0.1:2'];
  const cases: Array<[string[], RegExp]> = [
    [['--variant', '127.0.0.1:1', '--variant', '127.0.0.1:2'], /missing --listen HOST:PORT/],
    [['--listen', '127.0.0.1:0', '--variant', '127.0.0.1:1', '--variant', 'nowhere:99999'], /--variant #2: .*port/],
    [['--listen', 'localhost', ...two.slice(2)], /--listen: /],
    [[...two, '--admin', 'x:y'], /--admin: /],
    [[...two, '--protocol', 'htp'], /--protocol: unknown protocol 'htp' \(did you mean "http"\?\)/],
    [[...two, '--protocol', 'http', '--framing', 'line'], /--framing and --protocol http are mutually exclusive/],
    [[...two, '--framing', 'lien'], /--framing: .*lien/],
    [[...two, '--timeout', 'soon'], /--timeout: /],
    [[...two, '--mask', 'body/id'], /--mask #1: .*JSON pointer/],
    [[...two, '--filter-pair'], /--filter-pair: .*at least 3/],
    [[...two, '--log-level', 'loud'], /--log-level: expected one of/],
    [[...two, '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [argv, re] of cases) {
    const r = await captured(argv);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, argv.join(' '));
    assert.match(r.stderr, /Usage: switchyard nvariant/);
  }
  const help = await captured(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: switchyard nvariant --listen HOST:PORT --variant HOST:PORT --variant HOST:PORT/);
  assert.match(help.stdout, /--ignore-header NAME/);
});

test('formatDivergence: one line naming the odd variants, their status, the fields and who was served', () => {
  const base = {
    id: 7,
    time: '2026-01-01T00:00:00.000Z',
    route: 'r',
    mode: 'replicate' as const,
    policy: 'majority',
    request: { summary: 'GET /a 0 B', endpoint: 'GET /a' },
    diff: '',
  };
  const v = (name: string, agreed: boolean, status: 'ok' | 'timeout' = 'ok') => ({ name, status, agreed });
  assert.equal(
    formatDivergence({ ...base, decision: 'outvoted', served: 'a:1', variants: [v('a:1', true), v('b:1', false, 'timeout'), v('c:1', true)], fields: [] }),
    'divergence 7 outvoted: GET /a — v2 (timeout) differs; served v1',
  );
  const many = Array.from({ length: 8 }, (_, i) => `/body/f${i}`);
  assert.equal(
    formatDivergence({ ...base, decision: 'blocked', variants: [v('a:1', false), v('b:1', false), v('c:1', false)], fields: many }),
    'divergence 7 blocked: GET /a — v1, v2, v3 differ at /body/f0, /body/f1, /body/f2, /body/f3, /body/f4, /body/f5, … (+2 more)',
  );
});

test('demo --once: the N-variant self-check blocks the crafted request and shows the divergence', async () => {
  const r = await runCli(['demo', '--once', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /self-check: .*HELLO SWITCHYARD.*\(ok\)/);
  assert.match(r.stdout, /GET \/account\?id=1 -> 200 .*"alice".*\(ok/);
  assert.match(r.stdout, /GET \/account\?id=2 -> 502 .*\(ok/);
  assert.match(r.stdout, /^divergence \d+ blocked: GET \/account\?id=2 — v3 differs at .*\/body\/owner/m);
  assert.match(r.stdout, /\+ \/body\/owner: "bob"/);
  // Issue 10 §7: --once stops everything before it returns, so it no longer prints curl commands for the admin API.
  assert.doesNotMatch(r.stdout, /curl /);
});
