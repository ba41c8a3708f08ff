/**
 * Prometheus metrics (src/runtime/metrics.ts), scraped through the admin API's GET /metrics after real
 * loopback TCP traffic through an in-process Switchyard. The text is parsed, not pattern-matched loosely.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AdminServer } from '../../src/admin/server.js';
import { Switchyard } from '../../src/runtime/switchyard.js';
import { createMetricsRegistry } from '../../src/runtime/metrics.js';
import { spliceInfo } from '../../src/net/splice.js';
import { TrafficStats } from '../../src/core/stats.js';
import { startEchoServer, connect, readAll, closeOutcome, freePort, eventually, type TestServer } from '../helpers/net.js';
import { startProxy, startYard } from '../helpers/yard.js';
import { startAdminStack, stopAdminStack, LOOPBACK, type AdminStack } from '../helpers/admin.js';

// ---------------------------------------------------------------------------------------------------------------
// Helpers

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Scrape {
  samples: Sample[];
  /** `# TYPE name type` lines. */
  types: Map<string, string>;
  help: Map<string, string>;
}

/** Parse the Prometheus text exposition format (0.0.4). */
function parseMetrics(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      (meta[1] === 'TYPE' ? types : help).set(meta[2]!, meta[3]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    assert.ok(m, `unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
      let lm: RegExpExecArray | null;
      while ((lm = re.exec(m[2])) !== null) labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types, help };
}

/** The samples of `name` whose labels include `labels`. */
function find(scrape: Scrape, name: string, labels: Record<string, string> = {}): Sample[] {
  return scrape.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The one value of `name{labels}`; undefined when absent, an assertion error when ambiguous. */
function value(scrape: Scrape, name: string, labels: Record<string, string>): number | undefined {
  const found = find(scrape, name, labels);
  assert.ok(found.length <= 1, `${name}${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

async function scrape(admin: AdminServer): Promise<Scrape & { contentType: string }> {
  const res = await fetch(`${admin.url}/metrics`);
  assert.equal(res.status, 200);
  return { ...parseMetrics(await res.text()), contentType: res.headers.get('content-type') ?? '' };
}

const KINDS = [
  ['listener', 'l1'],
  ['route', 'r1'],
  ['cluster', 'c1'],
] as const;

// ---------------------------------------------------------------------------------------------------------------

describe('GET /metrics after real traffic', () => {
  let stack: AdminStack;
  let echo: TestServer;
  let yard: Switchyard;
  let port: number;
  let admin: AdminServer;

  before(async () => {
    stack = await startAdminStack();
    ({ echo, yard, port, admin } = stack);
  });
  after(() => stopAdminStack(stack));

  test('is Prometheus text, every metric prefixed switchyard_, with HELP and TYPE', async () => {
    const s = await scrape(admin);
    assert.match(s.contentType, /^text\/plain; version=0\.0\.4/);
    assert.ok(s.samples.length > 0);
    for (const sample of s.samples) assert.match(sample.name, /^switchyard_/);
    const expected: Record<string, string> = {
      switchyard_connections_active: 'gauge',
      switchyard_connections_total: 'counter',
      switchyard_bytes_total: 'counter',
      switchyard_frames_total: 'counter',
      switchyard_errors_total: 'counter',
      switchyard_object_up: 'gauge',
      switchyard_splice_connections_total: 'counter',
      switchyard_splice_connections_active: 'gauge',
      switchyard_splice_copy_fallbacks_total: 'counter',
      switchyard_splice_driver: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) {
      assert.equal(s.types.get(name), type, `# TYPE ${name}`);
      assert.ok((s.help.get(name) ?? '').length > 0, `# HELP ${name}`);
    }
    for (const [kind, id] of KINDS) {
      assert.equal(value(s, 'switchyard_object_up', { kind, id }), 1);
      assert.equal(value(s, 'switchyard_connections_total', { kind, id }), 0);
    }
  });

  test('counts connections (active while open, total after) and bytes each way', async () => {
    const before = await scrape(admin);
    const client = await connect(port);
    const up = Buffer.alloc(100_000, 'u');
    await new Promise<void>((resolve) => client.write(up, () => resolve()));
    // The echo sends everything back; wait until the proxy forwarded all of it both ways.
    const stats = yard.listeners.get('l1')!.stats;
    await eventually(() => stats.bytesToDownstream === up.length, 'echo forwarded back');

    const open = await scrape(admin);
    for (const [kind, id] of KINDS) {
      assert.equal(value(open, 'switchyard_connections_active', { kind, id }), 1, `${kind} active`);
      assert.equal(value(open, 'switchyard_connections_total', { kind, id }), 1, `${kind} total`);
    }

    const rest = readAll(client);
    client.end('!');
    const echoed = await rest;
    assert.equal(echoed.length, up.length + 1);
    await eventually(() => stats.active === 0, 'session closed');

    const s = await scrape(admin);
    for (const [kind, id] of KINDS) {
      assert.equal(value(s, 'switchyard_connections_active', { kind, id }), 0, `${kind} active after close`);
      assert.equal(value(s, 'switchyard_connections_total', { kind, id }), 1, `${kind} total after close`);
      assert.equal(value(s, 'switchyard_bytes_total', { kind, id, direction: 'to_upstream' }), up.length + 1, `${kind} to_upstream`);
      assert.equal(value(s, 'switchyard_bytes_total', { kind, id, direction: 'to_downstream' }), up.length + 1, `${kind} to_downstream`);
      // Passthrough framing has no frame boundaries.
      assert.equal(value(s, 'switchyard_frames_total', { kind, id, direction: 'to_upstream' }), 0);
    }
    // A clean session counts no errors.
    assert.deepEqual(find(s, 'switchyard_errors_total'), []);
    // The listener is raw passthrough: where the splice addon is built the connection went through it (process-wide series).
    const spliced = (value(s, 'switchyard_splice_connections_total', {}) ?? 0) - (value(before, 'switchyard_splice_connections_total', {}) ?? 0);
    assert.equal(spliced, spliceInfo().available ? 1 : 0, 'switchyard_splice_connections_total counts the spliced connection');
    assert.equal(value(s, 'switchyard_splice_connections_active', {}), 0, 'the addon holds no connection after the close');
    if (spliceInfo().available) {
      const driver = spliceInfo().driver;
      assert.ok(driver === 'worker' || driver === 'loop', `a driver runs: ${String(driver)}`);
      assert.equal(value(s, 'switchyard_splice_driver', { driver }), 1, 'switchyard_splice_driver names the driver in use');
    }
    // The metrics and the admin API's JSON stats read the same counters.
    const json = (await (await fetch(`${admin.url}/api/v1/listeners/l1`)).json()) as { stats: { total: number; bytesToUpstream: number } };
    assert.equal(json.stats.total, value(s, 'switchyard_connections_total', { kind: 'listener', id: 'l1' }));
    assert.equal(json.stats.bytesToUpstream, value(s, 'switchyard_bytes_total', { kind: 'listener', id: 'l1', direction: 'to_upstream' }));
  });

  test('objects added and removed through the admin API appear in and leave /metrics', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${admin.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await post('/api/v1/clusters', { id: 'c2', endpoints: [`127.0.0.1:${echo.port}`] })).status, 201);
    assert.equal((await post('/api/v1/routes', { id: 'r2', listener: 'l2', cluster: 'c2' })).status, 201);
    const created = await post('/api/v1/listeners', { id: 'l2', listen: '127.0.0.1:0' });
    assert.equal(created.status, 201);
    const l2 = (await created.json()) as { address: { port: number } };
    const client = await connect(l2.address.port);
    const got = readAll(client);
    client.end('abc');
    assert.equal((await got).toString(), 'abc');
    await eventually(() => yard.listeners.get('l2')!.stats.active === 0, 'session closed');

    const s = await scrape(admin);
    assert.equal(value(s, 'switchyard_connections_total', { kind: 'listener', id: 'l2' }), 1);
    assert.equal(value(s, 'switchyard_bytes_total', { kind: 'cluster', id: 'c2', direction: 'to_upstream' }), 3);
    assert.equal(value(s, 'switchyard_object_up', { kind: 'route', id: 'r2' }), 1);
    // l1's counters are untouched by l2's traffic.
    assert.equal(value(s, 'switchyard_connections_total', { kind: 'listener', id: 'l1' }), 1);

    assert.equal((await fetch(`${admin.url}/api/v1/listeners/l2`, { method: 'DELETE' })).status, 200);
    const after = await scrape(admin);
    assert.deepEqual(find(after, 'switchyard_connections_total', { kind: 'listener', id: 'l2' }), []);
    assert.deepEqual(find(after, 'switchyard_object_up', { kind: 'listener', id: 'l2' }), []);
    assert.equal(value(after, 'switchyard_object_up', { kind: 'cluster', id: 'c2' }), 1, 'the cluster is still there');
    assert.equal((await fetch(`${admin.url}/api/v1/routes/r2`, { method: 'DELETE' })).status, 200);
    assert.equal((await fetch(`${admin.url}/api/v1/clusters/c2`, { method: 'DELETE' })).status, 200);
  });
});

describe('GET /metrics error counters', () => {
  test('an upstream that refuses → switchyard_errors_total{code="SWY_UPSTREAM_REFUSED"} on listener, route and cluster', async () => {
    const deadPort = await freePort();
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${deadPort}`] });
    const admin = await AdminServer.start(yard, { listen: LOOPBACK });
    try {
      for (let i = 0; i < 2; i++) {
        const client = await connect(port, '127.0.0.1', false);
        await closeOutcome(client); // the proxy closes the client when the upstream refuses
      }
      await eventually(() => yard.listeners.get('l1')!.stats.active === 0, 'sessions closed');
      const s = await scrape(admin);
      for (const [kind, id] of KINDS) {
        assert.equal(value(s, 'switchyard_errors_total', { kind, id, code: 'SWY_UPSTREAM_REFUSED' }), 2, `${kind} refused count`);
        assert.equal(value(s, 'switchyard_connections_total', { kind, id }), 2);
        assert.equal(value(s, 'switchyard_bytes_total', { kind, id, direction: 'to_upstream' }), 0);
      }
      assert.equal(find(s, 'switchyard_errors_total').length, 3, 'no other error codes');
    } finally {
      await admin.close();
      await yard.close();
    }
  });

  test('a listener without a route counts SWY_NO_UPSTREAM', async () => {
    const echo = await startEchoServer();
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${echo.port}`] });
    const admin = await AdminServer.start(yard, { listen: LOOPBACK });
    try {
      assert.equal((await fetch(`${admin.url}/api/v1/routes/r1`, { method: 'DELETE' })).status, 200);
      const client = await connect(port, '127.0.0.1', false);
      await closeOutcome(client);
      const s = await scrape(admin);
      assert.equal(value(s, 'switchyard_errors_total', { kind: 'listener', id: 'l1', code: 'SWY_NO_UPSTREAM' }), 1);
      assert.equal(value(s, 'switchyard_connections_total', { kind: 'listener', id: 'l1' }), 1);
    } finally {
      await admin.close();
      await yard.close();
      await echo.close();
    }
  });
});

