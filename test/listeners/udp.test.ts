/**
 * UdpProxy (and the UdpListenerObject run-time wrapper) over real loopback sockets. No sleeps: every wait is for
 * an event (a datagram, a flow-close hook, an error hook), bounded by a timeout so a failure fails fast.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import type { ListenerConfig, UdpOptions } from '../../src/config/types.js';
import type { Address } from '../../src/core/address.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { TrafficStats } from '../../src/core/stats.js';
import { silentLogger } from '../../src/core/log.js';
import { FramerRegistry } from '../../src/framing/registry.js';
import { Cluster } from '../../src/upstream/cluster.js';
import { Route, RouteTable } from '../../src/routing/director.js';
import { UdpProxy, type UdpProxyOptions } from '../../src/listeners/udp-proxy.js';
import { UdpListenerObject } from '../../src/listeners/udp-runtime.js';
import type { FlowCloseReason, UdpRemote } from '../../src/listeners/udp-flow-table.js';

const V4 = '127.0.0.1';
const V6 = '::1';
const WAIT = 10_000;

function withTimeout<T>(p: Promise<T>, what: string, ms = WAIT): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]);
}

/** Records events; `waitFor` resolves once `count` recorded events match (past ones included). */
class Recorder<T> {
  readonly items: T[] = [];
  #waiters: Array<{ pred: (t: T) => boolean; count: number; resolve: (items: T[]) => void }> = [];

  readonly push = (item: T): void => {
    this.items.push(item);
    this.#waiters = this.#waiters.filter((w) => !this.#settle(w));
  };

  waitFor(pred: (t: T) => boolean, what: string, count = 1): Promise<T[]> {
    const w = { pred, count, resolve: (_: T[]) => undefined as void };
    const p = new Promise<T[]>((resolve) => (w.resolve = resolve));
    if (!this.#settle(w)) this.#waiters.push(w);
    return withTimeout(p, what);
  }

  #settle(w: { pred: (t: T) => boolean; count: number; resolve: (items: T[]) => void }): boolean {
    const hits = this.items.filter(w.pred);
    if (hits.length < w.count) return false;
    w.resolve(hits);
    return true;
  }
}

/** A UDP socket on loopback that queues what it receives. */
class Peer {
  readonly received = new Recorder<{ msg: Buffer; from: dgram.RemoteInfo }>();
  #taken = 0;
  /** Use {@link Peer.open}. */
  constructor(
    readonly socket: dgram.Socket,
    readonly host: string,
  ) {
    socket.on('message', (msg, from) => this.received.push({ msg, from }));
  }

  static async open(host = V4): Promise<Peer> {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => resolve());
    });
    return new Peer(socket, host);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(msg: Buffer | string, port: number, host = this.host): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(typeof msg === 'string' ? Buffer.from(msg) : msg, port, host, (err) => (err ? reject(err) : resolve())));
  }

  /** The next datagram not yet taken. */
  async recv(what = 'a datagram'): Promise<Buffer> {
    const n = ++this.#taken;
    const items = await this.received.waitFor(() => true, what, n);
    return items[n - 1]!.msg;
  }

  /** Resolves once the handle left the event loop (dgram's 'close' comes before libuv's close phase). */
  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => setImmediate(() => setImmediate(resolve))));
  }
}

/** An upstream that answers every datagram with `tag + datagram` to its sender. */
async function echoServer(host = V4, tag = ''): Promise<Peer> {
  const peer = await Peer.open(host);
  peer.socket.on('message', (msg, from) => peer.socket.send(Buffer.concat([Buffer.from(tag), msg]), from.port, from.address));
  return peer;
}

function udp(overrides: Partial<UdpOptions> = {}): UdpOptions {
  return { flowIdleTimeout: 10_000, maxFlows: 100, maxDatagramSize: 65507, ...overrides };
}

function tcpAddr(host: string, port: number): Address {
  return { kind: 'tcp', host, port };
}

