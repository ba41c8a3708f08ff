/**
 * Records the fuzz seed corpora (`test/fuzz/corpus/`): real clients talk to real servers through a recording TCP
 * tap that forwards bytes unchanged and writes down every chunk of both directions, per connection, in order.
 *
 *   node --import tsx test/fuzz/record.ts        (npm run fuzz:record)
 *
 * Needs Redis on 127.0.0.1:6379, PostgreSQL on 127.0.0.1:5432 (user postgres, db test), MariaDB/MySQL on
 * 127.0.0.1:3306 (root, no password, db test) and /usr/bin/memcached (started here on a free port); the HTTP and SMTP
 * servers are started in-process (node:http, smtp-server). The generic framers' seeds are generated here too.
 * The output is deterministic enough to diff but not byte-stable (server versions, random salts and keys).
 */
import net from 'node:net';
import http from 'node:http';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { request as undiciRequest, Agent } from 'undici';
import { SMTPServer } from 'smtp-server';
import nodemailer from 'nodemailer';
import { freePort } from '../helpers/net.js';
import { type Corpus, type Transcript, writeCorpus } from './corpus.js';

const HOST = '127.0.0.1';
const OUT = join(dirname(fileURLToPath(import.meta.url)), 'corpus');

interface Tap {
  port: number;
  transcripts: Transcript[];
  close(): Promise<void>;
}

