import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dns from 'node:dns';
import net from 'node:net';
import { parseObjectConfig } from '../../src/runtime/config.js';
import { Cluster } from '../../src/upstream/cluster.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { eventually, freePort, startEchoServer, startServer, type TestServer } from '../helpers/net.js';

const LOOP = '127.0.0.1';
const DEADLINE = 15_000;

function cluster(raw: Record<string, unknown>): Cluster {
  const c = new Cluster(parseObjectConfig('cluster', raw));
  c.start();
  return c;
}

/** A server that says its name and closes: which endpoint a connection reached. */
function namedServer(name: string): Promise<TestServer> {
  return startServer((s) => s.end(name));
}

async function readName(socket: net.Socket): Promise<string> {
  let out = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (out += d));
  // Upstream sockets are half-open capable: end our side when the server ends its.
  socket.once('end', () => socket.end());
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return out;
}

describe('outlier ejection', () => {
  it('an endpoint that refuses connects is ejected after N failures, traffic goes to the other, and it comes back after the ejection time', async (t) => {
    const live = await namedServer('live');
    t.after(() => live.close());
    const dead = await freePort();
    const c = cluster({
      id: 'od',
      endpoints: [`${LOOP}:${dead}`, `${LOOP}:${live.port}`],
      retries: 0,
      outlierDetection: { consecutiveFailures: 3, baseEjectionTime: '2s', maxEjectionPercent: 50 },
    });
    t.after(() => c.stop());
    let failures = 0;
    for (let i = 0; i < 6; i++) {
      try {
        (await c.connect()).destroy();
      } catch (err) {
        assert.equal((err as { code?: string }).code, ErrorCodes.UPSTREAM_REFUSED);
        failures++;
      }
    }
    assert.equal(failures, 3);
    const deadEp = c.endpoints[0]!;
    assert.equal(deadEp.ejected, true);
    assert.equal(deadEp.timesEjected, 1);
    assert.equal(c.counters.ejections, 1);
    assert.deepEqual(c.eligible.map((e) => e.key), [`${LOOP}:${live.port}`]);
    const json = (c.toJSON()['endpoints'] as Array<Record<string, unknown>>)[0]!;
    assert.equal(json['ejected'], true);
    assert.equal(typeof json['ejectedUntil'], 'string');
    for (let i = 0; i < 10; i++) assert.equal(await readName(await c.connect()), 'live');

    await eventually(() => !deadEp.ejected, 'ejection over', DEADLINE);
    assert.equal(c.eligible.length, 2);
    // Ejected again: the second ejection lasts twice as long.
    for (let i = 0; i < 6; i++) await c.connect().then((s) => s.destroy(), () => undefined);
    assert.equal(deadEp.ejected, true);
    assert.equal(deadEp.timesEjected, 2);
    const left = deadEp.ejectedUntil - Date.now();
    assert.ok(left > 2000 && left <= 4000, `second ejection ${left} ms`);
  });

  it('maxEjectionPercent is respected (and one endpoint may always be ejected)', async (t) => {
    const deadPorts = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const run = async (max: number): Promise<number> => {
      const c = cluster({
        id: `od-max-${max}`,
        endpoints: deadPorts.map((p) => `${LOOP}:${p}`),
        retries: 0,
        outlierDetection: { consecutiveFailures: 1, baseEjectionTime: '30s', maxEjectionPercent: max },
      });
      t.after(() => c.stop());
      for (let i = 0; i < 12; i++) await c.connect().then((s) => s.destroy(), () => undefined);
      return c.endpoints.filter((e) => e.ejected).length;
    };
    assert.equal(await run(50), 2);
    assert.equal(await run(10), 1);
    assert.equal(await run(100), 4);
  });

  it('reported protocol errors eject; an ok report resets the count', async (t) => {
    const a = await namedServer('a');
    const b = await namedServer('b');
    t.after(() => Promise.all([a.close(), b.close()]));
    const c = cluster({
      id: 'od-report',
      endpoints: [`${LOOP}:${a.port}`, `${LOOP}:${b.port}`],
      outlierDetection: { consecutiveFailures: 2, baseEjectionTime: '30s', maxEjectionPercent: 50 },
    });
    t.after(() => c.stop());
    const toA = async (): Promise<net.Socket> => {
      for (let i = 0; i < 4; i++) {
        const s = await c.connect();
        if (s.remotePort === a.port) return s;
        s.destroy();
      }
      throw new Error('never reached endpoint a');
    };
    const s1 = await toA();
    c.report(s1, 'protocol_error');
    c.report(s1, 'ok');
    c.report(s1, 'protocol_error');
    assert.equal(c.endpoints[0]!.ejected, false, 'ok reset the count');
    c.report(s1, 'protocol_error');
    assert.equal(c.endpoints[0]!.ejected, true);
    s1.destroy();
    for (let i = 0; i < 6; i++) assert.equal(await readName(await c.connect()), 'b');
    // A report on a socket the cluster did not hand out is ignored.
    c.report(new net.Socket(), 'protocol_error');
  });

  it('connections the upstream resets count as failures', async (t) => {
    const resetter = await startServer((s) => void setTimeout(() => s.resetAndDestroy(), 20));
    t.after(() => resetter.close());
    const c = cluster({
      id: 'od-reset',
      endpoints: [`${LOOP}:${resetter.port}`],
      outlierDetection: { consecutiveFailures: 3, baseEjectionTime: '30s' },
    });
    t.after(() => c.stop());
    for (let i = 0; i < 3; i++) {
      const s = await c.connect();
      s.on('error', () => undefined);
      s.resume();
      await new Promise<void>((resolve) => s.once('close', () => resolve()));
    }
    await eventually(() => c.endpoints[0]!.ejected, 'ejected after 3 resets', DEADLINE);
    // A single-endpoint cluster with its only endpoint ejected is in panic mode: traffic still goes there.
    assert.equal(c.panic, true);
    (await c.connect()).destroy();
    assert.ok(c.counters.panics >= 1);
  });
});

