// Chaos benchmark (issue 3): HTTP/1.1 keep-alive request rate and latency percentiles with 1 KiB requests and
// 1 KiB responses, through: direct, switchyard raw passthrough, a chain of no-op faults, HTTP protocol mode, and a
// latency 0 fault; plus Toxiproxy when a `toxiproxy-server` binary is on PATH. Figures are ratios of raw
// passthrough measured in the same run.
//
// Processes (all on 127.0.0.1): this orchestrator; an upstream node:http server (child); the proxy under test
// (child: bin/switchyard.js run -c <generated config>); the load generator (child: this file with --load).
// Every loop is bounded in count and time.
import { fork, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { httpLoad } from './lib/http-load.js';
import { binLaunch } from './lib/launch.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const HOST = '127.0.0.1';
var BODY = Buffer.alloc(1024, 'x'); // var: used by the child roles dispatched below at module evaluation

// ---- child roles --------------------------------------------------------------------------------------------

if (process.argv[2] === '--upstream') {
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    let n = 0;
    req.on('data', (c) => (n += c.length));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY.length, 'x-got': String(n) });
      res.end(BODY);
    });
  });
  server.listen(0, HOST, () => process.send({ port: server.address().port }));
  process.on('message', (m) => m === 'stop' && server.close(() => process.exit(0)));
} else if (process.argv[2] === '--load') {
  process.on('message', async (m) => {
    if (m === 'stop') process.exit(0);
    process.send(await load(m));
  });
  process.send({ ready: true });
} else {
  await main();
}

/** The shared HTTP load (bench/lib/http-load.js) against this bench's request body. */
function load(opts) {
  return httpLoad({ ...opts, host: HOST, body: BODY });
}

// ---- orchestration ------------------------------------------------------------------------------------------

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

async function startSwitchyard(dir, name, listener, upstreamPort) {
  const port = await freePort();
  const cfg = {
    log: { level: 'warn' },
    listeners: [{ id: 'bench', listen: `${HOST}:${port}`, ...listener }],
    clusters: [{ id: 'up', endpoints: [`${HOST}:${upstreamPort}`] }],
    routes: [{ id: 'r', listener: 'bench', cluster: 'up' }],
  };
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(cfg));
  const launch = binLaunch(root); // the bin's shebang line: its environment and node flags
  const proc = spawn(process.execPath, [...launch.flags, path.join(root, 'bin', 'switchyard.js'), 'run', '-c', file], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...launch.env } });
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name}: switchyard did not start`)), 20_000);
    proc.stdout.on('data', (d) => {
      if (d.toString().includes('listener bench')) {
        clearTimeout(t);
        resolve();
      }
    });
    proc.once('exit', (code) => reject(new Error(`${name}: switchyard exited with ${code}`)));
  });
  return { port, stop: () => stopProc(proc) };
}

async function startToxiproxy(upstreamPort) {
  const which = spawnSync('sh', ['-c', 'command -v toxiproxy-server'], { encoding: 'utf8' });
  if (which.status !== 0) return undefined;
  const apiPort = await freePort();
  const port = await freePort();
  const proc = spawn(which.stdout.trim(), ['-host', HOST, '-port', String(apiPort)], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://${HOST}:${apiPort}/proxies`, { method: 'POST', body: JSON.stringify({ name: 'bench', listen: `${HOST}:${port}`, upstream: `${HOST}:${upstreamPort}` }) });
      if (r.status === 201) return { port, stop: () => stopProc(proc) };
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stopProc(proc);
  return undefined;
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

