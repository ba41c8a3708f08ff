// N-variant benchmark (issue 4): HTTP/1.1 keep-alive request rate and latency percentiles (1 KiB request, 1 KiB
// response, the same load as bench/chaos.js) through:
//   direct                     load → backend 1
//   raw passthrough            switchyard, listener without protocol → cluster of backend 1 (zero-copy path)
//   single passthrough         switchyard, listener `protocol: http` → cluster of backend 1: THE BASELINE of the ratios
//   bare fan-out N=3 (ref.)    a reference, not switchyard: the least a Node fan-out does (this file with --fanout:
//                              each request written to backends 1–3 in one write each, answers compared, backend
//                              1's written back once all three answered); shows what N=3 can reach on this machine
//   N=3 unanimous              switchyard, `replicate: {variants: [b1, b2, b3], policy: unanimous}`
//   N=3 primary                the same with `policy: primary` (variant 0 served at once, compared in the background)
//   mirror 100 %               switchyard, cluster prod (backend 1) + `mirror: {cluster: shadow (backend 2), fraction: 1}`
// Each mode is measured twice per round: under load (16 connections, one request in flight each: the figures the
// targets apply to) and at light load (1 connection), which shows the latency a request pays when the CPU is not
// saturated. Targets: N=3 unanimous ≥ 0.45× the request rate of single passthrough; primary and mirror p50 ≤ 1.10×
// single passthrough's.
//
// Processes (all on 127.0.0.1, port 0 or a port that was free a moment before): this orchestrator (no traffic);
// three backends (children: this file with --upstream; identical node:http servers that count the requests and
// connections they get); the bare fan-out (child: --fanout); the switchyard processes (bin/switchyard.js run -c
// <generated config>, node --initial-heap-size=64 like the bin's shebang, with an admin API for /metrics); the load
// generator (child: --load). Every proxy is started once and idles while another mode is measured. Rounds go
// round the modes (median of 5 rounds, 3 through `npm run bench`); every loop is bounded in count and time. Results: stdout (tables), bench/results/nvariant-latest.json (every trial).
import { fork, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuSeconds, coresBusy, freePort, installCleanup, machineCpu, spawnProxy, stop, track, waitQuiet } from './lib/proc.js';
import { httpLoad } from './lib/http-load.js';
import { binLaunch } from './lib/launch.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const HOST = '127.0.0.1';
var BODY = Buffer.alloc(1024, 'x'); // var: used by the child roles dispatched below at module evaluation

// ---- child roles (IPC: {id, cmd, args} → {id, result}) -------------------------------------------------------

if (process.argv[2] === '--upstream') {
  let answered = 0;
  let connections = 0;
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    let n = 0;
    req.on('data', (c) => (n += c.length));
    req.on('end', () => {
      answered++;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY.length, 'x-got': String(n) });
      res.end(BODY);
    });
  });
  server.on('connection', () => connections++);
  server.listen(0, HOST, () => process.send({ type: 'ready', port: server.address().port }));
  process.on('message', (m) => {
    if (m?.cmd === 'count') process.send({ id: m.id, result: { requests: answered, connections } });
  });
  process.on('SIGTERM', () => process.exit(0));
} else if (process.argv[2] === '--fanout') {
  // The reference for N=3: the least a Node fan-out can do. Each request (cut by Content-Length) goes to every
  // backend in one write; the answers are cut the same way, and once all backends answered a request, their status
  // lines and bodies are compared and backend 1's answer is written in one write (502 if they differ).
  const ports = process.argv.slice(3).map(Number);
  const server = net.createServer({ noDelay: true }, (client) => {
    const exchanges = [];
    const waiting = ports.map(() => []);
    const flush = () => {
      while (exchanges.length > 0 && exchanges[0].left === 0) {
        const { answers } = exchanges.shift();
        const same = answers.every((a) => a.status.equals(answers[0].status) && a.body.equals(answers[0].body));
        client.write(same ? answers[0].message : 'HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n');
      }
    };
    const ups = ports.map((port, i) => {
      const s = net.connect({ host: HOST, port, noDelay: true });
      s.on('error', () => client.destroy());
      s.on('close', () => client.destroy());
      s.on(
        'data',
        cutter((message, bodyAt) => {
          const ex = waiting[i].shift();
          if (!ex) return client.destroy();
          ex.answers[i] = { message, status: message.subarray(0, message.indexOf('\r\n')), body: message.subarray(bodyAt) };
          if (--ex.left === 0) flush();
        }),
      );
      return s;
    });
    client.on(
      'data',
      cutter((request) => {
        const ex = { answers: [], left: ports.length };
        exchanges.push(ex);
        for (let i = 0; i < ups.length; i++) {
          waiting[i].push(ex);
          ups[i].write(request);
        }
      }),
    );
    client.on('error', () => {});
    client.on('close', () => ups.forEach((u) => u.destroy()));
  });
  server.listen(0, HOST, () => process.send({ type: 'ready', port: server.address().port }));
  process.on('SIGTERM', () => process.exit(0));
} else if (process.argv[2] === '--load') {
  process.on('message', async (m) => {
    if (m?.cmd === 'load') process.send({ id: m.id, result: await load(m.args) });
  });
  process.send({ type: 'ready' });
  process.on('SIGTERM', () => process.exit(0));
} else {
  await main();
}