describe('connect retries', () => {
  it('a cluster [dead port, live server]: every connection succeeds, the retries are counted', async (t) => {
    const live = await startEchoServer();
    t.after(() => live.close());
    const dead = await freePort();
    const c = cluster({ id: 'retry', endpoints: [`${LOOP}:${dead}`, `${LOOP}:${live.port}`] });
    t.after(() => c.stop());
    assert.equal(c.config.retries, 1);
    for (let i = 0; i < 20; i++) {
      const s = await c.connect();
      assert.equal(s.remotePort, live.port);
      s.destroy();
    }
    assert.equal(c.counters.retries, 10);
  });

  it('retries: 0 fails half of them; a one-endpoint cluster never retries', async (t) => {
    const live = await startEchoServer();
    t.after(() => live.close());
    const dead = await freePort();
    const none = cluster({ id: 'retry0', endpoints: [`${LOOP}:${dead}`, `${LOOP}:${live.port}`], retries: 0 });
    t.after(() => none.stop());
    let failed = 0;
    for (let i = 0; i < 10; i++) await none.connect().then((s) => s.destroy(), () => failed++);
    assert.equal(failed, 5);
    assert.equal(none.counters.retries, 0);
    const single = cluster({ id: 'retry1', endpoints: [`${LOOP}:${dead}`], retries: 3 });
    t.after(() => single.stop());
    await assert.rejects(single.connect(), (err: { code?: string }) => err.code === ErrorCodes.UPSTREAM_REFUSED);
    assert.equal(single.counters.retries, 0);
  });

  it('several dead endpoints: retries walk through endpoints not tried yet, with backoff, then give the last error', async (t) => {
    const live = await startEchoServer();
    t.after(() => live.close());
    const deads = await Promise.all([freePort(), freePort(), freePort()]);
    const c = cluster({
      id: 'retry-walk',
      endpoints: [...deads.map((p) => `${LOOP}:${p}`), `${LOOP}:${live.port}`],
      retries: 3,
      retryBackoff: '5ms',
    });
    t.after(() => c.stop());
    for (let i = 0; i < 8; i++) {
      const s = await c.connect();
      assert.equal(s.remotePort, live.port);
      s.destroy();
    }
    const alldead = cluster({ id: 'retry-dead', endpoints: deads.map((p) => `${LOOP}:${p}`), retries: 5, retryBackoff: 0 });
    t.after(() => alldead.stop());
    await assert.rejects(alldead.connect(), (err: { code?: string }) => err.code === ErrorCodes.UPSTREAM_REFUSED);
    assert.equal(alldead.counters.retries, 2, 'three endpoints: two retries, then nothing left to try');
  });

  it('an aborted connect is not retried', async (t) => {
    const deads = await Promise.all([freePort(), freePort()]);
    const c = cluster({ id: 'retry-abort', endpoints: deads.map((p) => `${LOOP}:${p}`) });
    t.after(() => c.stop());
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(c.connect(ac.signal), (err: { code?: string }) => err.code === ErrorCodes.SHUTDOWN);
    assert.equal(c.counters.retries, 0);
    assert.equal(c.endpoints[0]!.connectFailures + c.endpoints[1]!.connectFailures, 0, 'an abort is not an endpoint failure');
  });
});