async function main() {
  const { values: opts } = parseArgs({ options: { quick: { type: 'boolean', default: false }, repeat: { type: 'string' }, out: { type: 'string' } }, allowPositionals: false });
  const quick = opts.quick;
  const repeat = opts.repeat ? Number(opts.repeat) : quick ? 1 : 5;
  const cfg = quick ? { conns: 16, timeMs: 1500, warmupMs: 300, maxRequests: 500_000 } : { conns: 16, timeMs: 4000, warmupMs: 1000, maxRequests: 2_000_000 };
  if (!existsSync(path.join(root, 'dist', 'cli', 'main.js'))) {
    process.stderr.write('bench/chaos: dist/ is missing; run `npm run build` (npm run bench does)\n');
    process.exit(2);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'swy-chaos-bench-'));
  const upstream = child(['--upstream'], 'upstream');
  const loader = child(['--load'], 'load');
  const { port: upstreamPort } = await upstream.first;
  await loader.first;
  const runLoad = (port) =>
    new Promise((resolve) => {
      loader.c.once('message', resolve);
      loader.c.send({ port, ...cfg });
    });
  const modes = [
    ['direct', null],
    ['raw passthrough', {}],
    ['no-op fault chain (3)', { faults: [{ name: 'n1', type: 'noop' }, { name: 'n2', type: 'noop' }, { name: 'n3', type: 'noop' }] }],
    ['HTTP protocol mode', { protocol: 'http', faults: [] }],
    ['latency 0', { faults: [{ type: 'latency', attributes: { latency: 0 } }] }],
    ['toxiproxy (no toxics)', 'toxiproxy'],
  ];
  const results = {};
  const targets = [];
  try {
    // Every proxy runs for the whole benchmark (an idle one costs nothing) and the trials go round the modes, so a
    // drift of the machine hits every mode alike instead of the modes measured last.
    for (const [name, listener] of modes) {
      let target;
      if (listener === null) target = { port: upstreamPort, stop: async () => {} };
      else if (listener === 'toxiproxy') {
        target = await startToxiproxy(upstreamPort);
        if (!target) {
          results[name] = { skipped: 'no toxiproxy-server on PATH' };
          continue;
        }
      } else target = await startSwitchyard(dir, name.replace(/\W+/g, '-'), listener, upstreamPort);
      targets.push([name, target]);
      results[name] = { trials: [] };
    }
    for (let i = 0; i < repeat; i++) {
      for (const [name, target] of targets) {
        const t = await runLoad(target.port);
        results[name].trials.push(t);
        process.stderr.write(`bench/chaos: round ${i + 1}/${repeat} ${name}: ${t.rps.toFixed(0)} req/s, p99 ${t.p99.toFixed(3)} ms\n`);
      }
    }
    for (const [name] of targets) {
      const trials = results[name].trials;
      results[name] = { rps: median(trials.map((t) => t.rps)), p50: median(trials.map((t) => t.p50)), p99: median(trials.map((t) => t.p99)), errors: trials.reduce((a, t) => a + t.errors, 0), trials };
    }
  } finally {
    for (const [, target] of targets) await target.stop();
    loader.c.send('stop');
    upstream.c.send('stop');
  }
  const base = results['raw passthrough'];
  const goals = { 'no-op fault chain (3)': 0.9, 'HTTP protocol mode': 0.7 };
  const rows = [['mode', 'req/s', 'p50 ms', 'p99 ms', 'req/s vs raw', 'p99 vs raw', 'target', '']];
  for (const [name, r] of Object.entries(results)) {
    if (r.skipped) {
      rows.push([name, '-', '-', '-', '-', '-', '', r.skipped]);
      continue;
    }
    const rr = r.rps / base.rps;
    const pr = base.p99 / r.p99;
    const t = goals[name];
    rows.push([name, r.rps.toFixed(0), r.p50.toFixed(3), r.p99.toFixed(3), rr.toFixed(2), pr.toFixed(2), t ? `≥ ${t}×` : '', t ? (rr >= t ? 'met' : 'NOT MET') : r.errors ? `${r.errors} errors` : '']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const out = rows.map((r, j) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |${j === 0 ? `\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|` : ''}`);
  process.stdout.write(`\nchaos bench — HTTP/1.1 keep-alive, ${cfg.conns} connections, 1 KiB request + 1 KiB response, median of ${repeat} interleaved rounds; ratios vs raw passthrough (higher is better)\n${out.join('\n')}\n`);
  const outFile = path.resolve(opts.out ?? path.join(here, 'results', 'chaos-latest.json'));
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify({ node: process.version, nproc: os.cpus().length, config: cfg, repeat, results }, null, 2)}\n`);
}