interface Harness {
  proxy: UdpProxy;
  stats: TrafficStats;
  errors: Recorder<string>;
  opens: Recorder<{ remote: UdpRemote; upstream: Address }>;
  closes: Recorder<{ remote: UdpRemote; reason: FlowCloseReason }>;
  picks: () => number;
  port: number;
}

async function startProxy(
  t: TestContext,
  pick: () => Address,
  options: Partial<Omit<UdpProxyOptions, 'pickUpstream'>> = {},
): Promise<Harness> {
  const errors = new Recorder<string>();
  const opens = new Recorder<{ remote: UdpRemote; upstream: Address }>();
  const closes = new Recorder<{ remote: UdpRemote; reason: FlowCloseReason }>();
  const stats = new TrafficStats();
  let picks = 0;
  const proxy = await UdpProxy.start({
    id: 'udp-test',
    listen: tcpAddr(V4, 0),
    udp: udp(),
    stats,
    onError: errors.push,
    onFlowOpen: opens.push,
    onFlowClose: closes.push,
    ...options,
    pickUpstream: () => {
      picks++;
      return pick();
    },
  });
  t.after(() => proxy.close());
  return { proxy, stats, errors, opens, closes, picks: () => picks, port: proxy.address().port };
}

async function peers(t: TestContext, n: number, host = V4): Promise<Peer[]> {
  const list = await Promise.all(Array.from({ length: n }, () => Peer.open(host)));
  t.after(() => Promise.all(list.map((p) => p.close())));
  return list;
}

async function echo(t: TestContext, host = V4, tag = ''): Promise<Peer> {
  const e = await echoServer(host, tag);
  t.after(() => e.close());
  return e;
}

/** A port with nothing listening on it (bound, then closed). */
async function deadPort(host = V4): Promise<number> {
  const p = await Peer.open(host);
  const port = p.port;
  await p.close();
  return port;
}

function udpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
}

