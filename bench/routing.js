// Routing benchmark (issue 12): the cost of deciding a route per request.
//   HTTP: per-request routing over 8 routes (`path: /rN/*`, one cluster each; the load hits the last route, so all
//         8 matches are evaluated) vs HTTP protocol mode with one route. 1 KiB request + 1 KiB response, keep-alive.
//   Redis: per-command routing over two clusters (`key: a:*` → A, `key: b:*` → B; the load alternates SET a:… and
//         GET b:…) vs Redis protocol mode with one route (every command to A). Two redis-server processes.
// Figures are ratios against the one-route mode measured in the same run (interleaved rounds, medians).
//
// Processes (all on 127.0.0.1): this orchestrator; a node:http upstream (child); two redis-server (when
// /usr/bin/redis-server exists); the proxies under test (bin/switchyard.js run -c <generated config>); the load
// generator (child: this file with --load). Every loop is bounded in count and time.
// Usage: node bench/routing.js [--quick] [--repeat N] [--only http,redis] [--out FILE]   (needs `npm run build`)
import { fork, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { httpLoad } from './lib/http-load.js';
import { redisLoad } from './lib/redis-load.js';
import { binLaunch } from './lib/launch.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const HOST = '127.0.0.1';
const REDIS_SERVER = '/usr/bin/redis-server';
var BODY = Buffer.alloc(1024, 'x'); // var: used by the child roles dispatched below at module evaluation

if (process.argv[2] === '--upstream') {
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY.length });
      res.end(BODY);
    });
  });
  server.listen(0, HOST, () => process.send({ port: server.address().port }));
  process.on('message', (m) => m === 'stop' && server.close(() => process.exit(0)));
} else if (process.argv[2] === '--load') {
  process.on('message', async (m) => {
    if (m === 'stop') process.exit(0);
    const { kind, ...opts } = m;
    process.send(kind === 'redis' ? await redisLoad({ ...opts, host: HOST }) : await httpLoad({ ...opts, host: HOST, body: BODY }));
  });
  process.send({ ready: true });
} else {
  await main();
}

