import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnCli, runCli } from '../helpers/cli.js';
import { eventually, freePort, startEchoServer } from '../helpers/net.js';

/** No token from the environment of whoever runs the tests. */
const NO_TOKENS = { SWITCHYARD_ADMIN_TOKEN: '', SWITCHYARD_TOXIPROXY_TOKEN: '', SWITCHYARD_CHAOS_TOKEN: '' };

describe('a control API on a non-loopback address without a token refuses to start (exit 1)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'swy-sec-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('proxy --admin 0.0.0.0:P names --admin and the flags that fix it; nothing is bound', async () => {
    const port = await freePort();
    const r = await runCli(['proxy', '--listen', `127.0.0.1:${port}`, '--upstream', '127.0.0.1:1', '--admin', '0.0.0.0:0'], NO_TOKENS);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--admin: 0\.0\.0\.0:0 is not a loopback address and no token is set.*--admin-token-file.*SWITCHYARD_ADMIN_TOKEN.*--admin-insecure/);
    assert.equal(r.stdout, '');
  });

  test('toxiproxy --host 0.0.0.0 names toxiproxy --host', async () => {
    const r = await runCli(['toxiproxy', '--host', '0.0.0.0', '--port', '0'], NO_TOKENS);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /toxiproxy --host: 0\.0\.0\.0:0 is not a loopback address.*--token-file.*SWITCHYARD_TOXIPROXY_TOKEN.*--insecure/);
  });

  test('chaos --http 0.0.0.0:P names chaos --http', async () => {
    const r = await runCli(['chaos', '--proxy', '127.0.0.1:0', '--backend', '127.0.0.1:1', '--http', '0.0.0.0:0'], NO_TOKENS);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /chaos --http: 0\.0\.0\.0:0 is not a loopback address.*--http-token-file.*SWITCHYARD_CHAOS_TOKEN.*--http-insecure/);
    const pair = await runCli(['chaos', '--proxy', '127.0.0.1:0', '--backend', '127.0.0.1:1', '--http-host', '::', '--http-port', '0'], NO_TOKENS);
    assert.equal(pair.code, 1, pair.stderr);
    assert.match(pair.stderr, /chaos --http: \[::\]:0 is not a loopback address/);
  });

  test('--admin-insecure, --insecure, --http-insecure let it start (shown with 192.0.2.1, on no interface: the bind itself fails)', async () => {
    const runs: Array<[string[], RegExp]> = [
      [['proxy', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:1', '--admin', '192.0.2.1:0', '--admin-insecure'], /EADDRNOTAVAIL/],
      [['toxiproxy', '--host', '192.0.2.1', '--port', '0', '--insecure'], /EADDRNOTAVAIL/],
      [['chaos', '--proxy', '127.0.0.1:0', '--backend', '127.0.0.1:1', '--http', '192.0.2.1:0', '--http-insecure'], /EADDRNOTAVAIL/],
    ];
    for (const [args, error] of runs) {
      const r = await runCli([...args, '--log-level', 'silent'], NO_TOKENS);
      assert.equal(r.code, 1, `${args[0]!}: ${r.stderr}`);
      assert.match(r.stderr, error, args[0]);
      assert.doesNotMatch(r.stderr, /not a loopback address/, args[0]);
    }
  });

  test('run and validate: admin.listen / toxiproxy.listen on 0.0.0.0 is a config issue naming the key', async () => {
    const file = path.join(dir, 'exposed.yaml');
    writeFileSync(file, 'admin:\n  listen: 0.0.0.0:0\ntoxiproxy:\n  listen: "[::]:0"\n');
    for (const cmd of ['validate', 'run']) {
      const r = await runCli([cmd, '-c', file], NO_TOKENS);
      assert.equal(r.code, 1, `${cmd}: ${r.stderr}`);
      assert.match(r.stderr, /admin\.listen: 0\.0\.0\.0:0 is not a loopback address.*admin\.insecure: true/);
      assert.match(r.stderr, /toxiproxy\.listen: \[::\]:0 is not a loopback address.*toxiproxy\.insecure: true/);
    }
    const marked = path.join(dir, 'marked.yaml');
    writeFileSync(marked, 'admin:\n  listen: 0.0.0.0:0\n  insecure: true\n');
    const ok = await runCli(['validate', '-c', marked], NO_TOKENS);
    assert.equal(ok.code, 0, ok.stderr);
    const withEnv = await runCli(['validate', '-c', file], { ...NO_TOKENS, SWITCHYARD_ADMIN_TOKEN: 'a', SWITCHYARD_TOXIPROXY_TOKEN: 't' });
    assert.equal(withEnv.code, 0, withEnv.stderr);
  });
});