/** A relay that records both directions of every connection as ordered steps. */
async function startTap(upstreamPort: number): Promise<Tap> {
  const transcripts: Transcript[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const steps: Transcript = [];
    transcripts.push(steps);
    const upstream = net.connect({ host: HOST, port: upstreamPort, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    client.on('data', (d: Buffer) => { steps.push({ from: 'c', bytes: Buffer.from(d) }); upstream.write(d); });
    upstream.on('data', (d: Buffer) => { steps.push({ from: 's', bytes: Buffer.from(d) }); client.write(d); });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    transcripts,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Let the last bytes of a closing connection arrive at the tap. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 200));

async function recordRedis(): Promise<Transcript[]> {
  const tap = await startTap(6379);
  const r = new Redis({ host: HOST, port: tap.port, lazyConnect: true, enableReadyCheck: true });
  await r.connect();
  const k = 'swy:fuzz:';
  await r.set(`${k}a`, 'hello', 'EX', 60);
  await r.get(`${k}a`);
  await r.mget(`${k}a`, `${k}missing`);
  await r.incr(`${k}n`);
  await r.hset(`${k}h`, { f1: 'v1', f2: 'a\r\nb' });
  await r.hgetall(`${k}h`);
  await r.rpush(`${k}l`, 'x', 'y', 'z');
  await r.lrange(`${k}l`, 0, -1);
  await r.pipeline().ping().echo('pipelined').get(`${k}missing`).exec();
  await r.multi().incr(`${k}n`).get(`${k}n`).exec();
  await r.call('FOO').catch(() => undefined);
  await r.eval('return {1, "two", {3}}', 0);
  await r.set(`${k}big`, 'v'.repeat(3000));
  await r.get(`${k}big`);
  await r.del(`${k}a`, `${k}n`, `${k}h`, `${k}l`, `${k}big`);
  const sub = new Redis({ host: HOST, port: tap.port });
  await sub.subscribe(`${k}chan`);
  await r.publish(`${k}chan`, 'message!');
  await new Promise((res) => sub.once('message', res));
  sub.disconnect();
  r.disconnect();
  await settle();
  await tap.close();
  return tap.transcripts;
}

async function recordPostgres(): Promise<Transcript[]> {
  const tap = await startTap(5432);
  const c = new pg.Client({ host: HOST, port: tap.port, user: 'postgres', database: 'test', application_name: 'swy-fuzz' });
  await c.connect();
  await c.query('select 1 as one, $1::text as t', ['param']);
  await c.query('create temp table fz (id int primary key, name text)');
  await c.query('insert into fz values (1, $1), (2, $2)', ['a', null]);
  await c.query({ text: 'select * from fz where id > $1', values: [0], name: 'fz_sel' });
  await c.query({ text: 'select * from fz where id > $1', values: [1], name: 'fz_sel' });
  await c.query('begin; select pg_notify($$c$$, $$x$$); commit');
  await c.query('select nosuchcolumn').catch(() => undefined);
  await c.query("select repeat('x', 2000) as long, now(), '{1,2}'::int[]");
  await c.end();
  await settle();
  await tap.close();
  return tap.transcripts;
}

async function recordMysql(): Promise<Transcript[]> {
  const tap = await startTap(3306);
  const c = await mysql.createConnection({ host: HOST, port: tap.port, user: 'root', database: 'test', multipleStatements: true });
  await c.query('select 1 as one, ? as t', ['param']);
  await c.query('create temporary table fz (id int primary key, name varchar(20))');
  await c.execute('insert into fz values (?, ?), (?, ?)', [1, 'a', 2, null]);
  await c.execute('select * from fz where id > ?', [0]);
  await c.query('select 1; select 2');
  await c.query('select nosuchcolumn').catch(() => undefined);
  await c.query("select repeat('x', 2000) as l, now()");
  await c.ping();
  await c.end();
  await settle();
  await tap.close();
  return tap.transcripts;
}

async function recordMemcache(): Promise<Transcript[]> {
  const port = await freePort();
  const proc = spawn('/usr/bin/memcached', ['-l', HOST, '-p', String(port), '-U', '0', '-u', 'root'], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((res) => {
        const s = net.connect(port, HOST, () => (s.destroy(), res(true)));
        s.on('error', () => res(false));
      });
      if (ok) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const tap = await startTap(port);
    // a text-protocol client over net: one command, wait for its answer, next
    const s = net.connect(tap.port, HOST);
    await once(s, 'connect');
    let got = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (got += d));
    const cmd = async (line: string, done: RegExp): Promise<void> => {
      got = '';
      s.write(line);
      while (!done.test(got)) await once(s, 'data');
    };
    await cmd('set fz:a 5 0 5\r\nhello\r\n', /STORED\r\n$/);
    await cmd('add fz:a 0 0 1\r\nx\r\n', /NOT_STORED\r\n$/);
    await cmd('get fz:a fz:missing\r\n', /END\r\n$/);
    await cmd('gets fz:a\r\n', /END\r\n$/);
    await cmd('incr fz:n 1\r\n', /\r\n$/);
    await cmd('set fz:n 0 0 1\r\n7\r\n', /STORED\r\n$/);
    await cmd('incr fz:n 5\r\n', /12\r\n$/);
    await cmd('set fz:q 0 0 2 noreply\r\nqq\r\nget fz:q\r\n', /END\r\n$/);
    await cmd('touch fz:a 10\r\n', /\r\n$/);
    await cmd('bogus\r\n', /ERROR\r\n$/);
    await cmd('delete fz:a\r\n', /DELETED\r\n$/);
    await cmd('version\r\n', /VERSION .*\r\n$/);
    await cmd('mg fz:n v\r\n', /\r\n$/);
    s.end();
    await settle();
    await tap.close();
    return tap.transcripts;
  } finally {
    proc.kill('SIGTERM');
  }
}

async function recordHttp(): Promise<Transcript[]> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('part one;');
        res.end('part two');
      } else if (req.url === '/404') {
        res.writeHead(404).end('nope');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString() }));
      }
    });
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  const tap = await startTap((server.address() as net.AddressInfo).port);
  const base = `http://${HOST}:${tap.port}`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (path: string, method = 'GET', body?: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.request(`${base}${path}`, { method, agent, headers: body ? { 'content-type': 'text/plain' } : {} }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end(body);
    });
  await get('/a?x=1');
  await get('/chunked');
  await get('/post', 'POST', 'a body');
  await get('/head', 'HEAD');
  await get('/404');
  await new Promise<void>((resolve, reject) => {
    const req = http.request(`${base}/stream`, { method: 'PUT', agent }, (res) => (res.resume(), res.on('end', resolve)));
    req.on('error', reject);
    req.write('chunk-1;');
    req.end('chunk-2');
  });
  agent.destroy();
  const dispatcher = new Agent({ pipelining: 2 });
  await (await undiciRequest(`${base}/undici`, { dispatcher })).body.text();
  await (await undiciRequest(`${base}/undici-post`, { method: 'POST', body: 'x'.repeat(1500), dispatcher })).body.text();
  await dispatcher.close();
  await settle();
  await tap.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return tap.transcripts;
}