function child(args, name) {
  const c = fork(fileURLToPath(import.meta.url), args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const first = new Promise((resolve, reject) => {
    c.once('message', resolve);
    c.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
  return { c, first };
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, HOST, () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function waitPort(port, what) {
  for (let i = 0; i < 200; i++) {
    const up = await new Promise((resolve) => {
      const s = net.connect({ host: HOST, port });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not start on ${port}`);
}

async function startRedis() {
  const port = await freePort();
  const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' });
  await waitPort(port, 'redis-server');
  return { port, stop: () => stopProc(proc) };
}

async function startSwitchyard(dir, name, config) {
  const port = await freePort();
  const cfg = { log: { level: 'warn' }, ...config(`${HOST}:${port}`) };
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(cfg));
  const launch = binLaunch(root);
  const proc = spawn(process.execPath, [...launch.flags, path.join(root, 'bin', 'switchyard.js'), 'run', '-c', file], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...launch.env } });
  proc.once('exit', (code) => code && process.stderr.write(`bench/routing: ${name}: switchyard exited with ${code}\n`));
  await waitPort(port, `switchyard (${name})`);
  return { port, pid: proc.pid, stop: () => stopProc(proc) };
}

/** CPU time (user + system) of a process so far, in µs, from /proc (undefined where /proc is missing). */
function cpuMicros(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

function stopProc(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve();
    const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
    proc.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

function median(xs) {
  const a = [...xs].sort((x, y) => x - y);
  return a[Math.floor(a.length / 2)];
}

function httpOne(up) {
  return (listen) => ({
    listeners: [{ id: 'bench', listen, protocol: 'http' }],
    clusters: [{ id: 'up', endpoints: [`${HOST}:${up}`] }],
    routes: [{ id: 'r', listener: 'bench', cluster: 'up' }],
  });
}

function httpEight(up) {
  return (listen) => ({
    listeners: [{ id: 'bench', listen, protocol: 'http' }],
    clusters: Array.from({ length: 8 }, (_, i) => ({ id: `up${i}`, endpoints: [`${HOST}:${up}`] })),
    routes: Array.from({ length: 8 }, (_, i) => ({ id: `r${i}`, listener: 'bench', cluster: `up${i}`, match: { path: `/r${i}/*` } })),
  });
}

function redisOne(a) {
  return (listen) => ({
    listeners: [{ id: 'bench', listen, protocol: 'redis' }],
    clusters: [{ id: 'a', endpoints: [`${HOST}:${a}`] }],
    routes: [{ id: 'r', listener: 'bench', cluster: 'a' }],
  });
}

function redisTwo(a, b) {
  return (listen) => ({
    listeners: [{ id: 'bench', listen, protocol: 'redis' }],
    clusters: [
      { id: 'a', endpoints: [`${HOST}:${a}`] },
      { id: 'b', endpoints: [`${HOST}:${b}`] },
    ],
    routes: [
      { id: 'ra', listener: 'bench', cluster: 'a', match: { key: 'a:*' }, default: true },
      { id: 'rb', listener: 'bench', cluster: 'b', match: { key: 'b:*' } },
    ],
  });
}

async function main() {
  const { values: opts } = parseArgs({ options: { quick: { type: 'boolean', default: false }, repeat: { type: 'string' }, only: { type: 'string' }, out: { type: 'string' } }, allowPositionals: false });
  const quick = opts.quick;
  const repeat = opts.repeat ? Number(opts.repeat) : quick ? 1 : 3;
  const only = (opts.only ?? 'http,redis').split(',');
  const cfg = quick ? { conns: 16, timeMs: 1500, warmupMs: 300, maxRequests: 500_000 } : { conns: 16, timeMs: 4000, warmupMs: 1000, maxRequests: 2_000_000 };
  if (!existsSync(path.join(root, 'dist', 'cli', 'main.js'))) {
    process.stderr.write('bench/routing: dist/ is missing; run `npm run build`\n');
    process.exit(2);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'swy-routing-bench-'));
  const upstream = child(['--upstream'], 'upstream');
  const loader = child(['--load'], 'load');
  const { port: upPort } = await upstream.first;
  await loader.first;
  const stops = [];
  const pairs = [];
  try {
    if (only.includes('http')) {
      const base = await startSwitchyard(dir, 'http-one', httpOne(upPort));
      const routed = await startSwitchyard(dir, 'http-eight', httpEight(upPort));
      stops.push(base.stop, routed.stop);
      pairs.push({ name: 'HTTP per-request routing (8 routes) vs HTTP protocol mode (1 route)', kind: 'http', goal: 0.9, base: { port: base.port, path: '/r7/bench', pid: base.pid }, routed: { port: routed.port, path: '/r7/bench', pid: routed.pid } });
    }
    if (only.includes('redis')) {
      if (!existsSync(REDIS_SERVER)) process.stderr.write(`bench/routing: ${REDIS_SERVER} is missing; Redis skipped\n`);
      else {
        const [a, b] = [await startRedis(), await startRedis()];
        stops.push(a.stop, b.stop);
        const base = await startSwitchyard(dir, 'redis-one', redisOne(a.port));
        const routed = await startSwitchyard(dir, 'redis-two', redisTwo(a.port, b.port));
        stops.push(base.stop, routed.stop);
        pairs.push({ name: 'Redis per-command routing (2 clusters) vs Redis protocol mode (1 route)', kind: 'redis', goal: 0.7, base: { port: base.port, pid: base.pid }, routed: { port: routed.port, pid: routed.pid } });
      }
    }
    // the proxy's CPU time over the whole trial (warm-up included) ÷ every request answered in it
    const run = async (kind, { pid, ...target }) => {
      const cpu0 = cpuMicros(pid);
      const t = await new Promise((resolve) => {
        loader.c.once('message', resolve);
        loader.c.send({ kind, ...cfg, ...target });
      });
      const cpu1 = cpuMicros(pid);
      // requests in the warm-up are not counted by the load: estimated at the measured rate
      const answered = (t.count ?? t.rps * (cfg.timeMs / 1000)) * ((cfg.timeMs + cfg.warmupMs) / cfg.timeMs);
      return { ...t, cpuPerReq: cpu0 === undefined || cpu1 === undefined || !answered ? undefined : (cpu1 - cpu0) / answered };
    };
    for (const p of pairs) p.trials = { base: [], routed: [] };
    for (let i = 0; i < repeat; i++) {
      for (const p of pairs) {
        for (const side of ['base', 'routed']) {
          const t = await run(p.kind, p[side]);
          p.trials[side].push(t);
          process.stderr.write(`bench/routing: round ${i + 1}/${repeat} ${p.kind} ${side}: ${t.rps.toFixed(0)} req/s, p99 ${t.p99.toFixed(3)} ms, ${t.cpuPerReq === undefined ? '' : `${t.cpuPerReq.toFixed(1)} µs proxy CPU/req, `}${t.errors} errors\n`);
        }
      }
    }
  } finally {
    for (const stop of stops) await stop();
    loader.c.send('stop');
    upstream.c.send('stop');
  }
  const rows = [['comparison', 'base req/s', 'routed req/s', 'ratio', 'per-round ratios', 'base p99 ms', 'routed p99 ms', 'CPU µs/req base, routed', 'target', '']];
  const results = {};
  for (const p of pairs) {
    const b = { rps: median(p.trials.base.map((t) => t.rps)), p99: median(p.trials.base.map((t) => t.p99)) };
    const r = { rps: median(p.trials.routed.map((t) => t.rps)), p99: median(p.trials.routed.map((t) => t.p99)) };
    const errors = [...p.trials.base, ...p.trials.routed].reduce((a, t) => a + t.errors, 0);
    const ratio = r.rps / b.rps;
    const rounds = p.trials.base.map((t, i) => p.trials.routed[i].rps / t.rps);
    const cpu = (side) => (p.trials[side].every((t) => t.cpuPerReq !== undefined) ? median(p.trials[side].map((t) => t.cpuPerReq)) : undefined);
    const cpuB = cpu('base');
    const cpuR = cpu('routed');
    results[p.name] = { base: { ...b, cpuPerReq: cpuB }, routed: { ...r, cpuPerReq: cpuR }, ratio, rounds, errors, trials: p.trials };
    const cpuCol = cpuB === undefined || cpuR === undefined ? '–' : `${cpuB.toFixed(1)}, ${cpuR.toFixed(1)} (${(cpuB / cpuR).toFixed(2)}×)`;
    rows.push([p.name, b.rps.toFixed(0), r.rps.toFixed(0), ratio.toFixed(2), rounds.map((x) => x.toFixed(2)).join(' '), b.p99.toFixed(3), r.p99.toFixed(3), cpuCol, `≥ ${p.goal}×`, (ratio >= p.goal ? 'met' : 'NOT MET') + (errors ? `, ${errors} errors` : '')]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const out = rows.map((r, j) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |${j === 0 ? `\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|` : ''}`);
  process.stdout.write(`\nrouting bench — ${cfg.conns} keep-alive connections, one request in flight each, median of ${repeat} interleaved round(s); ratio = routed req/s ÷ one-route req/s; CPU µs/req = the proxy process's CPU time per request answered (the bracket: base ÷ routed, the routed proxy's cost as a rate ratio on a saturated core)\n${out.join('\n')}\n`);
  const outFile = path.resolve(opts.out ?? path.join(here, 'results', 'routing-latest.json'));
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify({ node: process.version, nproc: os.cpus().length, config: cfg, repeat, results }, null, 2)}\n`);
}
