// gRPC benchmark (issue 13): unary RPC/s with p50/p99 latency at 16 and 64 concurrent calls over 1 and 4
// connections, and server-stream MiB/s, through:
//   direct            load → grpc-js server
//   bare h2 pipe      a bare node:http2 stream-piping proxy written for the bench (this file with --pipe): each
//                     client session gets one upstream session; each stream's headers are copied (pseudo-headers but
//                     :method/:path dropped), DATA piped both ways, response headers, trailers and trailers-only
//                     answers passed on; 4 MiB windows toward both sides. THE BASELINE of the switchyard ratios.
//   switchyard grpc   `bin/switchyard.js grpc --listen … --upstream …`, when that command exists (else skipped with a
//                     line saying why; without that command, `switchyard run -c` with a generated `protocol: grpc`
//                     listener when the config schema has one); then the same with 1 and 2 secondaries (their own
//                     grpc-js servers), for the cost of each added secondary
// Figures: calls per second, p50/p99 (ms), each target as a ratio of direct measured in the same run (and switchyard
// also of the bare pipe), and the proxy's CPU: calls (or MiB) per proxy CPU-second.
//
// Processes (all on 127.0.0.1): this orchestrator (no traffic); the grpc-js server (child: --server; a generic
// service with identity serializers, so no proto and no protobuf cost: /bench.Bench/Echo answers the request bytes,
// /bench.Bench/Stream answers COUNT messages of SIZE bytes read from an 8-byte request); the pipe proxy (child:
// --pipe); switchyard (child); the load client (child: --role-load; grpc-js, one grpc.Client per connection with its own
// subchannel pool, 4 MiB flow-control window; N calls kept in flight round-robin over the clients).
// Every loop is bounded in count and time. Results: stdout (tables), bench/results/grpc-latest.json (every trial).
// Pinned (--pinned, the shared TCP-proxy bench's method, for a quiet machine): this orchestrator, the load client and
// the grpc-js servers on CPU 0 (--load-cpu), each proxy (the bare pipe, switchyard) alone on CPU 1 (--proxy-cpu),
// with `taskset`; each proxy runs alone while it is measured.
// Profiles (--prof-dir DIR): the pipe and switchyard run with --cpu-prof into DIR (bench/study/cpuprofile-top.js).
// Unary load (--load h2load): h2load (Debian's nghttp2-client) instead of the grpc-js load client; it spends far less
// CPU per call, so on the pinned load core it no longer caps every target at the same rate.
// Usage: node bench/grpc.js [--quick] [--repeat N] [--out FILE] [--pinned] [--secondaries 0|1|2] [--prof-dir DIR] [--load grpc-js|h2load]
//        (npm run bench -- --only grpc)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { binLaunch } from './lib/launch.js';
import { coresBusy, cpuSeconds, forkHelper, freePort, installCleanup, machineCpu, spawnProxy, stop, track, waitQuiet } from './lib/proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const HOST = '127.0.0.1';
const MiB = 1024 * 1024;
const WINDOW = 4 * MiB;
const ECHO = '/bench.Bench/Echo';
const STREAM = '/bench.Bench/Stream';


// ---- child roles --------------------------------------------------------------------------------------------------

async function grpcModule() {
  try {
    return await import('@grpc/grpc-js');
  } catch {
    return null;
  }
}

const identity = (b) => b;
const method = (p, responseStream) => ({ path: p, requestStream: false, responseStream, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity });

async function serverRole() {
  const grpc = await grpcModule();
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * MiB, 'grpc-node.max_session_memory': Number.MAX_SAFE_INTEGER });
  server.addService(
    { Echo: method(ECHO, false), Stream: method(STREAM, true) },
    {
      Echo: (call, cb) => cb(null, call.request),
      Stream: (call) => {
        const req = call.request;
        const count = Math.min(req.readUInt32BE(0), 1_000_000);
        const size = Math.min(req.readUInt32BE(4), 4 * MiB);
        const msg = Buffer.alloc(size, 0x61);
        let sent = 0;
        const pump = () => {
          while (sent < count) {
            sent++;
            if (!call.write(msg) && sent < count) return void call.once('drain', pump);
          }
          call.end();
        };
        call.on('cancelled', () => (sent = count));
        pump();
      },
    },
  );
  server.bindAsync(`${HOST}:0`, grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) process.send({ type: 'error', message: err.message });
    else process.send({ type: 'ready', port });
  });
  process.on('SIGTERM', () => process.exit(0));
}

