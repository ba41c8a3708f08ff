import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminServer } from '../../src/admin/server.js';
import { validateConfig } from '../../src/runtime/config.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { startAdminStack, stopAdminStack, type AdminStack } from '../helpers/admin.js';
import { rawRequest } from '../helpers/http-raw.js';

/** The issue's reproduction, one header at a time: each alone must refuse the request. */
function attacks(port: number): Array<[string, Record<string, string>, number]> {
  const ok = { host: `127.0.0.1:${port}`, 'content-type': 'application/json' };
  return [
    ['Origin: http://evil.example', { ...ok, origin: 'http://evil.example' }, 403],
    ['Host: evil.example:PORT', { ...ok, host: `evil.example:${port}` }, 403],
    ['Content-Type: text/plain', { ...ok, 'content-type': 'text/plain' }, 415],
    ['all three (the exact curl)', { origin: 'http://evil.example', host: `evil.example:${port}`, 'content-type': 'text/plain' }, 403],
  ];
}

describe('admin API: cross-site requests are refused (issue 10 §1)', () => {
  let stack: AdminStack;
  let base: string;
  let port: number;
  before(async () => {
    stack = await startAdminStack();
    base = stack.admin.url;
    port = Number(new URL(base).port);
  });
  after(() => stopAdminStack(stack));

  const bodies: Array<[string, string, string]> = [
    ['listeners', '/api/v1/listeners', '{"id":"x","listen":"127.0.0.1:0"}'],
    ['clusters', '/api/v1/clusters', '{"id":"x","endpoints":["127.0.0.1:6379"]}'],
    ['routes', '/api/v1/routes', '{"id":"x","listener":"l1","cluster":"c1"}'],
    ['faults', '/api/v1/listeners/l1/faults', '{"type":"latency","attributes":{"latency":5}}'],
  ];
  for (const [what, path, body] of bodies) {
    test(`POST ${path}: Origin, Host and Content-Type each refuse it; nothing is created`, async () => {
      for (const [name, headers, status] of attacks(port)) {
        const r = await rawRequest(base, 'POST', path, headers, body);
        assert.equal(r.status, status, `${what}: ${name} → ${r.text}`);
        const error = (JSON.parse(r.text) as { error: { code: string; message: string } }).error;
        assert.equal(error.code, status === 403 ? 'SWY_FORBIDDEN' : 'SWY_BAD_REQUEST');
      }
      assert.equal(stack.yard.listeners.has('x'), false);
      assert.equal(stack.yard.clusters.has('x'), false);
      assert.equal(stack.yard.routes.has('x'), false);
      assert.equal(stack.yard.faultSet('l1').list().length, 0);
    });
  }

  test('GETs with a rebinding Host or a foreign Origin read nothing', async () => {
    for (const path of ['/api/v1/listeners', '/api/v1/clusters', '/metrics', '/']) {
      assert.equal((await rawRequest(base, 'GET', path, { host: `evil.example:${port}` })).status, 403, path);
      assert.equal((await rawRequest(base, 'GET', path, { origin: 'http://evil.example' })).status, 403, path);
    }
  });

  test('legitimate clients still work: fetch() with JSON, curl with -H content-type, localhost names', async () => {
    const created = await fetch(`${base}/api/v1/clusters`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"legit","endpoints":["127.0.0.1:1"]}' });
    assert.equal(created.status, 201, await created.text());
    const viaLocalhost = await rawRequest(base, 'DELETE', '/api/v1/clusters/legit', { host: `localhost:${port}` });
    assert.equal(viaLocalhost.status, 200, viaLocalhost.text);
  });

  test('allowedHosts and allowedOrigins let a named host and a UI through', async () => {
    const admin = await AdminServer.start(stack.yard, {
      listen: { kind: 'tcp', host: '127.0.0.1', port: 0 },
      allowedHosts: ['switchyard.internal'],
      allowedOrigins: ['https://ui.example'],
    });
    try {
      const r = await rawRequest(admin.url, 'GET', '/healthz', { host: 'switchyard.internal:9901', origin: 'https://ui.example' });
      assert.equal(r.status, 200, r.text);
      assert.equal((await rawRequest(admin.url, 'GET', '/healthz', { host: 'other.internal:9901' })).status, 403);
    } finally {
      await admin.close();
    }
  });
});

