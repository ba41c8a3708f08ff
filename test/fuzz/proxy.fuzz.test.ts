/**
 * Codec fuzzing end to end (issue 10): one proxy with a listener per protocol module; hundreds of mutated recorded
 * transcripts are sent over real sockets (client side only: the servers answer for themselves), while well-behaved
 * real clients (ioredis, pg) keep working on their own connections through the same proxy. The proxy must not
 * crash, the good clients see only correct answers, every mutated connection ends, and the listeners' active
 * connection counts return to the good clients' own.
 *
 * Upstreams: Redis 6379 and PostgreSQL 5432 (shared services; the recorded traffic only touches swy:fuzz:* keys and
 * temporary tables), memcached started here, node:http and smtp-server in-process. MySQL traffic goes to a replayer
 * of a recorded server conversation instead of the shared MariaDB: mangled handshakes count toward the server's
 * max_connect_errors, which would block 127.0.0.1 for every other user of it.
 *
 * FUZZ_CONNECTIONS: mutated connections (default 240; `npm run fuzz` sends more). FUZZ_SEED: the seed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { startYard } from '../helpers/yard.js';
import { eventually, freePort } from '../helpers/net.js';
import { reachable } from '../helpers/services.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { corpora } from './inputs.js';
import { Rng, chunks, mutateTranscript } from './mutate.js';

const CONNECTIONS = Number(process.env.FUZZ_CONNECTIONS ?? 240);
const SEED = Number(process.env.FUZZ_SEED ?? 20261206);
const HOST = '127.0.0.1';
const MEMCACHED = '/usr/bin/memcached';
/** A mutated connection that has not ended by then is destroyed by the test (and counted). */
const CONNECTION_DEADLINE_MS = 5_000;

const stops: (() => Promise<void>)[] = [];
let mcProc: ChildProcess | undefined;

async function listen(server: net.Server | http.Server): Promise<number> {
  server.listen(0, HOST);
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

/** Plays a recorded server side: its greeting, then the next recorded answer for each client write. */
async function startReplayer(script: readonly Buffer[][]): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let next = 0;
    const play = (): void => {
      for (const b of script[next++] ?? []) s.write(b);
    };
    play();
    s.on('data', play);
    s.on('end', () => s.end());
  });
  const port = await listen(server);
  stops.push(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  return port;
}

/** The server side of a recorded transcript in groups: what the server sent before each client step. */
function serverScript(steps: readonly { from: 'c' | 's'; bytes: Buffer }[]): Buffer[][] {
  const groups: Buffer[][] = [[]];
  for (const s of steps) {
    if (s.from === 'c') groups.push([]);
    else groups[groups.length - 1]!.push(s.bytes);
  }
  return groups;
}

async function startUpstreams(): Promise<Record<string, number>> {
  const httpServer = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(`ok ${req.method} ${req.url}`));
    req.on('error', () => undefined);
  });
  httpServer.on('clientError', (_err, socket) => socket.destroy());
  const httpPort = await listen(httpServer);
  stops.push(() => new Promise<void>((resolve) => {
    httpServer.closeAllConnections();
    httpServer.close(() => resolve());
  }));
  const smtp = new SMTPServer({
    authOptional: true,
    disableReverseLookup: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _s, cb) {
      stream.resume();
      stream.on('end', () => cb());
    },
  });
  smtp.on('error', () => undefined);
  await new Promise<void>((resolve) => smtp.listen(0, HOST, () => resolve()));
  stops.push(() => new Promise<void>((resolve) => smtp.close(() => resolve())));
  const mysqlPort = await startReplayer(serverScript(corpora.get('mysql')![0]!));
  const ports: Record<string, number> = { http: httpPort, smtp: (smtp.server.address() as net.AddressInfo).port, mysql: mysqlPort, redis: 6379, postgres: 5432 };
  if (existsSync(MEMCACHED)) {
    const mcPort = await freePort();
    mcProc = spawn(MEMCACHED, ['-l', HOST, '-p', String(mcPort), '-U', '0', '-u', 'root'], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !(await reachable(HOST, mcPort)); i++) await new Promise((r) => setTimeout(r, 50));
    ports.memcache = mcPort;
  }
  return ports;
}

let yard: Switchyard;
let ports: Record<string, number> = {};
const proxyPorts: Record<string, number> = {};
let servicesUp = false;

before(async () => {
  servicesUp = (await reachable(HOST, 6379)) && (await reachable(HOST, 5432));
  if (!servicesUp) return;
  ports = await startUpstreams();
  const protocols = Object.keys(ports);
  yard = await startYard({
    listeners: protocols.map((p) => ({ id: p, listen: `${HOST}:0`, protocol: p })),
    clusters: protocols.map((p) => ({ id: p, endpoints: [`${HOST}:${ports[p]}`] })),
    routes: protocols.map((p) => ({ id: p, listener: p, cluster: p })),
  });
  for (const p of protocols) {
    const a = yard.listeners.get(p)!.address!;
    proxyPorts[p] = a.kind === 'tcp' ? a.port : 0;
  }
});

after(async () => {
  await yard?.close();
  for (const stop of stops.reverse()) await stop();
  if (mcProc && mcProc.exitCode === null) {
    mcProc.kill('SIGTERM');
    await once(mcProc, 'exit');
  }
});