describe('UdpProxy', () => {
  it('forwards datagrams to the upstream and replies back, counting bytes and flows', async (t) => {
    const up = await echo(t);
    const h = await startProxy(t, () => tcpAddr(V4, up.port), { logger: pino({ level: 'silent' }) });
    const [c] = await peers(t, 1);
    await c!.send('hello', h.port);
    assert.equal((await c!.recv()).toString(), 'hello');
    await c!.send('again', h.port);
    assert.equal((await c!.recv()).toString(), 'again');
    assert.equal(h.picks(), 1, 'one pick per flow, not per datagram');
    assert.deepEqual(h.proxy.address(), { address: V4, port: h.port, family: 'IPv4' });
    assert.equal(h.stats.active, 1);
    assert.equal(h.stats.total, 1);
    assert.equal(h.stats.bytesToUpstream, 10);
    assert.equal(h.stats.bytesToDownstream, 10);
    assert.equal(h.stats.framesToUpstream, 2);
    assert.deepEqual(h.proxy.flowStats(), { flowsActive: 1, flowsTotal: 1, flowsExpired: 0, flowsEvicted: 0 });
    assert.deepEqual(h.opens.items.map((o) => o.remote), [{ address: V4, port: c!.port, family: 'IPv4' }]);
  });

  it('round-trips a 60 000-byte and a 65 507-byte datagram unchanged (no truncation)', async (t) => {
    const up = await echo(t);
    const h = await startProxy(t, () => tcpAddr(V4, up.port));
    const [c] = await peers(t, 1);
    for (const size of [60_000, 65_507]) {
      const payload = randomBytes(size);
      await c!.send(payload, h.port);
      const reply = await c!.recv(`${size}-byte reply`);
      assert.equal(reply.length, size);
      assert.ok(reply.equals(payload));
    }
    assert.equal(h.stats.bytesToUpstream, 60_000 + 65_507);
    assert.equal(h.stats.errors.size, 0);
  });

  it('keeps 3 interleaved clients apart: each gets only its own replies', async (t) => {
    const up = await echo(t);
    const h = await startProxy(t, () => tcpAddr(V4, up.port));
    const clients = await peers(t, 3);
    const rounds = 20;
    for (let r = 0; r < rounds; r++) {
      await Promise.all(clients.map((c, i) => c.send(`client${i}:${r}`, h.port)));
    }
    for (const [i, c] of clients.entries()) {
      const got = (await c.received.waitFor(() => true, `client ${i} replies`, rounds)).map((x) => x.msg.toString());
      assert.equal(got.length, rounds);
      assert.deepEqual([...got].sort(), Array.from({ length: rounds }, (_, r) => `client${i}:${r}`).sort());
      for (const x of c.received.items) assert.equal(x.from.port, h.port, 'replies come from the proxy address');
    }
    assert.equal(h.picks(), 3);
    assert.equal(h.stats.total, 3);
    // One upstream socket per flow: the upstream saw 3 distinct source ports.
    assert.equal(new Set(up.received.items.map((x) => x.from.port)).size, 3);
  });

  it('expires an idle flow; the next datagram opens a new flow with a new upstream socket', async (t) => {
    const up = await echo(t);
    const h = await startProxy(t, () => tcpAddr(V4, up.port), { udp: udp({ flowIdleTimeout: 1000 }) });
    const [c] = await peers(t, 1);
    await c!.send('one', h.port);
    assert.equal((await c!.recv()).toString(), 'one');
    const [closed] = await h.closes.waitFor((e) => e.reason === 'idle', 'idle expiry');
    assert.equal(closed!.remote.port, c!.port);
    assert.deepEqual(h.proxy.flowStats(), { flowsActive: 0, flowsTotal: 1, flowsExpired: 1, flowsEvicted: 0 });
    assert.equal(h.stats.active, 0);

    await c!.send('two', h.port);
    assert.equal((await c!.recv()).toString(), 'two');
    assert.equal(h.picks(), 2);
    assert.equal(h.stats.total, 2);
    assert.equal(h.proxy.flowStats().flowsTotal, 2);
    const [first, second] = up.received.items.map((x) => x.from.port);
    assert.notEqual(first, second, 'the new flow has its own upstream socket');
  });

  it('evicts the least recently active flow beyond maxFlows and counts SWY_FLOW_EVICTED', async (t) => {
    const up = await echo(t);
    const h = await startProxy(t, () => tcpAddr(V4, up.port), { udp: udp({ maxFlows: 2 }) });
    const [a, b, c] = await peers(t, 3);
    await a!.send('a1', h.port);
    await a!.recv();
    await b!.send('b1', h.port);
    await b!.recv();
    await a!.send('a2', h.port); // a is now more recent than b
    await a!.recv();
    await c!.send('c1', h.port); // table full: b goes
    assert.equal((await c!.recv()).toString(), 'c1');
    const [ev] = await h.closes.waitFor((e) => e.reason === 'evicted', 'eviction');
    assert.equal(ev!.remote.port, b!.port);
    assert.deepEqual(h.proxy.flowStats(), { flowsActive: 2, flowsTotal: 3, flowsExpired: 0, flowsEvicted: 1 });
    assert.equal(h.stats.errors.get(ErrorCodes.FLOW_EVICTED), 1);
    assert.equal(h.stats.active, 2);
    // a survived and still works on its first flow
    await a!.send('a3', h.port);
    assert.equal((await a!.recv()).toString(), 'a3');
    assert.equal(h.picks(), 3);
  });

  it('asks pickUpstream once per flow: round robin over 2 upstreams across flows', async (t) => {
    const ua = await echo(t, V4, 'A:');
    const ub = await echo(t, V4, 'B:');
    const ups = [ua, ub];
    let next = 0;
    const h = await startProxy(t, () => tcpAddr(V4, ups[next++ % 2]!.port));
    const clients = await peers(t, 4);
    for (const [i, c] of clients.entries()) {
      await c.send(`first${i}`, h.port); // flows are created in client order
      await c.recv();
    }
    await Promise.all(clients.map((c, i) => c.send(`second${i}`, h.port)));
    for (const [i, c] of clients.entries()) {
      const tag = i % 2 === 0 ? 'A:' : 'B:';
      assert.equal(c.received.items[0]!.msg.toString(), `${tag}first${i}`);
      assert.equal((await c.recv()).toString(), `${tag}second${i}`);
    }
    assert.equal(h.picks(), 4, 'picked per flow, not per datagram');
    assert.equal(ua.received.items.length, 4);
    assert.equal(ub.received.items.length, 4);
  });

  it('works over IPv6 (listener, upstream and clients on ::1)', async (t) => {
    const up = await echo(t, V6);
    const h = await startProxy(t, () => tcpAddr(V6, up.port), { listen: tcpAddr(V6, 0) });
    assert.equal(h.proxy.address().family, 'IPv6');
    assert.equal(h.proxy.address().address, V6);
    const [c] = await peers(t, 1, V6);
    const payload = randomBytes(60_000);
    await c!.send(payload, h.port, V6);
    assert.ok((await c!.recv()).equals(payload));
    assert.deepEqual(h.opens.items[0]!.remote, { address: V6, port: c!.port, family: 'IPv6' });
  });

  it('bridges an IPv6 listener to an IPv4 upstream', async (t) => {
    const up = await echo(t, V4);
    const h = await startProxy(t, () => tcpAddr(V4, up.port), { listen: tcpAddr(V6, 0) });
    const [c] = await peers(t, 1, V6);
    await c!.send('x', h.port, V6);
    assert.equal((await c!.recv()).toString(), 'x');
  });

  it('counts ECONNREFUSED from a closed upstream port as SWY_UPSTREAM_REFUSED, keeps the flow and serves others', async (t) => {
    const dead = await deadPort();
    const up = await echo(t);
    const targets = [dead, up.port];
    const h = await startProxy(t, () => tcpAddr(V4, targets.shift() ?? up.port));
    const [c1, c2] = await peers(t, 2);
    await c1!.send('to nowhere', h.port);
    await h.errors.waitFor((code) => code === ErrorCodes.UPSTREAM_REFUSED, 'SWY_UPSTREAM_REFUSED');
    assert.ok((h.stats.errors.get(ErrorCodes.UPSTREAM_REFUSED) ?? 0) >= 1);
    assert.equal(h.proxy.flowStats().flowsActive, 1, 'the refused flow is kept');
    assert.equal(h.closes.items.length, 0);
    await c2!.send('ok', h.port);
    assert.equal((await c2!.recv()).toString(), 'ok');
    // The refused flow keeps counting (each datagram may draw another ICMP port unreachable).
    await c1!.send('still nowhere', h.port);
    await h.errors.waitFor((code) => code === ErrorCodes.UPSTREAM_REFUSED, 'second refusal', 2);
    assert.equal(h.proxy.flowStats().flowsActive, 2);
  });

  it('drops datagrams over maxDatagramSize both ways, counting SWY_FRAME_TOO_LARGE', async (t) => {
    const up = await echo(t, V4, '+'); // replies are one byte longer
    const h = await startProxy(t, () => tcpAddr(V4, up.port), { udp: udp({ maxDatagramSize: 1000 }) });
    const [c] = await peers(t, 1);
    await c!.send(Buffer.alloc(1001, 1), h.port);
    await h.errors.waitFor((code) => code === ErrorCodes.FRAME_TOO_LARGE, 'client datagram too large');
    assert.equal(h.proxy.flowStats().flowsTotal, 0, 'an oversized datagram opens no flow');
    await c!.send(Buffer.alloc(999, 2), h.port);
    assert.equal((await c!.recv()).length, 1000);
    await c!.send(Buffer.alloc(1000, 3), h.port); // the 1001-byte reply is dropped
    await h.errors.waitFor((code) => code === ErrorCodes.FRAME_TOO_LARGE, 'upstream reply too large', 2);
    assert.equal(h.stats.errors.get(ErrorCodes.FRAME_TOO_LARGE), 2);
    assert.equal(h.stats.bytesToUpstream, 999 + 1000);
    assert.equal(h.stats.bytesToDownstream, 1000);
    assert.equal(c!.received.items.length, 1);
  });

  it('closes a flow whose upstream cannot be picked, counting SWY_NO_UPSTREAM', async (t) => {
    const h = await startProxy(t, () => {
      throw new Error('no endpoints');
    });
    const [c] = await peers(t, 1);
    await c!.send('x', h.port);
    await h.closes.waitFor((e) => e.reason === 'closed', 'flow closed');
    assert.equal(h.stats.errors.get(ErrorCodes.NO_UPSTREAM), 1);
    assert.equal(h.stats.active, 0);
  });

  it('close() releases every socket and timer; the port can be bound again; stats stay readable', async (t) => {
    const up = await echo(t);
    const clients = await peers(t, 3);
    const before = udpHandles();
    const stats = new TrafficStats();
    const proxy = await UdpProxy.start({ id: 'closing', listen: tcpAddr(V4, 0), udp: udp({ flowIdleTimeout: 60_000 }), stats, pickUpstream: () => tcpAddr(V4, up.port) });
    t.after(() => proxy.close());
    const port = proxy.address().port;
    for (const c of clients) {
      await c.send('x', port);
      await c.recv();
    }
    assert.equal(udpHandles(), before + 1 + 3, 'listening socket + one upstream socket per flow');
    await proxy.close();
    await proxy.close(); // idempotent
    assert.equal(udpHandles(), before, 'all proxy sockets closed');
    assert.ok(!process.getActiveResourcesInfo().includes('Timeout'), 'no sweep timer left');
    assert.equal(stats.active, 0);
    assert.equal(stats.total, 3);
    assert.equal(stats.bytesToUpstream, 3);
    assert.deepEqual(proxy.flowStats(), { flowsActive: 0, flowsTotal: 3, flowsExpired: 0, flowsEvicted: 0 });
    // The port is free again, for a plain socket and for a new proxy.
    const again = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind({ port, address: V4, exclusive: true }, () => resolve());
    });
    await new Promise<void>((resolve) => again.close(() => resolve()));
    const second = await UdpProxy.start({ id: 'again', listen: tcpAddr(V4, port), udp: udp(), stats: new TrafficStats(), pickUpstream: () => tcpAddr(V4, up.port) });
    t.after(() => second.close());
    assert.equal(second.address().port, port);
  });

  it('fails to start on a port in use with SWY_LISTEN_FAILED, and refuses Unix addresses', async (t) => {
    const [busy] = await peers(t, 1);
    await assert.rejects(
      UdpProxy.start({ id: 'busy', listen: tcpAddr(V4, busy!.port), udp: udp(), stats: new TrafficStats(), pickUpstream: () => tcpAddr(V4, 1) }),
      (err: { code?: string }) => err.code === ErrorCodes.LISTEN_FAILED,
    );
    await assert.rejects(
      UdpProxy.start({ id: 'unix', listen: { kind: 'unix', path: '/tmp/x.sock' }, udp: udp(), stats: new TrafficStats(), pickUpstream: () => tcpAddr(V4, 1) }),
      (err: { code?: string }) => err.code === ErrorCodes.CONFIG_INVALID,
    );
    await assert.rejects(
      UdpProxy.start({ id: 'bad', listen: tcpAddr(V4, 0), udp: udp({ maxDatagramSize: 70_000 }), stats: new TrafficStats(), pickUpstream: () => tcpAddr(V4, 1) }),
      (err: { code?: string }) => err.code === ErrorCodes.CONFIG_INVALID,
    );
  });
});

