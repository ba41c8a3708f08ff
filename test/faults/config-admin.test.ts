import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, validateConfig } from '../../src/runtime/config.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { Switchyard } from '../../src/runtime/switchyard.js';
import { AdminServer } from '../../src/admin/server.js';
import { LOOPBACK } from '../helpers/admin.js';
import { connect, readAll, startEchoServer } from '../helpers/net.js';

function issues(raw: unknown): { path: string; message: string }[] {
  const r = validateConfig(raw, createFramerRegistry(), { env: {} });
  return r.ok ? [] : r.errors.map((e) => ({ path: e.path, message: e.message }));
}

const base = (listener: Record<string, unknown>): Record<string, unknown> => ({
  listeners: [{ id: 'l1', listen: '127.0.0.1:0', ...listener }],
  clusters: [{ id: 'c1', endpoints: ['127.0.0.1:1'] }],
  routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
});

test('fault config errors name the exact path and what was expected', () => {
  const found = issues(
    base({
      protocol: 'htp',
      faults: [
        { type: 'latency', attributes: { latency: 'slow' } },
        { type: 'latncy' },
        { type: 'bandwidth', attributes: { rat: 10 } },
        { type: 'error', stream: 'sideways' },
        { type: 'delay', toxicity: 2 },
        { type: 'slow_close' },
        { type: 'slow_close' },
      ],
    }),
  );
  const at = (path: string): string => found.find((i) => i.path === path)?.message ?? `(no issue at ${path}: ${JSON.stringify(found)})`;
  assert.match(at('listeners[0].protocol'), /unknown protocol "htp".*did you mean "http"/);
  assert.match(at('listeners[0].faults[0].attributes.latency'), /number/);
  assert.match(at('listeners[0].faults[1].type'), /unknown fault type "latncy".*did you mean "latency"/);
  assert.match(at('listeners[0].faults[2].attributes.rat'), /unknown attribute of bandwidth.*did you mean "rate"/);
  assert.match(at('listeners[0].faults[3].stream'), /upstream.*downstream/);
  assert.match(at('listeners[0].faults[4].toxicity'), /1/);
  assert.match(at('listeners[0].faults[6].name'), /duplicate fault name "slow_close_downstream" \(also faults\[5\]/);
});

test('a valid fault config gets defaults filled in', () => {
  const r = validateConfig(base({ protocol: { type: 'redis' }, faults: [{ type: 'error', match: { command: 'GET' } }] }), createFramerRegistry(), { env: {} });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const l = r.config.listeners[0]!;
  assert.equal(l.protocol?.type, 'redis');
  assert.deepEqual(l.faults?.[0], { type: 'error', name: 'error_upstream', stream: 'upstream', match: { command: 'GET' } });
  const h = validateConfig(base({ protocol: { type: 'redis' }, faults: [{ type: 'error', handshake: true }, { type: 'delay', handshake: 1 }] }), createFramerRegistry(), { env: {} });
  assert.ok(!h.ok);
  assert.deepEqual(h.errors.map((e) => e.path), ['listeners[0].faults[1].handshake']);
  assert.match(h.errors[0]!.message, /expected true or false, got 1/);
});

test('admin API: faults as run-time objects on a listener, fault types, protocols, metrics', async () => {
  const echo = await startEchoServer();
  const yard = await Switchyard.start(
    (validateConfig({ ...base({ faults: [] }), clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${echo.port}`] }] }, createFramerRegistry(), { env: {} }) as { ok: true; config: never }).config,
    { defaultMetrics: false },
  );
  const admin = await AdminServer.start(yard, { listen: LOOPBACK });
  const api = (path: string, init?: RequestInit): Promise<Response> => fetch(`${admin.url}${path}`, init);
  const json = (body: unknown, method = 'POST'): RequestInit => ({ method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  try {
    let res = await api('/api/v1/listeners/l1/faults', json({ type: 'latency', attributes: { latency: 5 } }));
    assert.equal(res.status, 201);
    assert.deepEqual(await res.json(), { name: 'latency_downstream', type: 'latency', stream: 'downstream', toxicity: 1, scope: 'connection', attributes: { latency: 5, jitter: 0 }, injected: 0, reaches: { connections: 0, reached: 0 } });
    res = await api('/api/v1/listeners/l1/faults', json({ type: 'latency' }));
    assert.equal(res.status, 409);
    res = await api('/api/v1/listeners/l1/faults', json({ type: 'nope' }));
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /invalid fault type 'nope'/);
    res = await api('/api/v1/listeners/l1/faults/latency_downstream', json({ attributes: { jitter: 2 }, toxicity: 0.5 }, 'PATCH'));
    assert.equal(res.status, 200);
    const updated = (await res.json()) as { attributes: Record<string, number>; toxicity: number };
    assert.deepEqual(updated.attributes, { latency: 5, jitter: 2 });
    assert.equal(updated.toxicity, 0.5);
    res = await api('/api/v1/listeners/l1/faults/latency_downstream', json({ attributes: { latency: 'x' } }, 'PATCH'));
    assert.equal(res.status, 400);
    // Traffic through the fault counts in the metric.
    yard.faultSet('l1').update('latency_downstream', { toxicity: 1 });
    const s = await connect((yard.listeners.get('l1')!.address as { port: number }).port);
    s.end('hello');
    assert.equal((await readAll(s)).toString(), 'hello');
    const metrics = await (await api('/metrics')).text();
    assert.match(metrics, /switchyard_faults_injected_total\{listener="l1",fault="latency_downstream",type="latency",stream="downstream"\} [1-9]/);
    const list = (await (await api('/api/v1/listeners/l1/faults')).json()) as unknown[];
    assert.equal(list.length, 1);
    const listener = (await (await api('/api/v1/listeners/l1')).json()) as { faults: unknown[]; down: boolean };
    assert.equal(listener.faults.length, 1);
    assert.equal(listener.down, false);
    res = await api('/api/v1/listeners/l1/faults/latency_downstream', { method: 'DELETE' });
    assert.equal(res.status, 200);
    res = await api('/api/v1/listeners/l1/faults/latency_downstream');
    assert.equal(res.status, 404);
    res = await api('/api/v1/listeners/nope/faults');
    assert.equal(res.status, 404);
    const types = (await (await api('/api/v1/faults/types')).json()) as { type: string; options: Record<string, { default: unknown; description: string }> }[];
    const latency = types.find((t) => t.type === 'latency')!;
    assert.equal(latency.options['latency']!.default, 0);
    assert.ok(latency.options['jitter']!.description.length > 0);
    for (const t of ['latency', 'bandwidth', 'slow_close', 'timeout', 'reset_peer', 'slicer', 'limit_data', 'down', 'dummy', 'delay', 'error', 'hang', 'blackout', 'transient', 'abort', 'drop', 'corrupt', 'duplicate']) {
      assert.ok(types.some((x) => x.type === t), `fault type ${t} listed`);
    }
    const protocols = (await (await api('/api/v1/protocols')).json()) as { name: string; setup: string[] }[];
    assert.deepEqual(protocols.map((p) => p.name).sort(), ['http', 'memcache', 'mysql', 'postgres', 'redis', 'smtp', 'tcp']);
    // Each module's connection setup list (what request-scope faults skip unless `handshake: true`).
    assert.ok(protocols.find((p) => p.name === 'redis')!.setup.includes('HELLO'));
    assert.deepEqual(protocols.find((p) => p.name === 'http')!.setup, []);
    // `handshake` round-trips: shown only when true, replaced by PATCH, a non-boolean refused naming the key.
    res = await api('/api/v1/listeners/l1/faults', json({ type: 'error', handshake: true }));
    assert.equal(res.status, 201);
    assert.equal(((await res.json()) as { handshake?: boolean }).handshake, true);
    res = await api('/api/v1/listeners/l1/faults/error_upstream', json({ handshake: false }, 'PATCH'));
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { handshake?: boolean }).handshake, undefined);
    assert.equal(yard.faultSet('l1').get('error_upstream')!.handshake, false);
    res = await api('/api/v1/listeners/l1/faults', json({ type: 'delay', handshake: 'yes' }));
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /handshake: expected true or false, got "yes"/);
  } finally {
    await admin.close();
    await yard.close();
    await echo.close();
  }
});

test('a custom fault plugin loaded from a module named in the config', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swy-plugin-'));
  writeFileSync(
    join(dir, 'shout.mjs'),
    `export default {
      type: 'shout_test',
      description: 'Upper-case ASCII text.',
      defaultStream: 'downstream',
      options: { suffix: { description: 'Appended to each frame.', type: 'string', default: '' } },
      create(options) {
        return { chunk(chunk, io) { io.injected(); return io.push({ ...chunk, data: Buffer.from(chunk.data.toString('latin1').toUpperCase() + options.suffix, 'latin1') }); } };
      },
    };\n`,
  );
  const echo = await startEchoServer();
  writeFileSync(
    join(dir, 'config.yaml'),
    `plugins:
  faults: [./shout.mjs]
listeners:
  - id: l1
    listen: 127.0.0.1:0
    faults:
      - type: shout_test
        attributes: { suffix: "!" }
clusters:
  - id: c1
    endpoints: ["127.0.0.1:${echo.port}"]
routes:
  - { id: r1, listener: l1, cluster: c1 }
`,
  );
  writeFileSync(join(dir, 'bad.yaml'), `plugins:\n  faults: [./missing.mjs]\n`);
  try {
    await assert.rejects(loadConfigFile(join(dir, 'bad.yaml'), createFramerRegistry()), /plugins\.faults\[0\]: cannot load "\.\/missing\.mjs"/);
    const config = await loadConfigFile(join(dir, 'config.yaml'), createFramerRegistry());
    const yard = await Switchyard.start(config, { defaultMetrics: false });
    try {
      const s = await connect((yard.listeners.get('l1')!.address as { port: number }).port);
      s.end('hello');
      assert.equal((await readAll(s)).toString(), 'HELLO!');
    } finally {
      await yard.close();
    }
  } finally {
    await echo.close();
  }
});

test('docs/faults.md documents every built-in fault type and attribute', async () => {
  const { readFileSync } = await import('node:fs');
  const { createFaultRegistry } = await import('../../src/faults/builtins.js');
  const doc = readFileSync(new URL('../../docs/faults.md', import.meta.url), 'utf8');
  for (const p of createFaultRegistry().plugins()) {
    assert.ok(doc.includes(`### \`${p.type}\``), `docs/faults.md has a section for ${p.type}`);
    for (const o of Object.keys(p.options)) assert.ok(doc.includes(`| \`${o}\` |`), `docs/faults.md lists ${p.type}.${o}`);
  }
});

test('the custom fault example in docs/faults.md works as documented', async () => {
  const { readFileSync } = await import('node:fs');
  const http = await import('node:http');
  const doc = readFileSync(new URL('../../docs/faults.md', import.meta.url), 'utf8');
  const js = /```js\n([\s\S]*?)```/.exec(doc)![1]!;
  const yaml = /```yaml\n(plugins:[\s\S]*?)```/.exec(doc)![1]!;
  const dir = mkdtempSync(join(tmpdir(), 'swy-doc-plugin-'));
  writeFileSync(join(dir, 'slow-headers.mjs'), js);
  const server = http.createServer((_req, res) => res.end('hello from upstream'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  writeFileSync(
    join(dir, 'config.yaml'),
    yaml.replace('127.0.0.1:8080', '127.0.0.1:0') + `clusters:\n  - id: app\n    endpoints: ["127.0.0.1:${port}"]\nroutes:\n  - { id: r, listener: web, cluster: app }\n`,
  );
  const yard = await Switchyard.start(await loadConfigFile(join(dir, 'config.yaml'), createFramerRegistry()), { defaultMetrics: false });
  try {
    const t0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${(yard.listeners.get('web')!.address as { port: number }).port}/`);
    assert.equal(await res.text(), 'hello from upstream');
    assert.ok(performance.now() - t0 >= 240, 'the first byte was held for `pause` ms');
    assert.ok(yard.faultSet('web').get('slow_first_byte_downstream')!.injected >= 1);
  } finally {
    await yard.close();
    server.close();
  }
});