describe('admin API: GET / lists every endpoint (issue 10 §7)', () => {
  let stack: AdminStack;
  before(async () => {
    stack = await startAdminStack();
  });
  after(() => stopAdminStack(stack));

  test('method + path + description for each route of the table, HEAD implied', async () => {
    const r = await fetch(`${stack.admin.url}/`);
    assert.equal(r.status, 200);
    const index = (await r.json()) as { name: string; endpoints: Array<{ method: string; path: string; description: string }> };
    assert.equal(index.name, 'switchyard admin API');
    const keys = index.endpoints.map((e) => `${e.method} ${e.path}`);
    for (const k of ['GET /', 'GET /healthz', 'GET /metrics', 'GET /api/v1/listeners', 'POST /api/v1/listeners', 'DELETE /api/v1/listeners/:id', 'POST /api/v1/listeners/:id/faults', 'PATCH /api/v1/listeners/:id/faults/:name', 'POST /api/v1/routes/:id/variants/:name/quarantine']) {
      assert.ok(keys.includes(k), `${k} in ${keys.join(', ')}`);
    }
    assert.ok(!keys.some((k) => k.startsWith('HEAD ')));
    for (const e of index.endpoints) assert.ok(e.description.length > 5, `${e.method} ${e.path} has a description`);
    // Every listed GET path without parameters answers (the index is generated from the table, not written by hand).
    for (const e of index.endpoints.filter((x) => x.method === 'GET' && !x.path.includes(':') && x.path !== '/api/v1/events')) {
      const res = await fetch(stack.admin.url + e.path);
      await res.arrayBuffer();
      assert.ok(res.status === 200, `${e.path}: ${res.status}`);
    }
  });
});

describe('admin API: the token from a file or the environment', () => {
  const framers = createFramerRegistry();
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'swy-token-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('admin.tokenFile: the first line, trimmed; the server requires it', async () => {
    const file = join(dir, 'admin.token');
    writeFileSync(file, '  file-token  \nignored second line\n');
    const r = validateConfig({ admin: { listen: '127.0.0.1:0', tokenFile: file } }, framers, { env: {} });
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.errors));
    assert.equal(r.config.admin!.token, 'file-token');
    const stack = await startAdminStack(r.config.admin!.token);
    try {
      assert.equal((await fetch(`${stack.admin.url}/healthz`)).status, 401);
      assert.equal((await fetch(`${stack.admin.url}/healthz`, { headers: { authorization: 'Bearer file-token' } })).status, 200);
    } finally {
      await stopAdminStack(stack);
    }
  });

  test('tokenFile errors: missing file, empty file, token and tokenFile both given', () => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ tokenFile: join(dir, 'nope') }, /^admin\.tokenFile: cannot read token file ".*nope": ENOENT/],
      [{ tokenFile: empty }, /^admin\.tokenFile: token file ".*empty" is empty/],
      [{ token: 'a', tokenFile: empty }, /^admin\.tokenFile: give admin\.token or admin\.tokenFile, not both/],
    ];
    for (const [admin, message] of cases) {
      const r = validateConfig({ admin: { listen: '127.0.0.1:0', ...admin } }, framers, { env: {} });
      assert.ok(!r.ok);
      assert.ok(r.errors.some((e) => message.test(`${e.path}: ${e.message}`)), JSON.stringify(r.errors));
    }
  });

  test('toxiproxy.tokenFile and SWITCHYARD_TOXIPROXY_TOKEN give the Toxiproxy API its token', () => {
    const file = join(dir, 'tp.token');
    writeFileSync(file, 'tp-file\n');
    const fromFile = validateConfig({ toxiproxy: { tokenFile: file } }, framers, { env: {} });
    assert.ok(fromFile.ok && fromFile.config.toxiproxy!.token === 'tp-file');
    const fromEnv = validateConfig({ toxiproxy: {} }, framers, { env: { SWITCHYARD_TOXIPROXY_TOKEN: 'tp-env' } });
    assert.ok(fromEnv.ok && fromEnv.config.toxiproxy!.token === 'tp-env');
  });
});