function pipeRole(listen, upstream) {
  const [lhost, lport] = [listen.slice(0, listen.lastIndexOf(':')), Number(listen.slice(listen.lastIndexOf(':') + 1))];
  const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_FLAG_END_STREAM } = http2.constants;
  const server = http2.createServer({ settings: { initialWindowSize: WINDOW }, maxSessionMemory: 1024 });
  server.on('session', (session) => {
    session.once('localSettings', () => session.setLocalWindowSize(WINDOW));
    const up = http2.connect(`http://${upstream}`, { settings: { initialWindowSize: WINDOW }, maxSessionMemory: 1024 });
    up.once('localSettings', () => up.setLocalWindowSize(WINDOW));
    up.on('error', () => session.destroy());
    up.on('close', () => session.destroy());
    session.on('close', () => up.destroy());
    session.on('error', () => up.destroy());
    session.upstream = up;
  });
  server.on('stream', (stream, headers) => {
    const up = stream.session.upstream;
    const out = {};
    for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':') || k === ':method' || k === ':path') out[k] = v;
    let req;
    try {
      req = up.request(out, { endStream: false });
    } catch {
      stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    let trailers;
    stream.pipe(req);
    req.on('response', (h, flags) => {
      if (flags & NGHTTP2_FLAG_END_STREAM) {
        stream.respond(h, { endStream: true }); // trailers-only
        return;
      }
      stream.respond(h, { waitForTrailers: true });
      req.pipe(stream);
    });
    req.on('trailers', (t) => (trailers = t));
    stream.on('wantTrailers', () => stream.sendTrailers(trailers ?? { 'grpc-status': '13', 'grpc-message': 'upstream sent no trailers' }));
    req.on('error', () => stream.destroyed || stream.close(NGHTTP2_INTERNAL_ERROR));
    req.on('close', () => req.rstCode && !stream.destroyed && stream.close(req.rstCode));
    stream.on('error', () => req.destroyed || req.close(NGHTTP2_CANCEL));
    stream.on('close', () => !req.destroyed && req.close(NGHTTP2_CANCEL));
  });
  server.listen({ host: lhost, port: lport }, () => process.stdout.write(`grpc-pipe: ${lhost}:${server.address().port} -> ${upstream}\n`));
  process.on('SIGTERM', () => process.exit(0));
}

