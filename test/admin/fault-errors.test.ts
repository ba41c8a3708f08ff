/**
 * The admin API's fault bodies are checked in one pass, like the config loader: a POST or PATCH with several problems
 * (wrapper fields and attributes) answers one 400 listing them all with their paths; and an update that would make
 * an exclusive group's shares add up to more than 1 is refused, through the native API and the Toxiproxy API alike,
 * leaving the fault as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdminServer } from '../../src/admin/server.js';
import { LOOPBACK } from '../helpers/admin.js';
import { startEchoServer } from '../helpers/net.js';
import { startYard } from '../helpers/yard.js';
import { call, startApi } from '../compat/toxiproxy-helpers.js';

interface ErrorBody {
  error: { code: string; message: string; issues?: { path: string; message: string }[] };
}

async function withAdmin(protocol: string | undefined, fn: (api: (path: string, body?: unknown, method?: string) => Promise<Response>) => Promise<void>): Promise<void> {
  const echo = await startEchoServer();
  const yard = await startYard({
    listeners: [{ id: 'l1', listen: '127.0.0.1:0', ...(protocol ? { protocol } : {}) }],
    clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${echo.port}`] }],
    routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
  });
  const admin = await AdminServer.start(yard, { listen: LOOPBACK });
  try {
    await fn((path, body, method = body === undefined ? 'GET' : 'POST') =>
      fetch(`${admin.url}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) }),
    );
  } finally {
    await admin.close();
    await yard.close();
    await echo.close();
  }
}

function issueAt(body: ErrorBody, path: string): string {
  const found = body.error.issues?.find((i) => i.path === path);
  assert.ok(found, `an issue at ${path} in ${JSON.stringify(body.error.issues)}`);
  return found.message;
}

test('POST a fault with a bad stream, a bad toxicity and a bad attribute: one 400 lists all three', async () => {
  await withAdmin(undefined, async (api) => {
    const res = await api('/api/v1/listeners/l1/faults', { type: 'latency', stream: 'sideways', toxicity: 2, attributes: { latency: 'slow' } });
    assert.equal(res.status, 400);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.error.code, 'SWY_BAD_REQUEST');
    assert.equal(body.error.issues?.length, 3, JSON.stringify(body.error.issues));
    assert.match(issueAt(body, 'stream'), /expected "upstream" or "downstream", got "sideways"/);
    assert.match(issueAt(body, 'toxicity'), /got 2/);
    assert.match(issueAt(body, 'attributes.latency'), /expected a whole number .* got "slow"/);
    for (const path of ['stream:', 'toxicity:', 'attributes.latency:']) assert.ok(body.error.message.includes(path), `message names ${path}: ${body.error.message}`);
    assert.equal(((await (await api('/api/v1/listeners/l1/faults')).json()) as unknown[]).length, 0, 'nothing was added');
  });
});

test('POST a fault with a misspelt type, an unknown field and a bad name: all three, with did-you-means', async () => {
  await withAdmin(undefined, async (api) => {
    const res = await api('/api/v1/listeners/l1/faults', { type: 'latncy', name: 'a b', toxcity: 0.5 });
    assert.equal(res.status, 400);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.error.issues?.length, 3, JSON.stringify(body.error.issues));
    assert.match(issueAt(body, 'type'), /invalid fault type 'latncy' \(did you mean "latency"\?\)/);
    assert.match(issueAt(body, 'toxcity'), /unknown field \(did you mean "toxicity"\?\)/);
    assert.match(issueAt(body, 'name'), /no slashes or spaces/);
  });
});

test('POST a fault with unknown attributes and an unknown match key on a protocol listener: every one listed', async () => {
  await withAdmin('http', async (api) => {
    const res = await api('/api/v1/listeners/l1/faults', { type: 'bandwidth', attributes: { rat: 10, burst: -1 }, match: { pth: '/x' } });
    assert.equal(res.status, 400);
    const body = (await res.json()) as ErrorBody;
    assert.match(issueAt(body, 'attributes.rat'), /unknown attribute of bandwidth \(did you mean "rate"\?\)/);
    assert.match(issueAt(body, 'match.pth'), /unknown match key "pth" \(did you mean "path"\?\)/);
    assert.ok((body.error.issues?.length ?? 0) >= 2);
  });
});

test('PATCH a fault with a bad toxicity, a bad attribute and an unknown field: one 400 lists all three; the fault is unchanged', async () => {
  await withAdmin(undefined, async (api) => {
    assert.equal((await api('/api/v1/listeners/l1/faults', { type: 'latency', attributes: { latency: 5 } })).status, 201);
    const res = await api('/api/v1/listeners/l1/faults/latency_downstream', { toxicity: -1, attributes: { jitter: 'lots' }, stream: 'upstream' }, 'PATCH');
    assert.equal(res.status, 400);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.error.issues?.length, 3, JSON.stringify(body.error.issues));
    issueAt(body, 'toxicity');
    assert.match(issueAt(body, 'attributes.jitter'), /got "lots"/);
    assert.match(issueAt(body, 'stream'), /unknown field/);
    const fault = (await (await api('/api/v1/listeners/l1/faults/latency_downstream')).json()) as { toxicity: number; attributes: Record<string, number> };
    assert.equal(fault.toxicity, 1);
    assert.deepEqual(fault.attributes, { latency: 5, jitter: 0 });
  });
});

test('group shares are re-checked on update: 0.5 + 0.4, then 0.7 → 400 naming the group and the sum; the fault keeps 0.4', async () => {
  await withAdmin('redis', async (api) => {
    assert.equal((await api('/api/v1/listeners/l1/faults', { name: 'a', type: 'delay', group: 'mix', toxicity: 0.5 })).status, 201);
    assert.equal((await api('/api/v1/listeners/l1/faults', { name: 'b', type: 'error', group: 'mix', toxicity: 0.4 })).status, 201);
    const res = await api('/api/v1/listeners/l1/faults/b', { toxicity: 0.7 }, 'PATCH');
    assert.equal(res.status, 400);
    const body = (await res.json()) as ErrorBody;
    assert.match(body.error.message, /group 'mix' on upstream would add up to 1\.2, more than 1 \(a 0\.5, and 0\.7 for b here\)/);
    issueAt(body, 'toxicity');
    const b = (await (await api('/api/v1/listeners/l1/faults/b')).json()) as { toxicity: number };
    assert.equal(b.toxicity, 0.4);
    // Within the limit it is taken; a share moved down first lets another go up.
    assert.equal((await api('/api/v1/listeners/l1/faults/b', { toxicity: 0.5 }, 'PATCH')).status, 200);
    assert.equal((await api('/api/v1/listeners/l1/faults/a', { toxicity: '20%' }, 'PATCH')).status, 200);
    assert.equal((await api('/api/v1/listeners/l1/faults/b', { toxicity: 0.8 }, 'PATCH')).status, 200);
  });
});

test('Toxiproxy API: a toxic update that makes a group total over 1 is a 400, and the toxic is unchanged', async () => {
  const h = await startApi();
  try {
    const r = await call(`${h.url}/proxies`, 'POST', { name: 'p', upstream: '127.0.0.1:9' });
    assert.equal(r.status, 201, r.text);
    // Groups come from the native API or the config; the Toxiproxy API updates those toxics like any other.
    const set = h.yard.faultSet('p');
    set.add({ name: 'slow', type: 'latency', stream: 'downstream', group: 'g', toxicity: 0.5 });
    set.add({ name: 'cut', type: 'limit_data', stream: 'downstream', group: 'g', toxicity: 0.4 });
    const res = await call(`${h.url}/proxies/p/toxics/cut`, 'POST', { toxicity: 0.7 });
    assert.equal(res.status, 400, res.text);
    assert.match(res.text, /group 'g' on downstream would add up to 1\.2/);
    assert.equal(set.get('cut')!.toxicity, 0.4);
    assert.equal((await call(`${h.url}/proxies/p/toxics/cut`, 'POST', { toxicity: 0.5 })).status, 200);
  } finally {
    await h.close();
  }
});