describe('config: a non-loopback control API without a token is an issue', () => {
  const framers = createFramerRegistry();
  const issues = (raw: Record<string, unknown>): string[] => {
    const r = validateConfig(raw, framers, { env: {} });
    return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
  };

  test('admin.listen and toxiproxy.listen on 0.0.0.0 / [::] / a LAN address, no token → issue naming the key', () => {
    for (const listen of ['0.0.0.0:9901', '[::]:9901', '10.1.2.3:9901', 'myhost.example:9901']) {
      const got = issues({ admin: { listen } });
      assert.equal(got.length, 1, listen);
      assert.match(got[0]!, /^admin\.listen: .* is not a loopback address and no token is set.*admin\.token or admin\.tokenFile.*SWITCHYARD_ADMIN_TOKEN.*admin\.insecure: true/);
    }
    assert.match(issues({ toxiproxy: { listen: '0.0.0.0:8474' } })[0]!, /^toxiproxy\.listen: .*toxiproxy\.insecure: true/);
  });

  test('loopback, Unix sockets, a token, or insecure: true are fine', () => {
    for (const admin of [
      { listen: '127.0.0.1:9901' },
      { listen: 'localhost:9901' },
      { listen: '[::1]:9901' },
      { listen: 'unix:/tmp/swy-admin.sock' },
      { listen: '0.0.0.0:9901', token: 't' },
      { listen: '0.0.0.0:9901', insecure: true },
    ]) {
      assert.deepEqual(issues({ admin }), [], JSON.stringify(admin));
    }
    assert.deepEqual(validateConfig({ admin: { listen: '0.0.0.0:9901' } }, framers, { env: { SWITCHYARD_ADMIN_TOKEN: 'e' } }).ok, true);
  });

  test('allowedHosts and allowedOrigins are checked', () => {
    assert.match(issues({ admin: { allowedHosts: ['bad host'] } })[0]!, /^admin\.allowedHosts\[0\]: expected a host name/);
    assert.match(issues({ admin: { allowedOrigins: ['ui.example'] } })[0]!, /^admin\.allowedOrigins\[0\]: expected an origin/);
    assert.match(issues({ admin: { allowedOrigins: ['https://ui.example/app'] } })[0]!, /^admin\.allowedOrigins\[0\]: expected an origin/);
    const ok = validateConfig({ admin: { allowedHosts: ['a.example', 'b.example:8080', '[::1]:1', '*'], allowedOrigins: ['https://ui.example/', '*'] } }, framers, { env: {} });
    assert.ok(ok.ok);
    assert.deepEqual(ok.config.admin!.allowedOrigins, ['https://ui.example', '*']);
  });
});

test('docs: configuration.md has a row for every admin key of the schema; security.md is linked from README and admin-api.md', async () => {
  const { readFileSync } = await import('node:fs');
  const { adminSchema } = await import('../../src/config/admin-schema.js');
  const keys = Object.keys((adminSchema({}) as unknown as { in: { shape: Record<string, unknown> } }).in.shape);
  assert.ok(keys.includes('tokenFile') && keys.includes('insecure'));
  const config = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const section = config.slice(config.indexOf('### admin'), config.indexOf('### log'));
  for (const k of keys) assert.ok(section.includes(`| \`${k}\` |`), `docs/configuration.md#admin has a row for ${k}`);
  const security = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
  for (const topic of ['CSRF', 'DNS rebinding', '/proc/PID/cmdline', 'allowedHosts', 'allowedOrigins', 'insecure', 'tokenFile', 'SWITCHYARD_CHAOS_TOKEN', 'SWITCHYARD_TOXIPROXY_TOKEN']) {
    assert.ok(security.includes(topic), `docs/security.md covers ${topic}`);
  }
  assert.ok(readFileSync(new URL('../../README.md', import.meta.url), 'utf8').includes('(docs/security.md)'));
  assert.ok(readFileSync(new URL('../../docs/admin-api.md', import.meta.url), 'utf8').includes('(security.md)'));
});