async function loadRole() {
  const grpc = await grpcModule();
  const clientOptions = {
    'grpc.use_local_subchannel_pool': 1,
    'grpc-node.flow_control_window': WINDOW,
    'grpc.max_receive_message_length': 16 * MiB,
    'grpc-node.max_session_memory': Number.MAX_SAFE_INTEGER,
  };
  const makeClients = (port, n) => Array.from({ length: n }, () => new grpc.Client(`${HOST}:${port}`, grpc.credentials.createInsecure(), clientOptions));
  const ready = (clients) => Promise.all(clients.map((c) => new Promise((res, rej) => c.waitForReady(Date.now() + 10_000, (e) => (e ? rej(e) : res())))));

  async function unary({ port, conns, concurrency, size, timeMs, warmupMs, maxCalls }) {
    const clients = makeClients(port, conns);
    try {
      await ready(clients);
      const payload = Buffer.alloc(size, 0x62);
      const lat = [];
      let errors = 0;
      let firstError = '';
      let measuring = false;
      let stopAt = Infinity;
      let calls = 0;
      const worker = async (i) => {
        const client = clients[i % clients.length];
        while (performance.now() < stopAt && calls < maxCalls) {
          const t0 = performance.now();
          await new Promise((res) =>
            client.makeUnaryRequest(ECHO, identity, identity, payload, (err) => {
              if (err) {
                errors++;
                firstError ||= err.message;
              } else if (measuring) {
                lat.push(performance.now() - t0);
                calls++;
              }
              res();
            }),
          );
          if (errors > 1000) break;
        }
      };
      stopAt = performance.now() + warmupMs + timeMs;
      const running = Array.from({ length: concurrency }, (_, i) => worker(i));
      await new Promise((r) => setTimeout(r, warmupMs));
      measuring = true;
      const t0 = performance.now();
      await Promise.all(running);
      const wall = (performance.now() - t0) / 1000;
      lat.sort((a, b) => a - b);
      const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] : NaN);
      return { calls, wall, rps: calls / wall, p50: pct(50), p99: pct(99), errors, firstError };
    } finally {
      for (const c of clients) c.close();
    }
  }

  async function stream({ port, count, size, timeMs }) {
    const [client] = makeClients(port, 1);
    try {
      await ready([client]);
      const req = Buffer.alloc(8);
      req.writeUInt32BE(count, 0);
      req.writeUInt32BE(size, 4);
      const t0 = performance.now();
      let bytes = 0;
      let error = '';
      await new Promise((res) => {
        const call = client.makeServerStreamRequest(STREAM, identity, identity, req, { deadline: Date.now() + timeMs });
        call.on('data', (m) => (bytes += m.length));
        call.on('error', (e) => ((error = e.message), res()));
        call.on('end', res);
      });
      const wall = (performance.now() - t0) / 1000;
      return { bytes, wall, mibps: bytes / MiB / wall, complete: bytes === count * size, error };
    } finally {
      client.close();
    }
  }

  process.on('message', async (m) => {
    if (!m || m.id === undefined) return;
    try {
      const result = m.cmd === 'unary' ? await unary(m.args) : await stream(m.args);
      process.send({ id: m.id, result });
    } catch (err) {
      process.send({ id: m.id, error: err instanceof Error ? err.message : String(err) });
    }
  });
  process.send({ type: 'ready' });
  process.on('SIGTERM', () => process.exit(0));
}

// ---- orchestrator -------------------------------------------------------------------------------------------------

/** A config with a `protocol: grpc` listener in front of `upstream` and `secondaries` (the config-file form). */
function grpcConfig(listen, upstream, secondaries) {
  const clusters = [{ id: 'primary', endpoints: [upstream] }, ...secondaries.map((e, i) => ({ id: `s${i + 1}`, endpoints: [e] }))];
  const route = { id: 'r', listener: 'g', cluster: 'primary' };
  if (secondaries.length > 0) route.grpc = { secondaries: clusters.slice(1).map((c) => c.id) };
  return { log: { level: 'warn' }, listeners: [{ id: 'g', listen, protocol: 'grpc' }], clusters, routes: [route] };
}

/**
 * How switchyard can be run as a gRPC proxy from `syRoot`: `cli` (`switchyard grpc …`), else `config` (`switchyard run
 * -c` with a `protocol: grpc` listener, when the config schema has it), else `why` it cannot.
 */
function switchyardGrpc(syRoot, tmp) {
  if (!existsSync(path.join(syRoot, 'dist', 'cli', 'main.js'))) return { why: `${path.relative(process.cwd(), syRoot) || '.'}/dist/ is missing (npm run build)` };
  const bin = path.join(syRoot, 'bin', 'switchyard.js');
  const r = spawnSync(process.execPath, [bin, 'grpc', '--help'], { timeout: 15_000, encoding: 'utf8' });
  if (r.status === 0) return { why: null, mode: 'cli' };
  const file = path.join(tmp, 'probe.json');
  writeFileSync(file, JSON.stringify(grpcConfig(`${HOST}:0`, `${HOST}:1`, [`${HOST}:2`])));
  const v = spawnSync(process.execPath, [bin, 'validate', '-c', file], { timeout: 15_000, encoding: 'utf8' });
  if (v.status === 0) return { why: null, mode: 'config' };
  const first = (x) => (x.stderr || x.stdout || String(x.error)).split('\n').filter(Boolean).slice(0, 2).join(' ');
  return { why: `no 'switchyard grpc' command (${first(r)}) and no 'protocol: grpc' listener in the config schema (${first(v)})` };
}