describe('GET /metrics with framing', () => {
  test('a line-framed listener counts frames each way', async () => {
    const echo = await startEchoServer();
    const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${echo.port}`], listener: { framing: 'line' } });
    const admin = await AdminServer.start(yard, { listen: LOOPBACK });
    try {
      const client = await connect(port);
      const got = readAll(client);
      client.end('one\ntwo\nthree\n');
      assert.equal((await got).toString(), 'one\ntwo\nthree\n');
      await eventually(() => yard.listeners.get('l1')!.stats.active === 0, 'session closed');
      const s = await scrape(admin);
      for (const [kind, id] of KINDS) {
        assert.equal(value(s, 'switchyard_frames_total', { kind, id, direction: 'to_upstream' }), 3, `${kind} frames up`);
        assert.equal(value(s, 'switchyard_frames_total', { kind, id, direction: 'to_downstream' }), 3, `${kind} frames down`);
      }
      assert.equal(value(s, 'switchyard_bytes_total', { kind: 'listener', id: 'l1', direction: 'to_upstream' }), 14);
    } finally {
      await admin.close();
      await yard.close();
      await echo.close();
    }
  });
});

describe('process metrics', () => {
  test('a Switchyard with default metrics exposes Node process metrics under switchyard_ (once)', async () => {
    const yard = new Switchyard({ defaultMetrics: true });
    const admin = await AdminServer.start(yard, { listen: LOOPBACK });
    try {
      const s = await scrape(admin);
      const names = new Set(s.samples.map((x) => x.name));
      for (const name of names) {
        assert.match(name, /^switchyard_/);
        assert.doesNotMatch(name, /process_process_|switchyard_.*switchyard_/, `doubled prefix in ${name}`);
      }
      assert.ok(names.has('switchyard_process_cpu_seconds_total'), 'process CPU');
      assert.ok(names.has('switchyard_process_resident_memory_bytes') || process.platform !== 'linux', 'process RSS');
      assert.ok([...names].some((n) => n.startsWith('switchyard_nodejs_')), 'Node.js runtime metrics');
      // No gauge carries a counter's `_total` suffix (prom-client's nodejs_active_*_total sums are dropped).
      for (const [name, type] of s.types) if (name.endsWith('_total')) assert.equal(type, 'counter', `${name} is a ${type}`);
      assert.ok(names.has('switchyard_nodejs_active_handles'), 'the labelled gauge stays');
      // Empty yard: the object metrics are declared but have no samples.
      assert.equal(s.types.get('switchyard_connections_total'), 'counter');
      assert.deepEqual(find(s, 'switchyard_connections_total'), []);
    } finally {
      await admin.close();
      await yard.close();
    }
  });
});

describe('createMetricsRegistry', () => {
  test('reads live stats at scrape time; registries are independent', async () => {
    const a = { id: 'x', stats: new TrafficStats(), state: 'started' };
    const b = { id: 'y', stats: new TrafficStats(), state: 'stopping' };
    const r1 = createMetricsRegistry([{ kind: 'listener', entries: () => [a] }], { defaultMetrics: false });
    const r2 = createMetricsRegistry([{ kind: 'cluster', entries: () => [b] }], { defaultMetrics: false });

    a.stats.total = 5;
    a.stats.active = 2;
    a.stats.bytesToUpstream = 10;
    a.stats.error('ECONNRESET');
    a.stats.error('ECONNRESET');
    a.stats.error('SWY_IDLE_TIMEOUT');
    let s = parseMetrics(await r1.metrics());
    assert.equal(value(s, 'switchyard_connections_total', { kind: 'listener', id: 'x' }), 5);
    assert.equal(value(s, 'switchyard_connections_active', { kind: 'listener', id: 'x' }), 2);
    assert.equal(value(s, 'switchyard_bytes_total', { kind: 'listener', id: 'x', direction: 'to_upstream' }), 10);
    assert.equal(value(s, 'switchyard_errors_total', { kind: 'listener', id: 'x', code: 'ECONNRESET' }), 2);
    assert.equal(value(s, 'switchyard_errors_total', { kind: 'listener', id: 'x', code: 'SWY_IDLE_TIMEOUT' }), 1);
    assert.equal(value(s, 'switchyard_object_up', { kind: 'listener', id: 'x' }), 1);
    assert.deepEqual(find(s, 'switchyard_connections_total', { id: 'y' }), [], 'r1 does not see r2 sources');

    // A second scrape reports the current values (set, not added again).
    a.stats.total = 6;
    a.state = 'stopped';
    s = parseMetrics(await r1.metrics());
    assert.equal(value(s, 'switchyard_connections_total', { kind: 'listener', id: 'x' }), 6);
    assert.equal(value(s, 'switchyard_errors_total', { kind: 'listener', id: 'x', code: 'ECONNRESET' }), 2);
    // One series per object whatever its state (a `state` label would end one series and start another).
    assert.deepEqual(find(s, 'switchyard_object_up', { id: 'x' }).map((x) => [x.labels, x.value]), [[{ kind: 'listener', id: 'x' }, 0]]);

    const s2 = parseMetrics(await r2.metrics());
    assert.equal(value(s2, 'switchyard_object_up', { kind: 'cluster', id: 'y' }), 0);
    assert.deepEqual(find(s2, 'switchyard_connections_total', { id: 'x' }), []);
  });
});

describe('blocked answers', () => {
  test('the bytes of a 502 a replicate route sends instead of a divergent answer count in switchyard_bytes_total', async () => {
    const http = await import('node:http');
    const servers: import('node:http').Server[] = [];
    const ports: number[] = [];
    for (const answer of ['same', 'same', 'different']) {
      const server = http.createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': answer.length });
        res.end(answer);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      servers.push(server);
      ports.push((server.address() as import('node:net').AddressInfo).port);
    }
    const yard = await startYard({
      listeners: [{ id: 'front', listen: '127.0.0.1:0', protocol: 'http' }],
      routes: [{ id: 'app', listener: 'front', replicate: { variants: ports.map((p) => `127.0.0.1:${p}`), policy: 'unanimous' } }],
    });
    try {
      const a = yard.listeners.get('front')!.address!;
      const socket = await connect(a.kind === 'tcp' ? a.port : 0);
      socket.write('GET /x HTTP/1.1\r\nHost: x\r\n\r\n');
      const answer = await readAll(socket);
      assert.match(answer.toString('latin1'), /^HTTP\/1\.1 502 /);
      const s = parseMetrics(await yard.metrics.metrics());
      for (const [kind, id] of [['listener', 'front'], ['route', 'app']] as const) {
        assert.equal(value(s, 'switchyard_bytes_total', { kind, id, direction: 'to_downstream' }), answer.length, `${kind} to_downstream`);
      }
    } finally {
      await yard.close({ drainTimeout: 0 });
      for (const server of servers) {
        server.closeAllConnections();
        server.close();
      }
    }
  });
});