describe('DNS cache', () => {
  it('host-name endpoints are resolved once per dnsRefresh; connects use the cache; failures keep the last answer', async (t) => {
    const live = await startEchoServer();
    t.after(() => live.close());
    const promises = dns.promises as unknown as { lookup: typeof dns.promises.lookup };
    const realLookup = promises.lookup;
    let resolutions = 0;
    let fail = false;
    promises.lookup = (async (host: string, opts: dns.LookupAllOptions) => {
      resolutions++;
      if (fail) throw Object.assign(new Error(`getaddrinfo EAI_AGAIN ${host}`), { code: 'EAI_AGAIN' });
      if (host === 'svc.h3.test') return [{ address: LOOP, family: 4 }];
      return realLookup(host, opts);
    }) as unknown as typeof dns.promises.lookup;
    t.after(() => {
      promises.lookup = realLookup;
    });
    const c = cluster({ id: 'dns', endpoints: [`svc.h3.test:${live.port}`], dnsRefresh: '150ms' });
    t.after(() => c.stop());
    const e = c.endpoints[0]!;
    await eventually(() => (e.dns?.addresses.length ?? 0) > 0, 'first resolution', DEADLINE);
    // svc.h3.test does not exist for the system resolver: connects can only work through the cache.
    for (let i = 0; i < 5; i++) {
      const s = await c.connect();
      assert.equal(s.remoteAddress, LOOP);
      s.destroy();
    }
    assert.deepEqual(c.pickAddress(), { kind: 'tcp', host: LOOP, port: live.port });
    const before = resolutions;
    await eventually(() => resolutions >= before + 2, 'refreshed on the timer', DEADLINE);
    fail = true;
    await eventually(() => c.counters.dnsFailures >= 1, 'a failed refresh counted', DEADLINE);
    assert.deepEqual(e.dns!.addresses.map((a) => a.address), [LOOP], 'last good answer kept');
    assert.match(e.dns!.lastError ?? '', /EAI_AGAIN/);
    (await c.connect()).destroy();
    const json = (c.toJSON()['endpoints'] as Array<Record<string, unknown>>)[0]!['dns'] as Record<string, unknown>;
    assert.deepEqual(json['addresses'], [LOOP]);
    assert.ok((json['failures'] as number) >= 1);
  });

  it('dnsRefresh: 0 keeps no cache (the system resolver at every connect)', async (t) => {
    const live = await startEchoServer();
    t.after(() => live.close());
    const c = cluster({ id: 'nodns', endpoints: [`localhost:${live.port}`], dnsRefresh: 0 });
    t.after(() => c.stop());
    assert.equal(c.endpoints[0]!.dns, undefined);
    (await c.connect()).destroy();
  });
});