/**
 * Unary calls driven by h2load: POST /bench.Bench/Echo with `content-type: application/grpc`, `te: trailers` and a
 * body of one framed message (5-byte prefix + SIZE bytes), `concurrency` streams spread over `conns` connections,
 * timing-based (warm-up, then timeMs). h2load counts an answer with HTTP status 2xx as a success; the grpc-js warm-up
 * of every target (before the trials) has already checked that calls succeed end to end. p50/p99 from its per-request
 * log (requests started after the warm-up).
 */
async function h2loadUnary({ port, conns, concurrency, size, timeMs, warmupMs }, tmp) {
  const body = path.join(tmp, `echo-${size}.bin`);
  if (!existsSync(body)) {
    const msg = Buffer.alloc(5 + size, 0x62);
    msg[0] = 0;
    msg.writeUInt32BE(size, 1);
    writeFileSync(body, msg);
  }
  const logFile = path.join(tmp, `h2load-${port}-${Date.now()}.log`);
  const args = ['-c', String(conns), '-m', String(Math.ceil(concurrency / conns)), '-D', `${Math.max(100, Math.round(timeMs))}ms`, '--warm-up-time', `${Math.max(100, Math.round(warmupMs))}ms`,
    '-d', body, '-H', 'content-type: application/grpc', '-H', 'te: trailers', '--log-file', logFile, `http://${HOST}:${port}${ECHO}`];
  const r = await new Promise((resolve) => {
    const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeMs + warmupMs + 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
  const finished = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(r.out);
  const counts = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(r.out);
  if (!finished || !counts) throw new Error(`h2load failed (exit ${r.code}): ${r.out.slice(-600)}`);
  const wall = Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1);
  const calls = Number(counts[4]);
  const errors = Number(counts[5]) + Number(counts[6]);
  let lat = [];
  try {
    const rows = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => l.split('\t').map(Number));
    const first = rows.reduce((m, x) => Math.min(m, x[0]), Infinity);
    lat = rows.filter((x) => x[0] >= first + warmupMs * 1000).map((x) => x[2] / 1000);
    rmSync(logFile, { force: true });
  } catch {
    // no log: no percentiles
  }
  lat.sort((a, b) => a - b);
  const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] : NaN);
  const non2xx = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(r.out);
  const bad = non2xx ? Number(non2xx[2]) + Number(non2xx[3]) + Number(non2xx[4]) : 0;
  return { calls: calls - bad, wall, rps: (calls - bad) / wall, p50: pct(50), p99: pct(99), errors: errors + bad, firstError: errors + bad > 0 ? r.out.split('\n').find((l) => /error|fail/i.test(l)) ?? '' : '' };
}

