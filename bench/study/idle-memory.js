// Memory per idle proxied connection: open N client connections through a proxy to a 127.0.0.1 node:http backend
// (each sends one keep-alive request, reads its answer and then stays open, idle), and read the proxy's VmRSS from
// /proc/PID/status before (after a warm-up of 200 such connections, closed again) and after; divide by N.
//
//   node bench/study/idle-memory.js --variants pipe,pass,pass-js,noop3,http --conns 8000
//
// Variants as in callgrind.js: pipe (bench/pipe-proxy.js), pass (`switchyard proxy`, splice(2) path where
// available), pass-js (the same with SWITCHYARD_SPLICE_ADDON=off), noop3 (three no-op faults), http (protocol: http);
// `NAME:FLAGS` adds node flags (separated by spaces). Needs `npm run build`. Descriptors: the proxy holds 2 per
// connection (4 on the splice path, whose listener keeps spliced connections within a quarter of `ulimit -n`: past
// that they take the JS path), the load process 1 per connection: `ulimit -n` must exceed 2 × conns + 100 (the
// tool checks). Bounded: each step has a time limit, every child is killed at exit.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, scratch, waitListening } from './lib.js';

const { values: opt } = parseArgs({
  options: {
    variants: { type: 'string', default: 'pipe,pass,pass-js,noop3,http' },
    conns: { type: 'string', default: '8000' },
    parallel: { type: 'string', default: '100' },
    settle: { type: 'string', default: '1500' },
  },
});
const here = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const CONNS = Number(opt.conns);
const { tmp, children } = scratch('sy-idle-', false);

const limit = Number(fs.readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+(\d+)/)?.[1] ?? 0);
if (limit > 0 && limit < 2 * CONNS + 100) {
  process.stderr.write(`ulimit -n is ${limit}: ${CONNS} connections need at least ${2 * CONNS + 100} (raise it, or use fewer --conns)\n`);
  process.exit(2);
}

async function startBackend() {
  const port = await freePort();
  // no idle timeout: the connections stay open as long as the load keeps them
  const code = `const srv = require('node:http').createServer((q, s) => { q.resume(); q.on('end', () => { s.writeHead(200, { 'content-length': 64 }); s.end(Buffer.alloc(64, 'x')); }); }); srv.keepAliveTimeout = 0; srv.headersTimeout = 0; srv.requestTimeout = 0; srv.maxConnections = Infinity; srv.listen({ port: ${port}, host: '127.0.0.1', backlog: 4096 });`;
  const c = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  children.push(c);
  await waitListening(port);
  return port;
}

function proxyCommand(name, listen, upstream) {
  const variant = name.split(':')[0];
  const flags = name.includes(':') ? name.slice(name.indexOf(':') + 1).split(' ').filter((f) => f.length > 0) : [];
  const env = { ...process.env, MALLOC_TRIM_THRESHOLD_: '67108864' };
  const bin = path.join(here, 'bin/switchyard.js');
  const yaml = (extra) => {
    const f = path.join(tmp, `${variant}-${listen}.yaml`);
    fs.writeFileSync(f, `listeners:\n  - id: in\n    listen: 127.0.0.1:${listen}\n    backlog: 4096\n${extra}clusters:\n  - { id: up, endpoints: ["127.0.0.1:${upstream}"] }\nroutes:\n  - { id: r, listener: in, cluster: up }\n`);
    return f;
  };
  const node = ['--initial-heap-size=64', ...flags];
  switch (variant) {
    case 'pipe':
      return { args: [...flags, path.join(here, 'bench/pipe-proxy.js'), '--listen', `127.0.0.1:${listen}`, '--upstream', `127.0.0.1:${upstream}`], env: process.env };
    case 'pass':
    case 'pass-js':
      return {
        args: [...node, bin, 'proxy', '--listen', `127.0.0.1:${listen}`, '--upstream', `127.0.0.1:${upstream}`, '--log-level', 'warn'],
        env: variant === 'pass-js' ? { ...env, SWITCHYARD_SPLICE_ADDON: 'off' } : env,
      };
    case 'noop3':
      return { args: [...node, bin, 'run', '-c', yaml('    faults:\n      - { type: noop, name: n0 }\n      - { type: noop, name: n1 }\n      - { type: noop, name: n2 }\n'), '--log-level', 'warn'], env };
    case 'http':
      return { args: [...node, bin, 'run', '-c', yaml('    protocol: http\n'), '--log-level', 'warn'], env };
    default:
      throw new Error(`unknown variant ${variant}`);
  }
}

function rssKiB(pid) {
  const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(st)[1]);
}

/** One connection: a keep-alive request, its whole answer, then left open. Resolves with the socket. */
function openOne(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => reject(new Error('no answer within 30 s')), 30_000);
    s.setEncoding('latin1');
    s.on('connect', () => s.write('GET / HTTP/1.1\r\nHost: b\r\n\r\n'));
    s.on('data', (d) => {
      got += d;
      if (got.includes('\r\n\r\n') && got.length >= got.indexOf('\r\n\r\n') + 4 + 64) {
        clearTimeout(timer);
        resolve(s);
      }
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function openMany(port, n, parallel) {
  const socks = [];
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < n) {
      next++;
      socks.push(await openOne(port));
    }
  }));
  return socks;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(variant, backend) {
  const port = await freePort();
  const { args, env } = proxyCommand(variant, port, backend);
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  await waitListening(port);
  // warm-up: the code paths run once, so "before" is a proxy that has served connections
  for (const s of await openMany(port, 200, 20)) s.destroy();
  await sleep(Number(opt.settle));
  const before = rssKiB(child.pid);
  const t0 = Date.now();
  const socks = await openMany(port, CONNS, Number(opt.parallel));
  const openMs = Date.now() - t0;
  await sleep(Number(opt.settle));
  const after = rssKiB(child.pid);
  const stillOpen = socks.filter((s) => !s.destroyed && s.readyState === 'open').length;
  for (const s of socks) s.destroy();
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  return { variant, before, after, perConn: (after - before) / CONNS, stillOpen, openMs };
}

const backend = await startBackend();
process.stdout.write(`| variant | RSS before, KiB | RSS with ${CONNS} idle connections, KiB | KiB per connection | still open |\n|:--|--:|--:|--:|--:|\n`);
for (const v of opt.variants.split(',')) {
  const r = await measure(v, backend);
  process.stdout.write(`| ${v} | ${r.before} | ${r.after} | ${r.perConn.toFixed(1)} | ${r.stillOpen} |\n`);
}
process.exit(0);
