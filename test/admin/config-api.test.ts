/**
 * GET/PUT /api/v1/config against a real in-process Switchyard and admin API: dry run, apply, invalid bodies with
 * their paths, content types, the token.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { AdminServer } from '../../src/admin/server.js';
import { startYard } from '../helpers/yard.js';
import { rawRequest } from '../helpers/http-raw.js';
import { connect, readAll, startLineServer } from '../helpers/net.js';
import { LOOPBACK } from '../helpers/admin.js';

const TOKEN = 'reload-token-123';

interface PlanReply {
  result: string;
  changes: string[];
  applied: string[];
  plan: { listeners: { added: string[]; removed: string[]; unchanged: string[] }; empty: boolean };
  error?: { code: string; message: string; issues?: Array<{ path: string; message: string }> };
}

async function setup(t: { after(fn: () => unknown): void }, token?: string) {
  const upper = await startLineServer((l) => l.toUpperCase());
  t.after(() => upper.close());
  const yard = await startYard({
    listeners: [{ id: 'web', listen: '127.0.0.1:0', framing: { type: 'line', stripDelimiter: false } }],
    clusters: [{ id: 'app', endpoints: [`127.0.0.1:${upper.port}`] }],
    routes: [{ id: 'web', listener: 'web', cluster: 'app' }],
  });
  t.after(() => yard.close());
  const admin = await AdminServer.start(yard, { listen: LOOPBACK, token });
  t.after(() => admin.close());
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const put = async (body: string, contentType: string | undefined, query = '', headers = auth) => {
    const r = await rawRequest(admin.url, 'PUT', `/api/v1/config${query}`, { ...headers, ...(contentType ? { 'content-type': contentType } : {}) }, body);
    return { status: r.status, body: JSON.parse(r.text) as PlanReply };
  };
  return { upper, yard, admin, auth, put };
}

function yamlWith(upperPort: number, extra: boolean): string {
  return [
    'listeners:',
    '  - id: web',
    '    listen: 127.0.0.1:0',
    '    framing: { type: line, stripDelimiter: false }',
    ...(extra ? ['  - id: api', '    listen: 127.0.0.1:0', '    framing: { type: line, stripDelimiter: false }'] : []),
    'clusters:',
    `  - { id: app, endpoints: ["127.0.0.1:${upperPort}"] }`,
    'routes:',
    '  - { id: web, listener: web, cluster: app }',
    ...(extra ? ['  - { id: api, listener: api, cluster: app }'] : []),
    '',
  ].join('\n');
}

describe('admin API: /api/v1/config', () => {
  test('GET shows the running config; PUT ?dryRun=true plans without applying; PUT applies; the counter follows', async (t) => {
    const { upper, yard, admin, put } = await setup(t);
    const got = (await (await fetch(`${admin.url}/api/v1/config`)).json()) as { listeners: Array<{ id: string; listen: string }>; routes: unknown[] };
    assert.deepEqual(got.listeners.map((l) => [l.id, l.listen]), [['web', '127.0.0.1:0']]);

    const dry = await put(yamlWith(upper.port, true), 'application/yaml', '?dryRun=true');
    assert.equal(dry.status, 200);
    assert.equal(dry.body.result, 'dry-run');
    assert.deepEqual(dry.body.plan.listeners.added, ['api']);
    assert.deepEqual(dry.body.plan.listeners.unchanged, ['web']);
    assert.equal(yard.listeners.has('api'), false, 'a dry run applies nothing');

    const applied = await put(yamlWith(upper.port, true), 'text/yaml');
    assert.equal(applied.status, 200);
    assert.equal(applied.body.result, 'applied');
    assert.ok(applied.body.applied.includes('listener api: add'), applied.body.applied.join('\n'));
    const api = yard.listeners.get('api')!.address as { port: number };
    const s = await connect(api.port);
    s.end('via api\n');
    assert.equal((await readAll(s)).toString(), 'VIA API\n');
    const metrics = await (await fetch(`${admin.url}/metrics`)).text();
    assert.match(metrics, /^switchyard_config_reloads_total\{result="applied"\} 1$/m);

    // What GET returns, PUT back as JSON (no content type: sniffed), changes nothing.
    const current = await (await fetch(`${admin.url}/api/v1/config`)).text();
    const back = await put(current, undefined);
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.equal(back.body.plan.empty, true, back.body.changes.join('\n'));
  });

  test('an invalid config is refused with every issue and its path, counted, and nothing changes', async (t) => {
    const { upper, yard, admin, put } = await setup(t);
    const bad = yamlWith(upper.port, true).replace('  - id: api\n    listen: 127.0.0.1:0', '  - id: api\n    listen: 127.0.0.1:99999\n    idleTimout: 5s');
    const r = await put(bad, 'application/yaml');
    assert.equal(r.status, 400);
    assert.equal(r.body.error?.code, 'SWY_CONFIG_INVALID');
    const paths = (r.body.error?.issues ?? []).map((i) => i.path);
    assert.ok(paths.includes('listeners[1].listen'), paths.join());
    assert.ok(paths.includes('listeners[1].idleTimout'), paths.join());
    assert.equal(yard.listeners.has('api'), false);
    assert.equal(yard.reloads.rejected, 1);
    const metrics = await (await fetch(`${admin.url}/metrics`)).text();
    assert.match(metrics, /^switchyard_config_reloads_total\{result="rejected"\} 1$/m);
    // A dry run of an invalid config answers the same, but is no reload: not counted.
    assert.equal((await put(bad, 'application/yaml', '?dryRun=true')).status, 400);
    assert.equal(yard.reloads.rejected, 1);
    // Bad query and bad content types are named.
    assert.equal((await put(yamlWith(upper.port, false), 'application/yaml', '?dryRun=maybe')).status, 400);
    const plain = await rawRequest(admin.url, 'PUT', '/api/v1/config', { 'content-type': 'text/plain' }, 'x: 1');
    assert.equal(plain.status, 415);
    assert.match(plain.text, /application\/yaml/);
    // YAML is admitted on this route only.
    const other = await rawRequest(admin.url, 'POST', '/api/v1/clusters', { 'content-type': 'application/yaml' }, 'id: x');
    assert.equal(other.status, 415);
  });

  test('with a token: GET and PUT need it', async (t) => {
    const { upper, yard, admin, put } = await setup(t, TOKEN);
    assert.equal((await fetch(`${admin.url}/api/v1/config`)).status, 401);
    const without = await put(yamlWith(upper.port, true), 'application/yaml', '', {});
    assert.equal(without.status, 401);
    assert.equal(yard.listeners.has('api'), false);
    const withToken = await put(yamlWith(upper.port, true), 'application/yaml');
    assert.equal(withToken.status, 200);
    assert.equal(yard.listeners.has('api'), true);
    const got = await fetch(`${admin.url}/api/v1/config`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(got.status, 200);
  });
});