async function waitPort(port, ms) {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const ok = await new Promise((res) => {
      const s = net.connect({ host: HOST, port }, () => (s.destroy(), res(true)));
      s.on('error', () => res(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${port} after ${ms} ms`);
}

async function main() {
  const { values: opts } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      repeat: { type: 'string' },
      out: { type: 'string' },
      'no-wait-quiet': { type: 'boolean', default: false },
      'switchyard-root': { type: 'string' },
      pinned: { type: 'boolean', default: false },
      'load-cpu': { type: 'string', default: '0' },
      'proxy-cpu': { type: 'string', default: '1' },
      secondaries: { type: 'string', default: '2' },
      'prof-dir': { type: 'string' },
      load: { type: 'string', default: 'grpc-js' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (opts.help) {
    process.stdout.write(`Usage: node bench/grpc.js [--quick] [--repeat N] [--out FILE] [--no-wait-quiet] [--switchyard-root DIR]
  --switchyard-root DIR  the checkout whose bin/switchyard.js (and dist/) is measured (default: this one)
  --pinned               taskset: load, servers and this process on --load-cpu (0), each proxy on --proxy-cpu (1)
  --secondaries N        also measure switchyard with 1..N secondaries (0..2, default 2; 0: switchyard alone)
  --prof-dir DIR         run the bare pipe and switchyard with --cpu-prof --cpu-prof-dir=DIR (one file per process)
  --load grpc-js|h2load  what drives the unary calls (default grpc-js; h2load, from Debian's nghttp2-client, costs
                         far less CPU per call, so the proxy rather than the load client is what a pinned run measures)
`);
    return;
  }
  const log = (s) => process.stderr.write(`${s}\n`);
  if (!(await grpcModule())) {
    process.stdout.write('grpc: skipped: @grpc/grpc-js is not installed (npm install)\n');
    return;
  }
  installCleanup();
  if (opts.load !== 'grpc-js' && opts.load !== 'h2load') throw new Error('--load: expected grpc-js or h2load');
  if (opts.load === 'h2load' && spawnSync('h2load', ['--version'], { encoding: 'utf8' }).status !== 0) throw new Error('--load h2load: h2load is not installed (apt-get install nghttp2-client)');
  const maxSecondaries = Number(opts.secondaries);
  if (!Number.isInteger(maxSecondaries) || maxSecondaries < 0 || maxSecondaries > 2) throw new Error('--secondaries: expected 0..2');
  const profFlags = opts['prof-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(opts['prof-dir'])}`] : [];
  /** --pinned: move a process (every thread) to a CPU. */
  const pin = (pid, cpu) => {
    if (!opts.pinned) return;
    const r = spawnSync('taskset', ['-a', '-p', '-c', cpu, String(pid)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`--pinned: taskset -a -p -c ${cpu} ${pid} failed: ${r.error?.message ?? r.stderr.trim()}`);
  };
  // children inherit this process's CPU (the load CPU); the proxies are moved to the proxy CPU once started
  pin(process.pid, opts['load-cpu']);
  const quick = opts.quick;
  const repeat = Number(opts.repeat ?? (quick ? 1 : 3));
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 10) throw new Error('--repeat: expected 1..10');
  const CFG = quick
    ? { timeMs: 1500, warmupMs: 400, size: 100, maxCalls: 2_000_000, stream: { count: 512, size: 64 * 1024, timeMs: 60_000 } }
    : { timeMs: 4000, warmupMs: 1000, size: 100, maxCalls: 5_000_000, stream: { count: 4096, size: 64 * 1024, timeMs: 120_000 } };
  const outFile = path.resolve(opts.out ?? path.join(here, 'results', 'grpc-latest.json'));

  const fork = (roleArgs, name) => forkHelper(fileURLToPath(import.meta.url), name, [], roleArgs);
  const extraServers = [];
  const srv = fork(['--server'], 'grpc-server');
  const { port: serverPort } = await srv.ready;
  const load = fork(['--role-load'], 'grpc-load');
  await load.ready;

  const targets = [{ name: 'direct', port: serverPort, pid: null }];
  const pipePort = await freePort();
  const pipe = spawnProxy([...profFlags, fileURLToPath(import.meta.url), '--pipe', `${HOST}:${pipePort}`, `${HOST}:${serverPort}`], 'grpc-pipe', 'grpc-pipe:');
  await pipe.ready;
  pin(pipe.pid, opts['proxy-cpu']);
  targets.push({ name: 'bare h2 pipe', port: pipePort, pid: pipe.pid, proc: pipe });
  const syRoot = path.resolve(opts['switchyard-root'] ?? root);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'swy-grpc-bench-'));
  const sy = switchyardGrpc(syRoot, tmp);
  const syProcs = [];
  const skipped = [];
  if (sy.why) {
    skipped.push(`switchyard grpc: skipped (${sy.why})`);
    log(`grpc: switchyard grpc skipped: ${sy.why}`);
  } else {
    log(`grpc: switchyard started with ${sy.mode === 'cli' ? "'switchyard grpc'" : "'switchyard run -c' and a protocol: grpc listener"}`);
    // the same proxy with 0, 1 and 2 secondaries (each its own grpc-js server): the cost of each added secondary
    const secondaries = [];
    for (let i = 0; i < maxSecondaries; i++) {
      const h = fork(['--server'], `grpc-secondary-${i + 1}`);
      secondaries.push({ h, port: (await h.ready).port });
    }
    extraServers.push(...secondaries.map((x) => x.h));
    for (const n of [0, 1, 2].slice(0, maxSecondaries + 1)) {
      const name = n === 0 ? 'switchyard grpc' : `switchyard +${n} secondar${n === 1 ? 'y' : 'ies'}`;
      const port = await freePort();
      // pinned: the launcher's one-CPU rule as if started on the proxy's CPU (it is pinned right after it starts)
      const launch = binLaunch(syRoot, { cpus: opts.pinned ? opts['proxy-cpu'] : undefined });
      const listen = `${HOST}:${port}`;
      const upstream = `${HOST}:${serverPort}`;
      const secs = secondaries.slice(0, n).map((x) => `${HOST}:${x.port}`);
      const args = [...launch.flags, ...profFlags, path.join(syRoot, 'bin', 'switchyard.js')];
      if (sy.mode === 'cli') {
        args.push('grpc', '--listen', listen, '--upstream', upstream);
        for (const e of secs) args.push('--secondary', e);
      } else {
        const file = path.join(tmp, `switchyard-${n}.json`);
        writeFileSync(file, JSON.stringify(grpcConfig(listen, upstream, secs), null, 2));
        args.push('run', '-c', file);
      }
      const child = track(spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...launch.env } }), name);
      syProcs.push(child);
      try {
        await waitPort(port, 20_000);
        pin(child.pid, opts['proxy-cpu']);
        targets.push({ name, port, pid: child.pid });
      } catch (err) {
        skipped.push(`${name}: skipped (did not start: ${err.message})`);
        await stop(child);
      }
    }
  }

  const scenarios = [
    { id: 'unary c16 k1', cmd: 'unary', args: { conns: 1, concurrency: 16 } },
    { id: 'unary c64 k1', cmd: 'unary', args: { conns: 1, concurrency: 64 } },
    { id: 'unary c16 k4', cmd: 'unary', args: { conns: 4, concurrency: 16 } },
    { id: 'unary c64 k4', cmd: 'unary', args: { conns: 4, concurrency: 64 } },
    { id: 'server stream', cmd: 'stream', args: {} },
  ];
  // warm every path up first (JIT, connection setup, the server's first calls): the first scenario measured
  // otherwise pays for it
  for (const t of targets) {
    await load.call('unary', { port: t.port, conns: 4, concurrency: 16, size: CFG.size, timeMs: quick ? 500 : 2000, warmupMs: 0, maxCalls: CFG.maxCalls }, 60_000);
    await load.call('stream', { ...CFG.stream, count: 64, port: t.port }, 60_000);
  }
  const trials = [];
  const results = {};
  for (const sc of scenarios) {
    for (let r = 0; r < repeat; r++) {
      for (const t of targets) {
        if (!opts['no-wait-quiet']) await waitQuiet({ maxCores: 0.3, maxWaitMs: 10_000 });
        const args = sc.cmd === 'unary' ? { ...sc.args, port: t.port, size: CFG.size, timeMs: CFG.timeMs, warmupMs: CFG.warmupMs, maxCalls: CFG.maxCalls } : { ...CFG.stream, port: t.port };
        const c0 = t.pid ? cpuSeconds(t.pid) : NaN;
        const m0 = machineCpu();
        const res = sc.cmd === 'unary' && opts.load === 'h2load' ? await h2loadUnary(args, tmp) : await load.call(sc.cmd, args, 300_000);
        res.proxyCpu = t.pid ? cpuSeconds(t.pid) - c0 : NaN;
        res.machineCoresBusy = coresBusy(m0, machineCpu(), os.availableParallelism());
        trials.push({ scenario: sc.id, target: t.name, round: r, ...res });
        (results[sc.id] ??= {})[t.name] ??= [];
        results[sc.id][t.name].push(res);
        log(`  ${sc.id} ${t.name}: ${sc.cmd === 'unary' ? `${Math.round(res.rps)} calls/s p50 ${res.p50?.toFixed(2)} p99 ${res.p99?.toFixed(2)} ms${res.errors ? ` errors ${res.errors} (${res.firstError})` : ''}` : `${res.mibps.toFixed(0)} MiB/s${res.complete ? '' : ` INCOMPLETE ${res.error}`}`}`);
      }
    }
  }

  // the median trial by rate
  const med = (list, key) => [...list].sort((a, b) => a[key] - b[key])[Math.floor((list.length - 1) / 2)];
  const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const lines = [];
  lines.push(`gRPC (${quick ? 'quick, ' : ''}median of ${repeat}; ${os.cpus().length} CPUs, ${opts.pinned ? `pinned: proxy on CPU ${opts['proxy-cpu']}, load and servers on CPU ${opts['load-cpu']}` : 'shared machine, nothing pinned'}; unary load: ${opts.load}; ratios are of direct in the same run, switchyard also of the bare pipe)`);
  lines.push('');
  lines.push('| scenario | target | calls/s | p50 ms | p99 ms | × direct | × bare pipe | calls per proxy CPU-s |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const sc of scenarios.filter((s) => s.cmd === 'unary')) {
    const d = med(results[sc.id]['direct'], 'rps');
    const b = med(results[sc.id]['bare h2 pipe'], 'rps');
    for (const t of targets) {
      const m = med(results[sc.id][t.name], 'rps');
      lines.push(`| ${sc.id.replace('unary ', '')} | ${t.name} | ${fmt(m.rps)} | ${fmt(m.p50, 2)} | ${fmt(m.p99, 2)} | ${t.name === 'direct' ? '1' : fmt(m.rps / d.rps, 2)} | ${t.name.startsWith('switchyard') ? fmt(m.rps / b.rps, 2) : ''} | ${t.pid ? fmt(m.calls / m.proxyCpu) : ''} |`);
    }
  }
  lines.push('');
  lines.push(`| server stream (${CFG.stream.count} × ${CFG.stream.size / 1024} KiB) | MiB/s | × direct | MiB per proxy CPU-s |`);
  lines.push('|---|---:|---:|---:|');
  const ds = med(results['server stream']['direct'], 'mibps');
  for (const t of targets) {
    const m = med(results['server stream'][t.name], 'mibps');
    lines.push(`| ${t.name} | ${fmt(m.mibps)}${m.complete ? '' : ' (incomplete)'} | ${t.name === 'direct' ? '1' : fmt(m.mibps / ds.mibps, 2)} | ${t.pid ? fmt(m.bytes / MiB / m.proxyCpu) : ''} |`);
  }
  const syTargets = targets.filter((t) => t.name.startsWith('switchyard'));
  if (syTargets.length > 1) {
    lines.push('', '| cost of secondaries | ' + syTargets.map((t) => t.name).join(' | ') + ' | per added secondary |', `|---|${syTargets.map(() => '---:|').join('')}---:|`);
    for (const sc of scenarios) {
      const key = sc.cmd === 'unary' ? 'rps' : 'mibps';
      const vals = syTargets.map((t) => med(results[sc.id][t.name], key)[key]);
      const last = syTargets.length - 1;
      const per = ((vals[last] / vals[0]) ** (1 / last) - 1) * 100; // geometric mean change per added secondary
      lines.push(`| ${sc.id} (${sc.cmd === 'unary' ? 'calls/s' : 'MiB/s'}) | ${vals.map((v) => fmt(v)).join(' | ')} | ${per < 0 ? '−' : '+'}${fmt(Math.abs(per), 1)} % |`);
    }
  }
  if (skipped.length) lines.push('', ...skipped);
  process.stdout.write(`${lines.join('\n')}\n`);
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, JSON.stringify({ date: new Date().toISOString(), node: process.version, quick, repeat, pinned: opts.pinned, cfg: CFG, skipped, trials }, null, 2));
  log(`grpc: results in ${path.relative(process.cwd(), outFile)}`);

  await stop(load.child);
  await stop(srv.child);
  await stop(pipe.child);
  for (const c of syProcs) await stop(c);
  for (const h of extraServers) await stop(h.child);
  rmSync(tmp, { recursive: true, force: true });
}

// ---- dispatch (last: the roles use the constants above) ----
// A child's role is its first argument; the load client's is `--role-load`, since `--load` is a user flag (`--load h2load`).

const role = process.argv[2];
if (role === '--server') await serverRole();
else if (role === '--pipe') pipeRole(process.argv[3], process.argv[4]);
else if (role === '--role-load') await loadRole();
else await main();