async function recordSmtp(): Promise<Transcript[]> {
  const server = new SMTPServer({
    authOptional: true,
    disableReverseLookup: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      stream.resume();
      stream.on('end', () => callback());
    },
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, () => resolve()));
  const tap = await startTap((server.server.address() as net.AddressInfo).port);
  const transport = nodemailer.createTransport({ host: HOST, port: tap.port, secure: false, ignoreTLS: true });
  await transport.sendMail({ from: 'a@example.com', to: ['b@example.com', 'c@example.com'], subject: 'fuzz', text: 'line one\r\n.leading dot\r\nline three\r\n' });
  await transport.sendMail({ from: 'a@example.com', to: 'b@example.com', subject: 'attachment', text: 'see attached', attachments: [{ filename: 'x.txt', content: 'y'.repeat(800) }] });
  transport.close();
  await settle();
  await tap.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return tap.transcripts;
}

/** Seeds for the generic framers: valid streams in each framer's fuzz configuration (see codecs.fuzz.test.ts). */
function framerSeeds(): Record<string, Transcript[]> {
  const c = (...parts: (string | Buffer)[]): Transcript => parts.map((p) => ({ from: 'c', bytes: typeof p === 'string' ? Buffer.from(p, 'latin1') : p }));
  const lp = (payload: string, size: 2 | 4 | 8, little = false, withHeader = false): Buffer => {
    const b = Buffer.from(payload, 'latin1');
    const h = Buffer.alloc(size);
    const n = b.length + (withHeader ? size : 0);
    if (size === 2) h.writeUInt16BE(n);
    else if (size === 4 && little) h.writeUInt32LE(n);
    else if (size === 4) h.writeUInt32BE(n);
    else h.writeBigInt64BE(BigInt(n));
    return Buffer.concat([h, b]);
  };
  return {
    line: [c('PING\r\nHELLO world\n', 'a\r\n\nlast line\r\n'), c('x'.repeat(300) + '\r\n')],
    delimiter: [c('one|two||three|', 'four\r\n|'), c('a\x00b|c\r\n')],
    // one transcript per fuzzed configuration: u16 BE with its header, u32 LE, i64 counting its header
    'length-prefixed': [
      c(lp('hello', 2), lp('', 2), lp('x'.repeat(200), 2)),
      c(lp('hello', 4, true), lp('', 4, true), lp('y'.repeat(300), 4, true)),
      c(lp('hello', 8, false, true), lp('', 8, false, true), lp('z'.repeat(100), 8, false, true)),
    ],
    netstring: [c('5:hello,0:,', '11:hello world,'), c('3:a,b,')],
    cobs: [c(Buffer.from([0x03, 0x11, 0x22, 0x02, 0x33, 0x00, 0x01, 0x01, 0x00])), c(Buffer.from([0x05, 0x61, 0x62, 0x63, 0x64, 0x00]))],
    fixed: [c('abcdefgh', '12345678abcd'), c('x'.repeat(64))],
    passthrough: [c('any bytes at all', Buffer.from([0, 1, 2, 255]))],
  };
}

async function main(): Promise<void> {
  const corpus: Corpus = {};
  corpus.redis = await recordRedis();
  corpus.postgres = await recordPostgres();
  corpus.mysql = await recordMysql();
  corpus.memcache = await recordMemcache();
  corpus.http = await recordHttp();
  corpus.smtp = await recordSmtp();
  Object.assign(corpus, framerSeeds());
  mkdirSync(OUT, { recursive: true });
  for (const [name, transcripts] of Object.entries(corpus)) {
    const bytes = writeCorpus(OUT, name, transcripts);
    console.log(`${name}: ${transcripts.length} connections, ${bytes} bytes`);
  }
}

await main();
process.exit(0);