/** Cuts an HTTP/1.1 byte stream into messages by Content-Length: onMessage(message, offset of the body). */
function cutter(onMessage) {
  let buf = null;
  return (chunk) => {
    buf = buf ? Buffer.concat([buf, chunk]) : chunk;
    while (buf) {
      const head = buf.indexOf('\r\n\r\n');
      if (head < 0) return;
      const m = /content-length: *(\d+)/i.exec(buf.latin1Slice(0, head));
      const total = head + 4 + (m ? Number(m[1]) : 0);
      if (buf.length < total) return;
      onMessage(buf.subarray(0, total), head + 4);
      buf = buf.length === total ? null : buf.subarray(total);
    }
  };
}

/** The shared HTTP load (bench/lib/http-load.js) against this bench's request body. */
function load(opts) {
  return httpLoad({ ...opts, host: HOST, body: BODY });
}

// ---- orchestration ------------------------------------------------------------------------------------------

/** Fork this file in a role; resolves to {pid, call(cmd, args), stop(), ...first message}. */
async function helper(role, name, args = []) {
  const child = track(fork(fileURLToPath(import.meta.url), [role, ...args], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }), name);
  let nextId = 1;
  const pending = new Map();
  child.on('message', (m) => {
    if (m?.id !== undefined && pending.has(m.id)) {
      pending.get(m.id)(m.result);
      pending.delete(m.id);
    }
  });
  const first = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name}: not ready after 10 s`)), 10_000);
    child.on('message', (m) => m?.type === 'ready' && (clearTimeout(t), resolve(m)));
    child.once('exit', (code) => (clearTimeout(t), reject(new Error(`${name} exited with ${code}`))));
  });
  const call = (cmd, args, timeoutMs) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const t = setTimeout(() => (pending.delete(id), reject(new Error(`${name}: ${cmd} timed out after ${timeoutMs} ms`))), timeoutMs);
      pending.set(id, (v) => (clearTimeout(t), resolve(v)));
      child.send({ id, cmd, args });
    });
  return { ...first, pid: child.pid, call, stop: () => stop(child) };
}

/** One switchyard process: `bin/switchyard.js run -c <config>` with an admin API (to read its metrics at the end). */
async function startSwitchyard(dir, name, build) {
  const port = await freePort();
  const adminPort = await freePort();
  // An explicit token, so a SWITCHYARD_ADMIN_TOKEN in the environment does not lock the bench out of /metrics.
  const token = `bench-${process.pid}-${port}`;
  const cfg = { log: { level: 'warn' }, admin: { listen: `${HOST}:${adminPort}`, token }, ...build(`${HOST}:${port}`) };
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(cfg, null, 2));
  const launch = binLaunch(root); // the bin's shebang line: its environment and node flags
  const p = spawnProxy([...launch.flags, path.join(root, 'bin', 'switchyard.js'), 'run', '-c', file], `switchyard(${name})`, 'admin API:', undefined, launch.env);
  await p.ready;
  return { port, adminPort, token, pid: p.pid, proc: p, config: cfg, stop: () => stop(p.child) };
}

function median(xs) {
  const a = xs.filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  if (a.length === 0) return NaN;
  return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
}

function fmt(v, d = 0) {
  return Number.isFinite(v) ? v.toFixed(d) : '-';
}

/** A Markdown table; columns in `left` are text (left-aligned), the others numbers. */
function table(rows, left = [0]) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const sep = `|${widths.map((w, i) => (left.includes(i) ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return rows
    .map((r, j) => `| ${r.map((c, i) => (left.includes(i) ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(' | ')} |${j === 0 ? `\n${sep}` : ''}`)
    .join('\n');
}

/** The sample lines (not comments) of a Prometheus text exposition that match `re`. */
function metricLines(text, re) {
  return text.split('\n').filter((l) => !l.startsWith('#') && re.test(l));
}

async function main() {
  const { values: opts } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      repeat: { type: 'string' },
      out: { type: 'string' },
      'no-wait-quiet': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (opts.help) {
    process.stdout.write(`Usage: node --expose-gc bench/nvariant.js [--quick] [--repeat N] [--out FILE] [--no-wait-quiet]
  --quick          short runs (about 1 min)
  --repeat N       rounds (median reported; default 5, quick 1)
  --out FILE       results JSON (default bench/results/nvariant-latest.json)
  --no-wait-quiet  do not wait (≤ 10 s) for other processes to go quiet before each trial
`);
    return;
  }
  const quick = opts.quick;
  const repeat = opts.repeat ? Number(opts.repeat) : quick ? 1 : 5;
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 20) {
    process.stderr.write('bench/nvariant: --repeat: expected 1..20\n');
    process.exit(2);
  }
  const loaded = quick ? { conns: 16, timeMs: 1500, warmupMs: 300, maxRequests: 500_000 } : { conns: 16, timeMs: 4000, warmupMs: 1000, maxRequests: 2_000_000 };
  const light = quick ? { conns: 1, timeMs: 700, warmupMs: 200, maxRequests: 200_000 } : { conns: 1, timeMs: 1500, warmupMs: 300, maxRequests: 500_000 };
  if (!existsSync(path.join(root, 'dist', 'cli', 'main.js'))) {
    process.stderr.write('bench/nvariant: dist/ is missing; run `npm run build` (npm run bench does)\n');
    process.exit(2);
  }
  installCleanup();
  // The commit at the start (dist/ is what runs: build it from this tree first, as `npm run bench` does).
  const git = (...args) => spawnSync('git', args, { cwd: root, encoding: 'utf8' }).stdout?.trim() ?? '';
  const commit = git('rev-parse', '--short', 'HEAD');
  const dirty = git('status', '--porcelain') !== '';
  const log = (m) => process.stderr.write(`bench/nvariant: ${m}\n`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'swy-nvariant-bench-'));
  const started = performance.now();
  const backends = [];
  const proxies = [];
  let loader;
  let fanoutRef;
  const results = {};
  const metrics = {};
  const proxyStderr = {};
  const noisy = [];
  try {
    for (let i = 1; i <= 3; i++) backends.push(await helper('--upstream', `backend ${i}`));
    loader = await helper('--load', 'load');
    const [b1, b2, b3] = backends.map((b) => `${HOST}:${b.port}`);
    const cluster = (listen, listener) => ({ listeners: [{ id: 'bench', listen, ...listener }], clusters: [{ id: 'up', endpoints: [b1] }], routes: [{ id: 'app', listener: 'bench', cluster: 'up' }] });
    const replicate = (policy) => (listen) => ({
      listeners: [{ id: 'bench', listen, protocol: 'http' }],
      routes: [{ id: 'app', listener: 'bench', replicate: { variants: [b1, b2, b3], policy } }],
    });
    // [name, config builder (null: direct), backends that should see each request]
    const modes = [
      ['direct', null, [0]],
      ['raw passthrough', (listen) => cluster(listen, {}), [0]],
      ['single passthrough', (listen) => cluster(listen, { protocol: 'http' }), [0]],
      ['bare fan-out N=3 (ref.)', 'fanout', [0, 1, 2]],
      ['N=3 unanimous', replicate('unanimous'), [0, 1, 2]],
      ['N=3 primary', replicate('primary'), [0, 1, 2]],
      [
        'mirror 100 %',
        (listen) => ({
          listeners: [{ id: 'bench', listen, protocol: 'http' }],
          clusters: [
            { id: 'prod', endpoints: [b1] },
            { id: 'shadow', endpoints: [b2] },
          ],
          routes: [{ id: 'app', listener: 'bench', cluster: 'prod', mirror: { cluster: 'shadow', fraction: 1 } }],
        }),
        [0, 1],
      ],
    ];
    // Every proxy runs for the whole benchmark (an idle one costs nothing) and the trials go round the modes, so a
    // drift of the machine hits every mode alike instead of the modes measured last.
    const targets = [];
    for (const [name, build, fanout] of modes) {
      let target;
      if (build === null) target = { port: backends[0].port, pid: null };
      else if (build === 'fanout') {
        const f = await helper('--fanout', 'bare fan-out', backends.map((b) => String(b.port)));
        target = { port: f.port, pid: f.pid, stop: f.stop };
        fanoutRef = target;
      } else {
        target = await startSwitchyard(dir, name.replace(/\W+/g, '-').replace(/-+$/, ''), build);
        proxies.push([name, target]);
      }
      targets.push([name, target, fanout]);
      results[name] = { loaded: [], light: [] };
    }
    const counts = () => Promise.all(backends.map((b) => b.call('count', {}, 10_000)));
    const trial = async (name, target, fanout, cfg) => {
      let res;
      for (let attempt = 1; attempt <= 2; attempt++) {
        if (!opts['no-wait-quiet']) await waitQuiet({ maxCores: 0.25, maxWaitMs: 10_000 });
        const pids = { proxy: target.pid, load: loader.pid, backends: null };
        const cpu0 = { proxy: target.pid ? cpuSeconds(target.pid) : NaN, load: cpuSeconds(loader.pid), backends: backends.map((b) => cpuSeconds(b.pid)) };
        const n0 = await counts();
        const self0 = process.cpuUsage();
        const m0 = machineCpu();
        const t0 = performance.now();
        res = await loader.call('load', { port: target.port, ...cfg }, cfg.warmupMs + cfg.timeMs + 60_000);
        const wall = (performance.now() - t0) / 1000;
        const busy = coresBusy(m0, machineCpu(), os.availableParallelism());
        const self = process.cpuUsage(self0);
        const n1 = await counts();
        const proxyCpu = target.pid ? cpuSeconds(target.pid) - cpu0.proxy : 0;
        const backendCpu = backends.reduce((a, b, i) => a + cpuSeconds(b.pid) - cpu0.backends[i], 0);
        const loadCpu = cpuSeconds(pids.load) - cpu0.load;
        const ours = proxyCpu + backendCpu + loadCpu + (self.user + self.system) / 1e6;
        const answered = n1.map((n, i) => n.requests - n0[i].requests);
        const clientRequests = answered[0]; // backend 1 is in every mode's path and answers each request once
        res.cpu = { wall, proxy: proxyCpu, backends: backendCpu, load: loadCpu, coresBusy: busy, backgroundCores: Math.max(0, busy - ours / wall) };
        res.backendRequests = answered;
        res.backendConnections = n1.map((n, i) => n.connections - n0[i].connections);
        // CPU per request over the whole trial (warm-up included): the backends' count is of every request
        res.proxyCpuUsPerReq = target.pid ? (proxyCpu * 1e6) / clientRequests : NaN;
        res.backendCpuUsPerReq = (backendCpu * 1e6) / clientRequests;
        res.fanout = fanout.map((i) => answered[i] / clientRequests);
        res.attempts = attempt;
        res.noisy = res.cpu.backgroundCores > 0.3;
        if (!res.noisy || opts['no-wait-quiet']) break;
        log(`  (other processes used ${fmt(res.cpu.backgroundCores, 2)} cores during the trial; retrying once)`);
      }
      return res;
    };
    for (let i = 0; i < repeat; i++) {
      for (const [name, target, fanout] of targets) {
        for (const [kind, cfg] of [
          ['loaded', loaded],
          ['light', light],
        ]) {
          const t = await trial(name, target, fanout, cfg);
          if (t.noisy) noisy.push(`${name}/${kind}`);
          results[name][kind].push(t);
          log(
            `round ${i + 1}/${repeat} ${name} (${cfg.conns} conn${cfg.conns > 1 ? 's' : ''}): ${fmt(t.rps)} req/s, p50 ${fmt(t.p50, 3)} ms, p99 ${fmt(t.p99, 3)} ms; backends answered ${t.backendRequests.join('/')} on ${t.backendConnections.join('/')} new connections; cpu s proxy ${fmt(t.cpu.proxy, 2)} backends ${fmt(t.cpu.backends, 2)} load ${fmt(t.cpu.load, 2)}; background ${fmt(t.cpu.backgroundCores, 2)} cores${t.errors ? `; ${t.errors} errors` : ''}`,
          );
        }
      }
    }
    for (const [name, target] of proxies) {
      try {
        const r = await fetch(`http://${HOST}:${target.adminPort}/metrics`, { headers: { authorization: `Bearer ${target.token}` } });
        const text = await r.text();
        metrics[name] = metricLines(text, /^switchyard_(divergences_total|mirror_requests_total|errors_total)/);
        // The load generator destroys its sockets at the end of every trial: resets and EPIPEs are expected there.
      } catch (err) {
        metrics[name] = [`(could not read /metrics: ${err.message})`];
      }
      if (target.proc.stderrLines > 0) proxyStderr[name] = target.proc.stderr.slice(-1500);
    }
  } finally {
    for (const [, target] of proxies) await target.stop();
    if (fanoutRef) await fanoutRef.stop();
    if (loader) await loader.stop();
    for (const b of backends) await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  // ---- summary --------------------------------------------------------------------------------------------
  const summary = {};
  for (const [name, r] of Object.entries(results)) {
    const s = {};
    for (const kind of ['loaded', 'light']) {
      const ts = r[kind];
      s[kind] = {
        rps: median(ts.map((t) => t.rps)),
        p50: median(ts.map((t) => t.p50)),
        p99: median(ts.map((t) => t.p99)),
        errors: ts.reduce((a, t) => a + t.errors, 0),
        proxyCpuUsPerReq: median(ts.map((t) => t.proxyCpuUsPerReq)),
        backendCpuUsPerReq: median(ts.map((t) => t.backendCpuUsPerReq)),
        fanout: ts[0].fanout.map((_, i) => median(ts.map((t) => t.fanout[i]))),
      };
    }
    summary[name] = s;
  }
  const base = summary['single passthrough'];
  const mirror = summary['mirror 100 %'];
  const mirrorActive = mirror.loaded.fanout[1] > 0.5;
  const goals = {
    'N=3 unanimous': { text: 'req/s ≥ 0.45×', ok: (s) => s.loaded.rps / base.loaded.rps >= 0.45 },
    'N=3 primary': { text: 'p50 ≤ 1.10×', ok: (s) => s.loaded.p50 / base.loaded.p50 <= 1.1 },
    'mirror 100 %': { text: 'p50 ≤ 1.10×', ok: (s) => s.loaded.p50 / base.loaded.p50 <= 1.1, na: mirrorActive ? null : 'n/a: shadow got no requests' },
  };
  const verdicts = {};
  const rows = [['mode', 'req/s', 'p50 ms', 'p99 ms', 'req/s vs single', 'p50 vs single', 'p99 vs single', 'proxy CPU µs/req', 'backends CPU µs/req', 'backend req per req', 'target', 'met']];
  for (const [name, s] of Object.entries(summary)) {
    const L = s.loaded;
    const g = goals[name];
    let verdict = '';
    if (g) verdict = g.na ?? (g.ok(s) ? 'met' : 'NOT MET');
    if (g) verdicts[name] = { target: g.text, verdict };
    rows.push([
      name,
      fmt(L.rps),
      fmt(L.p50, 3),
      fmt(L.p99, 3),
      fmt(L.rps / base.loaded.rps, 2),
      fmt(L.p50 / base.loaded.p50, 2),
      fmt(L.p99 / base.loaded.p99, 2),
      fmt(L.proxyCpuUsPerReq, 1),
      fmt(L.backendCpuUsPerReq, 1),
      L.fanout.map((f) => fmt(f, 2)).join('+'),
      g ? g.text : '',
      [verdict, L.errors ? `${L.errors} errors` : ''].filter(Boolean).join('; '),
    ]);
  }
  const lightRows = [['mode', 'req/s', 'p50 ms', 'p99 ms', 'p50 vs single', 'p99 vs single', 'proxy CPU µs/req']];
  for (const [name, s] of Object.entries(summary)) {
    const L = s.light;
    lightRows.push([name, fmt(L.rps), fmt(L.p50, 3), fmt(L.p99, 3), fmt(L.p50 / base.light.p50, 2), fmt(L.p99 / base.light.p99, 2), fmt(L.proxyCpuUsPerReq, 1)]);
  }
  const out = [];
  out.push('');
  out.push(`N-variant bench — HTTP/1.1 keep-alive, ${loaded.conns} connections, 1 KiB request + 1 KiB response, median of ${repeat} interleaved round(s); ratios vs single passthrough (switchyard, protocol http, one backend): req/s value/base (higher is better), latency value/base (lower is better)`);
  out.push(table(rows, [0, 9, 10, 11]));
  out.push('');
  out.push(`light load — 1 connection, the same modes and rounds (latency without CPU saturation; no targets)`);
  out.push(table(lightRows));
  out.push('');
  out.push('"backend req per req": requests each backend of the mode answered per client request (backend 1 + 2 + 3; mirror: prod + shadow).');
  if (!mirrorActive) out.push(`mirror: the shadow backend answered ${fmt(mirror.loaded.fanout[1] * 100, 1)} % of the requests (fraction 1 configured): mirroring is not active in this build; its figures are those of a plain HTTP route`);
  out.push('CPU µs/req: CPU time of the proxy process (all threads) and of the three backend processes together, per client request, warm-up included.');
  for (const [name, lines] of Object.entries(metrics)) {
    if (!/N=3|mirror/.test(name)) continue;
    const divergences = lines.filter((l) => l.startsWith('switchyard_divergences_total')).reduce((a, l) => a + Number(l.split(' ').pop()), 0);
    const mirrored = lines.filter((l) => l.startsWith('switchyard_mirror_requests_total'));
    out.push(`${name}: ${divergences} divergences reported${mirrored.length ? `; ${mirrored.join('; ')}` : ''}`);
  }
  if (noisy.length) out.push(`noisy trials (other processes used > 0.3 cores even after a retry): ${noisy.join(', ')}`);
  for (const [name, tail] of Object.entries(proxyStderr)) out.push(`${name} stderr (tail): ${tail.trim().split('\n').slice(-3).join(' | ')}`);
  const outFile = path.resolve(opts.out ?? path.join(here, 'results', 'nvariant-latest.json'));
  out.push(`commit ${commit || '?'}${dirty ? ' (work tree has changes)' : ''}, node ${process.version}, ${os.availableParallelism()} cores`);
  out.push(`results: ${path.relative(process.cwd(), outFile)} (${fmt((performance.now() - started) / 1000)} s)`);
  process.stdout.write(`${out.join('\n')}\n`);
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    `${JSON.stringify({ date: new Date().toISOString(), commit, dirty, node: process.version, nproc: os.availableParallelism(), config: { loaded, light }, repeat, verdicts, mirrorActive, summary, metrics, proxyStderr, noisy, results }, null, 2)}\n`,
  );
}