function describeSessions(p: string): string {
  const l = yard.listeners.get(p) as unknown as { sessions?: Set<{ state: string; client: net.Socket; upstream?: { destroyed?: boolean; readableEnded?: boolean; writableEnded?: boolean } }> };
  return JSON.stringify([...(l.sessions ?? [])].map((s) => ({ state: s.state, client: { destroyed: s.client.destroyed, rEnded: s.client.readableEnded, wEnded: s.client.writableEnded }, up: s.upstream && { destroyed: s.upstream.destroyed, rEnded: s.upstream.readableEnded, wEnded: s.upstream.writableEnded } })));
}

/** Send one mutated transcript's client side; resolves when the connection has ended (or was cut by the deadline). */
async function sendMutated(protocol: string, rng: Rng): Promise<'closed' | 'cut'> {
  const recorded = corpora.get(protocol)!;
  const pool = recorded.flatMap((t) => t.map((s) => s.bytes));
  const steps = mutateTranscript(rng, rng.pick(recorded), pool).filter((s) => s.from === 'c');
  const socket = net.connect(proxyPorts[protocol]!, HOST);
  socket.on('error', () => undefined);
  socket.resume();
  // not events.once: it would reject on the socket's errors (EPIPE, ECONNRESET), which are expected here
  const closed = new Promise<'closed'>((resolve) => socket.on('close', () => resolve('closed')));
  await Promise.race([new Promise((resolve) => socket.on('connect', resolve)), closed]);
  for (const step of steps) {
    for (const c of chunks(rng, step.bytes)) if (socket.writable) socket.write(c);
    // let the server answer between steps, as the recorded client did (sometimes: pipelined instead)
    if (rng.chance(0.7)) await new Promise((r) => setTimeout(r, rng.int(3)));
  }
  if (rng.chance(0.8)) socket.end();
  else socket.destroy();
  let timer: NodeJS.Timeout | undefined;
  const cut = new Promise<'cut'>((resolve) => (timer = setTimeout(() => resolve('cut'), CONNECTION_DEADLINE_MS)));
  const outcome = await Promise.race([closed, cut]);
  clearTimeout(timer);
  socket.destroy();
  return outcome;
}

test(`fuzz through the proxy: ${CONNECTIONS} mutated connections while good ioredis and pg clients keep working`, async (t) => {
  if (!servicesUp) {
    if (process.env['CI']) assert.fail('Redis 6379 and PostgreSQL 5432 are required in CI');
    t.skip('Redis 6379 or PostgreSQL 5432 is not reachable');
    return;
  }
  const redis = new Redis({ host: HOST, port: proxyPorts.redis!, maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true });
  const pgc = new pg.Client({ host: HOST, port: proxyPorts.postgres!, user: 'postgres', database: 'test' });
  await redis.connect();
  await pgc.connect();
  let stop = false;
  const good = { redis: 0, postgres: 0 };
  // the good clients: every answer checked; bounded in count, and stopped when the fuzzing is done
  const redisLoop = (async () => {
    for (let i = 0; !stop && i < 1_000_000; i++) {
      const key = `swy:fuzz:good:${i % 16}`;
      assert.equal(await redis.set(key, `v${i}`, 'EX', 60), 'OK');
      assert.equal(await redis.get(key), `v${i}`);
      good.redis++;
    }
  })();
  const pgLoop = (async () => {
    for (let i = 0; !stop && i < 1_000_000; i++) {
      const r = await pgc.query<{ n: number; s: string }>('select $1::int + 1 as n, $2::text as s', [i, `q${i}`]);
      assert.deepEqual(r.rows, [{ n: i + 1, s: `q${i}` }]);
      good.postgres++;
    }
  })();
  try {
    const outcomes: Record<string, { closed: number; cut: number }> = {};
    const protocols = Object.keys(proxyPorts);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < CONNECTIONS) {
        const i = next++;
        const rng = new Rng((SEED + i * 7919) >>> 0);
        const protocol = protocols[i % protocols.length]!;
        const o = await sendMutated(protocol, rng);
        const s = (outcomes[protocol] ??= { closed: 0, cut: 0 });
        s[o]++;
      }
    };
    try {
      await Promise.all(Array.from({ length: 6 }, worker));
    } finally {
      stop = true;
      await Promise.all([redisLoop, pgLoop]);
    }
    if (process.env.FUZZ_VERBOSE) console.log(JSON.stringify({ outcomes, good }));
    assert.ok(good.redis > 0 && good.postgres > 0, `the good clients worked: ${JSON.stringify(good)}`);
    // every mutated connection is gone from the proxy; the good clients' connections remain
    for (const p of protocols) {
      const want = p === 'redis' || p === 'postgres' ? 1 : 0;
      await eventually(() => yard.listeners.get(p)!.stats.active === want, `${p}: active connections back to ${want} (now ${yard.listeners.get(p)!.stats.active}) ${describeSessions(p)}`, 15_000);
    }
    // and still answer
    assert.equal(await redis.ping(), 'PONG');
    assert.deepEqual((await pgc.query('select 1 as one')).rows, [{ one: 1 }]);
    const total = Object.values(outcomes).reduce((n, o) => n + o.closed + o.cut, 0);
    assert.equal(total, CONNECTIONS);
  } finally {
    redis.disconnect();
    await pgc.end().catch(() => undefined);
  }
});