describe('UdpListenerObject (run-time listener)', () => {
  it('routes flows round robin over the cluster and counts into listener, route and cluster stats', async (t) => {
    const ua = await echo(t, V4, 'A:');
    const ub = await echo(t, V4, 'B:');
    const cluster = new Cluster({
      id: 'dns',
      endpoints: [ua, ub].map((u) => ({ address: tcpAddr(V4, u.port), weight: 1 })),
      balancer: 'round_robin',
      connectTimeout: 1000,
      socket: { noDelay: true, keepAlive: 0 },
    });
    cluster.start();
    const route = new Route({ id: 'r', listener: 'udp-in', cluster: 'dns' });
    route.start();
    const table = new RouteTable();
    table.publish([route], new Map([['dns', cluster]]));
    const config: ListenerConfig = {
      id: 'udp-in',
      transport: 'udp',
      listen: tcpAddr(V4, 0),
      framing: { toUpstream: { type: 'passthrough', options: {} }, toDownstream: { type: 'passthrough', options: {} } },
      maxConnections: 0,
      maxConnectionsPerSource: 0,
      idleTimeout: 0,
      requestHeaderTimeout: 0,
      requestTimeout: 0,
      minDataRate: { bytesPerSecond: 0, grace: 5000 },
      backlog: 511,
      socket: { noDelay: true, keepAlive: 0, splice: 'auto' },
      udp: udp(),
    };
    const listener = new UdpListenerObject(config, { director: table, framers: new FramerRegistry(), logger: silentLogger() });
    t.after(() => listener.stop());
    assert.equal(listener.state, 'created');
    await listener.start();
    assert.equal(listener.state, 'started');
    const port = listener.address?.kind === 'tcp' ? listener.address.port : 0;
    assert.ok(port > 0);
    const clients = await peers(t, 2);
    const replies: string[] = [];
    for (const c of clients) {
      await c.send('hi', port);
      replies.push((await c.recv()).toString());
    }
    assert.deepEqual(replies, ['A:hi', 'B:hi']);
    for (const s of [listener.stats, route.stats, cluster.stats]) {
      assert.equal(s.total, 2);
      assert.equal(s.active, 2);
      assert.equal(s.bytesToUpstream, 4);
      assert.equal(s.bytesToDownstream, 8);
    }
    assert.equal((listener.toJSON().flows as { flowsActive: number }).flowsActive, 2);
    await listener.stop();
    assert.equal(listener.state, 'stopped');
    for (const s of [listener.stats, route.stats, cluster.stats]) assert.equal(s.active, 0);
  });

  it('counts SWY_NO_UPSTREAM when the listener has no route', async (t) => {
    // The run-time object has no hooks; its logger is the event source here.
    const logs = new Recorder<{ code?: string; msg?: string }>();
    const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line) as { code?: string }) });
    const config = {
      id: 'lonely',
      transport: 'udp',
      listen: tcpAddr(V4, 0),
      framing: { toUpstream: { type: 'passthrough', options: {} }, toDownstream: { type: 'passthrough', options: {} } },
      maxConnections: 0,
      maxConnectionsPerSource: 0,
      idleTimeout: 0,
      requestHeaderTimeout: 0,
      requestTimeout: 0,
      minDataRate: { bytesPerSecond: 0, grace: 5000 },
      backlog: 511,
      socket: { noDelay: true, keepAlive: 0, splice: 'auto' },
      udp: udp(),
    } satisfies ListenerConfig;
    const listener = new UdpListenerObject(config, { director: new RouteTable(), framers: new FramerRegistry(), logger });
    await listener.start();
    t.after(() => listener.stop());
    const [c] = await peers(t, 1);
    const port = listener.address?.kind === 'tcp' ? listener.address.port : 0;
    await c!.send('x', port);
    await logs.waitFor((l) => l.code === ErrorCodes.NO_UPSTREAM, 'no-upstream log');
    assert.equal(listener.stats.errors.get(ErrorCodes.NO_UPSTREAM), 1);
    assert.equal(listener.stats.active, 0);
    assert.equal((listener.toJSON().flows as { flowsActive: number }).flowsActive, 0);
  });
});