describe('cluster config', () => {
  const issues = (raw: Record<string, unknown>): string[] => {
    try {
      parseObjectConfig('cluster', { id: 'x', endpoints: ['127.0.0.1:1'], ...raw });
      return [];
    } catch (err) {
      return ((err as { details?: { issues?: Array<{ path: string; message: string }> } }).details?.issues ?? []).map((i) => `${i.path}: ${i.message}`);
    }
  };

  it('accepts the new keys with their defaults and normalises hashKey', () => {
    const c = parseObjectConfig('cluster', {
      id: 'x',
      endpoints: ['127.0.0.1:1'],
      balancer: 'maglev',
      hashKey: 'header:X-User',
      outlierDetection: {},
      retryOn: ['connect-failure', '503'],
    });
    assert.equal(c.balancer, 'maglev');
    assert.equal(c.hashKey, 'header:x-user');
    assert.deepEqual(c.outlierDetection, { consecutiveFailures: 5, baseEjectionTime: 30_000, maxEjectionTime: 300_000, maxEjectionPercent: 10 });
    assert.deepEqual(c.retryOn, ['connect-failure', '503']);
    assert.equal(new Cluster(c).hashAttribute, 'header.x-user');
    assert.equal(new Cluster({ ...c, hashKey: 'sourceAddress' }).hashAttribute, 'sourceAddress');
  });

  it('bad values name the key', () => {
    assert.deepEqual(issues({ balancer: 'ring' }), [
      'balancer: expected one of "round_robin", "weighted", "random", "least_request", "least_connections", "ring_hash", "maglev", got "ring" (did you mean "ring_hash"?)',
    ]);
    assert.deepEqual(issues({ hashKey: 'users' }), ['hashKey: expected "sourceAddress", "key", "user" or "header:NAME" (did you mean "user"?), got "users"']);
    assert.deepEqual(issues({ hashKey: 'header:' }), ['hashKey: expected an HTTP header name after "header:", got "header:"']);
    assert.deepEqual(issues({ retries: -1, retryOn: ['5xx', 'timeout'] }), ['retries: expected an integer 0-10, got -1', 'retryOn[1]: expected one of "connect-failure", "reset", "503", "5xx", got "timeout"']);
    assert.deepEqual(issues({ outlierDetection: { consecutiveFailure: 3 } }), ['outlierDetection.consecutiveFailure: unknown key (did you mean "consecutiveFailures"?)']);
  });
});

describe('docs', () => {
  it('docs/configuration.md has a row for every cluster, healthCheck and outlierDetection key', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## clusters'), doc.indexOf('## routes'));
    const full = parseObjectConfig('cluster', {
      id: 'x',
      endpoints: ['127.0.0.1:1'],
      balancer: 'maglev',
      hashKey: 'key',
      tls: true,
      healthCheck: { type: 'tcp' },
      outlierDetection: {},
    });
    const keys = new Set<string>([...Object.keys(full), ...Object.keys(full.outlierDetection!)]);
    for (const type of ['tcp', 'http', 'redis', 'postgres', 'mysql']) {
      const hc = parseObjectConfig('cluster', { id: 'x', endpoints: ['127.0.0.1:1'], healthCheck: type === 'http' || type === 'tcp' ? { type } : { type, password: 'p' } }).healthCheck!;
      for (const k of Object.keys(hc)) keys.add(k);
    }
    for (const k of keys) assert.ok(section.includes(`\`${k}\``), `docs/configuration.md#clusters mentions ${k}`);
    for (const b of ['round_robin', 'weighted', 'random', 'least_request', 'least_connections', 'ring_hash', 'maglev']) {
      assert.ok(section.includes(`| \`${b}\` |`), `balancer ${b} has a row`);
    }
  });

  it('the cluster examples of docs/routing.md are valid clusters', async () => {
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    const doc = readFileSync(new URL('../../docs/routing.md', import.meta.url), 'utf8');
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => b.startsWith('clusters:'));
    assert.ok(blocks.length >= 2, `${blocks.length} cluster examples`);
    for (const b of blocks) {
      for (const c of (parse(b) as { clusters: unknown[] }).clusters) assert.doesNotThrow(() => parseObjectConfig('cluster', c), b);
    }
  });
});