describe('tokens from a file or the environment on the CLI (not on the command line)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'swy-tok-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function status(url: string, token?: string): Promise<number> {
    const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    await res.arrayBuffer();
    return res.status;
  }

  test('proxy --admin-token-file', async (t) => {
    const file = path.join(dir, 'admin');
    writeFileSync(file, 'proxy-admin-token\n');
    const upstream = await startEchoServer();
    t.after(() => upstream.close());
    const p = spawnCli(['proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upstream.port}`, '--admin', '127.0.0.1:0', '--admin-token-file', file, '--log-level', 'warn'], NO_TOKENS);
    t.after(() => p.kill('SIGKILL'));
    const [, url] = await p.waitFor(/admin (http:\/\/\S+)/);
    assert.equal(await status(`${url!}/healthz`), 401);
    assert.equal(await status(`${url!}/healthz`, 'proxy-admin-token'), 200);
    assert.ok(!p.stdout().includes('proxy-admin-token') && !p.stderr().includes('proxy-admin-token'), 'the token is never printed');
  });

  test('nvariant --admin-token-file; --admin on 0.0.0.0 without a token refuses to start', async (t) => {
    const refused = await runCli(['nvariant', '--listen', '127.0.0.1:0', '--variant', '127.0.0.1:1', '--variant', '127.0.0.1:2', '--admin', '0.0.0.0:0'], NO_TOKENS);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /--admin: 0\.0\.0\.0:0 is not a loopback address and no token is set.*--admin-token-file/);
    const file = path.join(dir, 'nvariant');
    writeFileSync(file, 'nvariant-admin-token\n');
    const p = spawnCli(['nvariant', '--listen', '127.0.0.1:0', '--variant', '127.0.0.1:1', '--variant', '127.0.0.1:2', '--admin', '127.0.0.1:0', '--admin-token-file', file], NO_TOKENS);
    t.after(() => p.kill('SIGKILL'));
    const [, url] = await p.waitFor(/admin (http:\/\/\S+)/);
    assert.equal(await status(`${url!}/api/v1/divergences`), 401);
    assert.equal(await status(`${url!}/api/v1/divergences`, 'nvariant-admin-token'), 200);
  });

  test('toxiproxy: SWITCHYARD_TOXIPROXY_TOKEN and --token-file', async (t) => {
    const env = spawnCli(['toxiproxy', '--port', '0', '--log-level', 'warn'], { ...NO_TOKENS, SWITCHYARD_TOXIPROXY_TOKEN: 'tp-env' });
    t.after(() => env.kill('SIGKILL'));
    const [, envUrl] = await env.waitFor(/API on (http:\/\/\S+)/);
    assert.equal(await status(`${envUrl!}/proxies`), 401);
    assert.equal(await status(`${envUrl!}/proxies`, 'tp-env'), 200);
    const file = path.join(dir, 'tp');
    writeFileSync(file, 'tp-file');
    const fromFile = spawnCli(['toxiproxy', '--port', '0', '--token-file', file, '--log-level', 'warn'], NO_TOKENS);
    t.after(() => fromFile.kill('SIGKILL'));
    const [, fileUrl] = await fromFile.waitFor(/API on (http:\/\/\S+)/);
    assert.equal(await status(`${fileUrl!}/proxies`, 'tp-env'), 401);
    assert.equal(await status(`${fileUrl!}/proxies`, 'tp-file'), 200);
  });

  test('chaos --http-token-file; every mutation is logged with the remote address', async (t) => {
    const file = path.join(dir, 'chaos');
    writeFileSync(file, 'chaos-file\n');
    const p = spawnCli(['chaos', '--proxy', '127.0.0.1:0', '--backend', '127.0.0.1:1', '--http', '127.0.0.1:0', '--http-token-file', file, '--log-level', 'info'], { ...NO_TOKENS, SWITCHYARD_CHAOS_TOKEN: 'not-this-one' });
    t.after(() => p.kill('SIGKILL'));
    const [, url] = await p.waitFor(/control API (http:\/\/\S+)/);
    const put = (token?: string): Promise<Response> =>
      fetch(`${url!}/behavior`, { method: 'PUT', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: '{"name":"dummy"}' });
    assert.equal((await put('not-this-one')).status, 401, 'the file wins over the environment');
    assert.equal((await put('chaos-file')).status, 200);
    await eventually(() => /"method":"PUT","path":"\/behavior","status":200/.test(p.stderr()), 'the PUT is logged');
    assert.match(p.stderr(), /"api":"chaos control API","remote":"127\.0\.0\.1:\d+","method":"PUT","path":"\/behavior","status":200/);
    assert.match(p.stderr(), /"remote":"127\.0\.0\.1:\d+","method":"PUT","path":"\/behavior","status":401/);
  });
});
