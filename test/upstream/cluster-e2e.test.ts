import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startYard } from '../helpers/yard.js';
import { eventually, freePort, startEchoServer, startServer, type TestServer } from '../helpers/net.js';

const LOOP = '127.0.0.1';
const DEADLINE = 15_000;

/** Send `text` through the proxy and read the whole answer (the echo server ends after our FIN). */
function roundTrip(port: number, text: string, localAddress?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: LOOP, port, ...(localAddress ? { localAddress } : {}) });
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.once('error', reject);
    s.once('connect', () => s.end(text));
    s.once('close', () => resolve(out));
  });
}

function namedServer(name: string): Promise<TestServer> {
  return startServer((s) => {
    s.on('data', () => undefined);
    s.end(name);
  });
}

function proxyPort(yard: Awaited<ReturnType<typeof startYard>>): number {
  const a = yard.listeners.get('l1')!.address!;
  assert.equal(a.kind, 'tcp');
  return a.kind === 'tcp' ? a.port : 0;
}

describe('clusters end to end through a TCP listener', () => {
  it('proxies an echo over [dead port, live, live]: every connection succeeds, retries and health in the metrics', async (t) => {
    const a = await startEchoServer();
    const b = await startEchoServer();
    t.after(() => Promise.all([a.close(), b.close()]));
    const dead = await freePort();
    const yard = await startYard({
      listeners: [{ id: 'l1', listen: `${LOOP}:0` }],
      clusters: [{ id: 'c1', endpoints: [`${LOOP}:${dead}`, `${LOOP}:${a.port}`, `${LOOP}:${b.port}`] }],
      routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
    });
    t.after(() => yard.close({ drainTimeout: 0 }));
    const port = proxyPort(yard);
    for (let i = 0; i < 12; i++) assert.equal(await roundTrip(port, `hello ${i}`), `hello ${i}`);
    const cluster = yard.clusters.get('c1')!;
    assert.equal(cluster.counters.retries, 4);
    const metrics = await yard.metrics.metrics();
    assert.match(metrics, /switchyard_upstream_retries_total\{cluster="c1"\} 4/);
    assert.match(metrics, new RegExp(`switchyard_endpoint_health\\{cluster="c1",endpoint="127.0.0.1:${a.port}"\\} -1`));
    assert.match(metrics, /switchyard_outlier_ejections_total\{cluster="c1"\} 0/);
    assert.match(metrics, /switchyard_cluster_panic_total\{cluster="c1"\} 0/);
    // Errors are not counted for a connect that a retry rescued: the client never saw one.
    assert.equal(yard.listeners.get('l1')!.stats.errors.size, 0);
  });

  it('with a tcp health check the dead endpoint leaves the balancer, so connections stop needing retries', async (t) => {
    const a = await startEchoServer();
    t.after(() => a.close());
    const dead = await freePort();
    const yard = await startYard({
      listeners: [{ id: 'l1', listen: `${LOOP}:0` }],
      clusters: [
        {
          id: 'c1',
          endpoints: [`${LOOP}:${dead}`, `${LOOP}:${a.port}`],
          healthCheck: { type: 'tcp', interval: '100ms', timeout: '1s', healthyThreshold: 1, unhealthyThreshold: 1 },
          outlierDetection: { consecutiveFailures: 100 },
        },
      ],
      routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
    });
    t.after(() => yard.close({ drainTimeout: 0 }));
    const cluster = yard.clusters.get('c1')!;
    await eventually(() => cluster.endpoints[0]!.health === 'unhealthy' && cluster.endpoints[1]!.health === 'healthy', 'health known', DEADLINE);
    const before = cluster.counters.retries;
    const port = proxyPort(yard);
    for (let i = 0; i < 8; i++) assert.equal(await roundTrip(port, `x${i}`), `x${i}`);
    assert.equal(cluster.counters.retries, before);
    const metrics = await yard.metrics.metrics();
    assert.match(metrics, new RegExp(`switchyard_endpoint_health\\{cluster="c1",endpoint="127.0.0.1:${dead}"\\} 0`));
    assert.match(metrics, new RegExp(`switchyard_endpoint_health\\{cluster="c1",endpoint="127.0.0.1:${a.port}"\\} 1`));
  });

  it('ring_hash on sourceAddress: a client address always reaches the same endpoint', async (t) => {
    const servers = await Promise.all(['s1', 's2', 's3'].map(namedServer));
    t.after(() => Promise.all(servers.map((s) => s.close())));
    const yard = await startYard({
      listeners: [{ id: 'l1', listen: `${LOOP}:0` }],
      clusters: [{ id: 'c1', endpoints: servers.map((s) => `${LOOP}:${s.port}`), balancer: 'ring_hash', hashKey: 'sourceAddress' }],
      routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
    });
    t.after(() => yard.close({ drainTimeout: 0 }));
    const port = proxyPort(yard);
    const seen = new Set<string>();
    for (let x = 2; x <= 21; x++) {
      const source = `127.0.0.${x}`;
      const first = await roundTrip(port, 'hi', source);
      assert.match(first, /^s[123]$/);
      for (let k = 0; k < 2; k++) assert.equal(await roundTrip(port, 'hi', source), first, `source ${source}`);
      seen.add(first);
    }
    assert.ok(seen.size >= 2, `20 sources all hashed to ${[...seen].join(',')}`);
  });

  it('outlier ejection through the listener: a refusing endpoint is ejected, then clients skip it without retries', async (t) => {
    const a = await startEchoServer();
    t.after(() => a.close());
    const dead = await freePort();
    const yard = await startYard({
      listeners: [{ id: 'l1', listen: `${LOOP}:0` }],
      clusters: [
        {
          id: 'c1',
          endpoints: [`${LOOP}:${dead}`, `${LOOP}:${a.port}`],
          outlierDetection: { consecutiveFailures: 2, baseEjectionTime: '1m', maxEjectionPercent: 50 },
        },
      ],
      routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
    });
    t.after(() => yard.close({ drainTimeout: 0 }));
    const port = proxyPort(yard);
    const cluster = yard.clusters.get('c1')!;
    for (let i = 0; i < 10; i++) assert.equal(await roundTrip(port, `e${i}`), `e${i}`);
    assert.equal(cluster.endpoints[0]!.ejected, true);
    assert.equal(cluster.counters.retries, 2, 'two rescued connects, then the dead endpoint was ejected');
    const metrics = await yard.metrics.metrics();
    assert.match(metrics, /switchyard_outlier_ejections_total\{cluster="c1"\} 1/);
    assert.match(metrics, new RegExp(`switchyard_endpoint_ejected\\{cluster="c1",endpoint="127.0.0.1:${dead}"\\} 1`));
  });
});
