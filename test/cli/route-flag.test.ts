import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRouteFlag, routesFromFlags } from '../../src/cli/route-flag.js';
import { freePort, readAll, startServer } from '../helpers/net.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('--route: match conditions, lists, negation, map forms, numbers, several upstreams, catch-all', () => {
  assert.deepEqual(parseRouteFlag('host=api.example.com,path=/v1/* -> 127.0.0.1:3001'), {
    match: { host: 'api.example.com', path: '/v1/*' },
    upstreams: ['127.0.0.1:3001'],
  });
  assert.deepEqual(parseRouteFlag(' -> 127.0.0.1:3000, 127.0.0.1:3002 '), { match: undefined, upstreams: ['127.0.0.1:3000', '127.0.0.1:3002'] });
  assert.deepEqual(parseRouteFlag('method=GET|HEAD, header.X-Canary=1, query.v=2, path!=/health, destinationPort=8443 -> [::1]:80'), {
    match: { method: ['GET', 'HEAD'], headers: { 'X-Canary': 1 }, query: { v: 2 }, destinationPort: 8443, not: { path: '/health' } },
    upstreams: ['[::1]:80'],
  });
  assert.deepEqual(parseRouteFlag('sourceAddress=10.0.0.0/8|::1/128->unix:/tmp/s'), { match: { sourceAddress: ['10.0.0.0/8', '::1/128'] }, upstreams: ['unix:/tmp/s'] });
});

test('--route: syntax errors say what is wrong; routesFromFlags names the flag and appends --upstream as the catch-all', () => {
  const bad: Array<[string, RegExp]> = [
    ['host=a 127.0.0.1:1', /missing "->"/],
    ['host=a -> ', /no upstream after "->"/],
    ['host=a -> 1.2.3.4:1,,', /an empty upstream address/],
    ['host -> 1.2.3.4:1', /"host" is not KEY=VALUE or KEY!=VALUE/],
    ['host= -> 1.2.3.4:1', /no value for "host"/],
    ['host=a,host=b -> 1.2.3.4:1', /"host" given twice/],
    ['method=GET| -> 1.2.3.4:1', /empty alternative/],
    ['a=1 -> x:1 -> y:2', /"->" given twice/],
  ];
  for (const [text, why] of bad) assert.throws(() => parseRouteFlag(text), why, text);
  assert.throws(() => routesFromFlags('p', ['-> a:1', 'oops'], []), /^Error: --route #2 "oops": missing "->"/);
  assert.deepEqual(routesFromFlags('p', ['path=/a/* -> 127.0.0.1:1'], ['127.0.0.1:2']), {
    clusters: [
      { id: 'route-1', endpoints: ['127.0.0.1:1'] },
      { id: 'upstream', endpoints: ['127.0.0.1:2'] },
    ],
    routes: [
      { id: 'route-1', listener: 'p', cluster: 'route-1', match: { path: '/a/*' } },
      { id: 'default', listener: 'p', cluster: 'upstream' },
    ],
  });
});

test('switchyard proxy --route: connection routing through the CLI; config errors name the flag', async (t) => {
  const a = await startServer((s) => void s.end('A'));
  const b = await startServer((s) => void s.end('B'));
  t.after(() => Promise.all([a.close(), b.close()]));
  const port = await freePort();
  const p = spawnCli(['proxy', '--listen', `127.0.0.1:${port}`, '--route', `sourceAddress=127.0.0.2 -> 127.0.0.1:${b.port}`, '--route', `-> 127.0.0.1:${a.port}`, '--log-level', 'warn']);
  t.after(() => p.kill('SIGKILL'));
  await p.waitFor(/switchyard proxy: .* -> 2 routes/);
  const from = async (localAddress: string): Promise<string> => (await readAll(net.connect({ host: '127.0.0.1', port, localAddress }))).toString();
  assert.equal(await from('127.0.0.1'), 'A');
  assert.equal(await from('127.0.0.2'), 'B');

  const bad = await runCli(['proxy', '--listen', '127.0.0.1:0', '--route', 'path=/x -> 127.0.0.1:1']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--route #1 match\.path: unknown route match key "path".*\(add --protocol NAME to route on request attributes\)/);
  const syntax = await runCli(['proxy', '--listen', '127.0.0.1:0', '--route', 'path=/x 127.0.0.1:1']);
  assert.equal(syntax.code, 2);
  assert.match(syntax.stderr, /--route #1 "path=\/x 127\.0\.0\.1:1": missing "->"/);
  const shadow = spawnCli(['proxy', '--listen', '127.0.0.1:0', '--route', `-> 127.0.0.1:${a.port}`, '--route', `sourceAddress=127.0.0.2 -> 127.0.0.1:${b.port}`, '--log-level', 'warn']);
  t.after(() => shadow.kill('SIGKILL'));
  await shadow.waitFor(/switchyard proxy: /);
  assert.match(shadow.stderr(), /warning: --route #2 match: route "route-2" can never match: --route #1 on listener "proxy" comes first and has no match/);
});

test('switchyard validate prints a warning with its position for a route that can never match', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'swy-routes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'shadow.yaml');
  writeFileSync(
    file,
    ['listeners: [{id: web, listen: "127.0.0.1:0", protocol: http}]', 'clusters: [{id: a, endpoints: ["127.0.0.1:1"]}]', 'routes:', '  - {id: all, listener: web, cluster: a}', '  - {id: api, listener: web, cluster: a, match: {path: "/api/*"}}', ''].join('\n'),
  );
  const r = await runCli(['validate', '-c', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /valid \(1 listener\(s\), 1 cluster\(s\), 2 route\(s\)\)/);
  assert.match(r.stderr, /^warning: routes\[1\]\.match: route "api" can never match: routes\[0\] \("all"\) on listener "web" comes first and has no match \(it takes everything\) \(at .*shadow\.yaml:5:\d+\)$/m);
});
