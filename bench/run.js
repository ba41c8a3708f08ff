// switchyard benchmark: `npm run bench [-- --quick] [-- --only throughput,rr,connrate,line,idle,http,nvariant,grpc,routing,wamp]`
// (`npm run bench -- --pinned`: the pinned side-by-side bench, bench/pinned.js)
//
// Process layout (every process is a separate Node process; everything binds 127.0.0.1):
//   run.js (this file)   orchestrates only: starts/stops the others, reads /proc, prints and saves results
//   bench/server.js      the upstream server (echo, or "SEND n len" streaming), one process for the whole run
//   bench/load.js        the load generator (clients), one process for the whole run
//   the proxy under test its own process: bench/pipe-proxy.js (bare pipe) or bin/switchyard.js proxy
// Modes: direct (load → server), bare (→ pipe-proxy → server), passthrough and line (→ switchyard → server).
// The http (bench/chaos.js), nvariant (bench/nvariant.js), grpc (bench/grpc.js) and routing (bench/routing.js)
// scenarios are their own scripts, run after the table.
// See docs/benchmarks.md for what each scenario measures.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { binLaunch } from './lib/launch.js';
import { coresBusy, cpuSeconds, fdCount, forkHelper, freePort, installCleanup, machineCpu, memory, spawnProxy, stop, waitQuiet } from './lib/proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const SCENARIOS = ['throughput', 'rr', 'connrate', 'line', 'idle', 'http', 'nvariant', 'grpc', 'routing', 'wamp'];
const ALL_MODES = ['direct', 'bare', 'passthrough', 'line'];
const MODE_TITLE = { direct: 'direct', bare: 'bare pipe', passthrough: 'passthrough', line: 'line framing' };
const MiB = 1024 * 1024;

if (process.argv.includes('--pinned')) {
  // The pinned side-by-side bench (the shared run.sh method) is its own script: bench/pinned.js.
  const r = spawnSync(process.execPath, [path.join(here, 'pinned.js'), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    modes: { type: 'string' },
    repeat: { type: 'string' },
    out: { type: 'string' },
    'no-wait-quiet': { type: 'boolean', default: false },
    'node-flags': { type: 'string', default: '' },
    help: { type: 'boolean', short: 'h' },
  },
  allowPositionals: false,
});
if (opts.help) {
  process.stdout.write(`Usage: npm run bench -- [--quick] [--only ${SCENARIOS.join(',')}] [--modes ${ALL_MODES.join(',')}] [--repeat N] [--out FILE]
  --quick    small sizes and short runs (a sanity run in about 30 s)
  --only     scenarios to run (default: all)
  --modes    modes to run (default: all; switchyard modes are skipped when it is not built)
  --repeat   trials per figure (the median is reported; default 3, quick 1)
  --out      results JSON (default bench/results/latest.json)
  --node-flags "F"  extra node flags for the switchyard processes (e.g. "--initial-heap-size=64")
  --no-wait-quiet  do not wait for other processes to go quiet before each trial (and do not retry noisy trials)
  --pinned   the pinned side-by-side bench instead (the shared run.sh: proxy alone on CPU 1, node-pipe and
             haproxy in the same rounds); npm run bench -- --pinned --help for its options
`);
  process.exit(0);
}
const only = opts.only ? opts.only.split(',').map((s) => s.trim()) : SCENARIOS;
for (const s of only) if (!SCENARIOS.includes(s)) fail(`--only: unknown scenario '${s}' (expected ${SCENARIOS.join(', ')})`);
let modes = opts.modes ? opts.modes.split(',').map((s) => s.trim()) : ALL_MODES;
for (const m of modes) if (!ALL_MODES.includes(m)) fail(`--modes: unknown mode '${m}' (expected ${ALL_MODES.join(', ')})`);
const quick = opts.quick;
const repeat = opts.repeat ? Number(opts.repeat) : quick ? 1 : 3;
if (!Number.isInteger(repeat) || repeat < 1 || repeat > 20) fail('--repeat: expected 1..20');
const outFile = path.resolve(opts.out ?? path.join(here, 'results', 'latest.json'));

/** Sizes and bounds. Every loop is bounded by count and by time. */
const CFG = quick
  ? {
      throughput: { totalBytes: 128 * MiB, warmupBytes: 8 * MiB, lineLen: 1024, timeMs: 3000 },
      rr: { conns: 64, size: 64, timeMs: 1000, warmupMs: 300, maxRequests: 1_000_000 },
      connrate: { concurrency: 32, size: 64, total: 3000, warmup: 300, timeMs: 1000 },
      line: { totalBytes: 32 * MiB, warmupBytes: 4 * MiB, lineLen: 100, timeMs: 3000 },
      idle: { conns: 1000, parallel: 100, size: 64, settleMs: 300 },
    }
  : {
      throughput: { totalBytes: 512 * MiB, warmupBytes: 32 * MiB, lineLen: 1024, timeMs: 10_000 },
      rr: { conns: 64, size: 64, timeMs: 4000, warmupMs: 1000, maxRequests: 2_000_000 },
      connrate: { concurrency: 32, size: 64, total: 40_000, warmup: 1000, timeMs: 4000 },
      line: { totalBytes: 256 * MiB, warmupBytes: 16 * MiB, lineLen: 100, timeMs: 10_000 },
      idle: { conns: 8000, parallel: 100, size: 64, settleMs: 1500 },
    };

function fail(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}
const log = (msg) => process.stderr.write(`${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const a = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  if (a.length === 0) return NaN;
  return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
};

// ---- environment --------------------------------------------------------------------------------------------

function switchyardAvailable() {
  if (!existsSync(path.join(root, 'dist', 'cli', 'main.js'))) return 'dist/ is missing (npm run build)';
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'switchyard.js'), 'proxy', '--help'], { timeout: 15_000, encoding: 'utf8' });
  if (r.status !== 0) return `'switchyard proxy --help' failed: ${(r.stderr || r.stdout || String(r.error)).split('\n').slice(0, 3).join(' ')}`;
  return null;
}

function environment() {
  const sh = (cmd) => spawnSync('sh', ['-c', cmd], { encoding: 'utf8', cwd: root }).stdout.trim();
  return {
    date: new Date().toISOString(),
    node: process.version,
    nproc: sh('nproc'),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    fdLimit: sh('ulimit -n'),
    tcpTwReuse: sh('cat /proc/sys/net/ipv4/tcp_tw_reuse'),
    somaxconn: sh('cat /proc/sys/net/core/somaxconn'),
    commit: sh('git rev-parse --short HEAD 2>/dev/null'),
    dirty: sh('git status --porcelain 2>/dev/null | wc -l') !== '0',
    argv: process.argv.slice(2),
    switchyardNodeFlags: opts['node-flags'] || null,
    quick,
    repeat,
  };
}

// ---- proxies ------------------------------------------------------------------------------------------------


async function startProxy(mode, upstreamPort) {
  const port = await freePort();
  const listen = `127.0.0.1:${port}`;
  const upstream = `127.0.0.1:${upstreamPort}`;
  let p;
  if (mode === 'bare') {
    p = spawnProxy([path.join(here, 'pipe-proxy.js'), '--listen', listen, '--upstream', upstream], 'pipe-proxy', 'pipe-proxy:');
  } else {
    // Run the bin exactly as a user's shell would: with the environment and node flags of its shebang line.
    const launch = binLaunch(root);
    const flags = [...launch.flags, ...opts['node-flags'].split(/\s+/).filter(Boolean)];
    const args = [...flags, path.join(root, 'bin', 'switchyard.js'), 'proxy', '--listen', listen, '--upstream', upstream, '--log-level', 'warn', '--drain-timeout', '0'];
    if (mode === 'line') args.push('--framing', 'line');
    p = spawnProxy(args, `switchyard(${mode})`, 'switchyard proxy:', undefined, launch.env);
  }
  await p.ready;
  return { mode, port, pid: p.pid, proc: p };
}

/** Start the proxies a scenario needs (fresh per scenario), run `fn(targets)`, always stop them. */
async function withTargets(ctx, scenarioModes, fn) {
  const targets = {};
  try {
    for (const m of scenarioModes) {
      targets[m] = m === 'direct' ? { mode: m, port: ctx.serverPort, pid: null, proc: null } : await startProxy(m, ctx.serverPort);
    }
    await sleep(200);
    return await fn(targets);
  } finally {
    for (const t of Object.values(targets)) {
      if (t.proc) {
        if (t.proc.stderrLines > 0) ctx.proxyStderr.push({ mode: t.mode, lines: t.proc.stderrLines, tail: t.proc.stderr.slice(-1500) });
        await stop(t.proc.child);
      }
    }
  }
}

/** Run one load command against a target, with the CPU time every process used during it. */
async function measureOnce(ctx, target, cmd, args, timeoutMs) {
  const pids = { proxy: target.pid, server: ctx.server.pid, load: ctx.load.pid };
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid ? cpuSeconds(pid) : NaN]));
  const self0 = process.cpuUsage();
  const m0 = machineCpu();
  const t0 = performance.now();
  const result = await ctx.load.call(cmd, { port: target.port, ...args }, timeoutMs);
  const wall = (performance.now() - t0) / 1000;
  const cpu = { wall, machineCoresBusy: coresBusy(m0, machineCpu(), os.availableParallelism()) };
  for (const [k, pid] of Object.entries(pids)) cpu[k] = pid ? cpuSeconds(pid) - before[k] : NaN;
  const self = process.cpuUsage(self0);
  const ours = (cpu.proxy || 0) + cpu.server + cpu.load + (self.user + self.system) / 1e6;
  // cores kept busy by processes that are not part of this benchmark (other builds/tests on a shared machine)
  cpu.backgroundCores = Math.max(0, cpu.machineCoresBusy - ours / wall);
  return { ...result, cpu };
}

/**
 * Measure, retrying (at most twice) a trial during which other processes on the machine used more than
 * NOISE_CORES cores: the figures of a proxy that lost its core to someone's test run are meaningless.
 */
const NOISE_CORES = 0.3;
async function measure(ctx, target, cmd, args, timeoutMs) {
  let res;
  for (let attempt = 1; attempt <= 3; attempt++) {
    if (ctx.waitQuiet) {
      const q = await waitQuiet({ maxCores: 0.25, maxWaitMs: 30_000 });
      if (!q.quiet) log(`  (machine still busy after ${fmt(q.waitedMs / 1000, 0)} s: ${fmt(q.busy, 2)} cores; measuring anyway)`);
    }
    res = await measureOnce(ctx, target, cmd, args, timeoutMs);
    res.attempts = attempt;
    res.noisy = res.cpu.backgroundCores > NOISE_CORES;
    if (!res.noisy || !ctx.waitQuiet) break;
    log(`  (other processes used ${fmt(res.cpu.backgroundCores, 2)} cores during the trial; retrying)`);
  }
  if (res.noisy) ctx.noisy.push(`${cmd}/${target.mode}`);
  return res;
}

/** `repeat` trials, modes interleaved within each trial; returns {mode: {trials, ...median fields}}. */
async function trials(ctx, targets, cmd, args, keys, timeoutMs) {
  const out = {};
  for (const m of Object.keys(targets)) out[m] = { trials: [] };
  for (let r = 0; r < repeat; r++) {
    for (const m of Object.keys(targets)) {
      const res = await measure(ctx, targets[m], cmd, args, timeoutMs);
      out[m].trials.push(res);
      log(`  ${cmd} ${m.padEnd(11)} trial ${r + 1}/${repeat}: ${keys.map((k) => `${k}=${fmt(get(res, k))}`).join(' ')} (cpu s: proxy ${fmt(res.cpu.proxy)}, server ${fmt(res.cpu.server)}, load ${fmt(res.cpu.load)}, wall ${fmt(res.cpu.wall)}; cores busy ${fmt(res.cpu.machineCoresBusy, 2)}, background ${fmt(res.cpu.backgroundCores, 2)})`);
    }
  }
  for (const m of Object.keys(out)) {
    for (const k of keys) out[m][k] = median(out[m].trials.map((t) => get(t, k)));
    out[m].proxyCpuSeconds = median(out[m].trials.map((t) => t.cpu.proxy));
    out[m].wallSeconds = median(out[m].trials.map((t) => t.cpu.wall));
    out[m].errors = out[m].trials.reduce((n, t) => n + (t.errors ?? 0), 0);
  }
  return out;
}

const get = (o, k) => k.split('.').reduce((v, p) => (v == null ? undefined : v[p]), o);

// ---- scenarios ----------------------------------------------------------------------------------------------

async function scenarioThroughput(ctx) {
  const c = CFG.throughput;
  const res = {};
  await withTargets(ctx, modes, async (targets) => {
    for (const m of Object.keys(targets)) await ctx.load.call('bulk', { port: targets[m].port, conns: 1, totalBytes: c.warmupBytes, lineLen: c.lineLen, timeMs: c.timeMs });
    for (const conns of [1, 8]) {
      log(`throughput: ${conns} connection(s), ${c.totalBytes / MiB} MiB per trial, ${c.lineLen}-byte lines, bound ${c.timeMs} ms`);
      const r = await trials(ctx, targets, 'bulk', { conns, totalBytes: c.totalBytes, lineLen: c.lineLen, timeMs: c.timeMs }, ['mibPerSec'], c.timeMs + 30_000);
      for (const m of Object.keys(r)) {
        r[m].proxyCpuUsPerMiB = median(r[m].trials.map((t) => (t.cpu.proxy * 1e6) / (t.bytes / MiB)));
        r[m].complete = r[m].trials.every((t) => t.complete);
      }
      res[`conns${conns}`] = r;
    }
  });
  return { config: c, ...res };
}

async function scenarioRR(ctx) {
  const c = CFG.rr;
  log(`rr: ${c.conns} connections, ${c.size}-byte request and reply, ${c.warmupMs} ms warm-up + ${c.timeMs} ms (or ${c.maxRequests} requests)`);
  const res = await withTargets(ctx, modes, (targets) =>
    trials(ctx, targets, 'rr', c, ['reqPerSec', 'latencyMs.p50', 'latencyMs.p99'], c.warmupMs + c.timeMs + 60_000),
  );
  for (const m of Object.keys(res)) res[m].proxyCpuUsPerReq = median(res[m].trials.map((t) => (t.cpu.proxy * 1e6) / t.requests));
  return { config: c, ...res };
}

async function scenarioConnrate(ctx) {
  const c = CFG.connrate;
  log(`connrate: ${c.concurrency} in flight, connect + ${c.size}-byte request/reply + close; ${c.warmup} warm-up, then up to ${c.total} or ${c.timeMs} ms`);
  const res = await withTargets(ctx, modes, (targets) =>
    trials(ctx, targets, 'connrate', c, ['connPerSec', 'latencyMs.p50', 'latencyMs.p99'], c.timeMs + 60_000),
  );
  for (const m of Object.keys(res)) res[m].proxyCpuUsPerConn = median(res[m].trials.map((t) => (t.cpu.proxy * 1e6) / Math.max(1, t.connections)));
  return { config: c, ...res };
}

async function scenarioLine(ctx) {
  const c = CFG.line;
  log(`line: 1 connection, ${c.lineLen}-byte lines, ${c.totalBytes / MiB} MiB per trial, bound ${c.timeMs} ms`);
  const res = await withTargets(ctx, modes, async (targets) => {
    for (const m of Object.keys(targets)) await ctx.load.call('bulk', { port: targets[m].port, conns: 1, totalBytes: c.warmupBytes, lineLen: c.lineLen, timeMs: c.timeMs });
    return trials(ctx, targets, 'bulk', { conns: 1, totalBytes: c.totalBytes, lineLen: c.lineLen, timeMs: c.timeMs }, ['linesPerSec', 'mibPerSec'], c.timeMs + 30_000);
  });
  for (const m of Object.keys(res)) {
    res[m].proxyCpuUsPerMiB = median(res[m].trials.map((t) => (t.cpu.proxy * 1e6) / (t.bytes / MiB)));
    res[m].complete = res[m].trials.every((t) => t.complete);
  }
  return { config: c, ...res };
}

async function scenarioIdle(ctx) {
  const c = CFG.idle;
  const res = {};
  for (const m of modes.filter((x) => x !== 'direct')) {
    log(`idle: ${m}: ${c.conns} connections held open through the proxy`);
    res[m] = await withTargets(ctx, [m], async (targets) => {
      const t = targets[m];
      // warm-up: exercise the code paths once so "before" is a proxy that has already served connections
      await ctx.load.call('connrate', { port: t.port, concurrency: 8, size: c.size, total: 200, warmup: 0, timeMs: 5000 });
      await sleep(c.settleMs);
      const before = memory(t.pid);
      const fdsBefore = fdCount(t.pid);
      const opened = await ctx.load.call('idleOpen', { port: t.port, conns: c.conns, parallel: c.parallel, size: c.size }, 240_000);
      await sleep(c.settleMs);
      const after = memory(t.pid);
      const fdsAfter = fdCount(t.pid);
      const closed = await ctx.load.call('idleClose', {}, 60_000);
      await sleep(c.settleMs);
      const afterClose = memory(t.pid);
      const fdsAfterClose = fdCount(t.pid);
      const kib = (after.rssKiB - before.rssKiB) / opened.conns;
      const r = { conns: opened.conns, openSeconds: opened.seconds, closedEarly: opened.closedEarly, stillOpenBeforeClose: closed.stillOpenBeforeClose, before, after, afterClose, fdsBefore, fdsAfter, fdsAfterClose, kibPerConn: kib };
      log(`  idle ${m.padEnd(11)}: RSS ${before.rssKiB} → ${after.rssKiB} KiB (${fmt(kib)} KiB/conn), fds ${fdsBefore} → ${fdsAfter} → ${fdsAfterClose}, RSS after close ${afterClose.rssKiB} KiB`);
      return r;
    });
  }
  return { config: c, ...res };
}

// ---- report -------------------------------------------------------------------------------------------------

function fmt(v, digits) {
  if (v === undefined || v === null || Number.isNaN(v)) return '—';
  if (typeof v !== 'number') return String(v);
  const d = digits ?? (Math.abs(v) >= 1000 ? 0 : Math.abs(v) >= 100 ? 1 : Math.abs(v) >= 10 ? 2 : 3);
  return v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

/**
 * Table rows. `better`: 'higher' or 'lower'. Ratios are "goodness" ratios: value/baseline for higher-is-better,
 * baseline/value for lower-is-better, so ≥ 1.0 always means "at least as good as the baseline".
 */
function buildRows(R) {
  const rows = [];
  const add = (label, better, values, target) => rows.push({ label, better, values, target });
  const pick = (sc, key) => Object.fromEntries(ALL_MODES.map((m) => [m, sc?.[m]?.[key]]));
  if (R.throughput) {
    add('bulk 1 conn, MiB/s', 'higher', pick(R.throughput.conns1, 'mibPerSec'), { mode: 'passthrough', vs: 'bare', min: 1.0 });
    add('bulk 8 conns, MiB/s', 'higher', pick(R.throughput.conns8, 'mibPerSec'), { mode: 'passthrough', vs: 'bare', min: 1.0 });
  }
  if (R.rr) {
    add(`rr ${R.rr.config.conns} conns, req/s`, 'higher', pick(R.rr, 'reqPerSec'), { mode: 'passthrough', vs: 'bare', min: 1.0 });
    add('rr p50 latency, ms', 'lower', pick(R.rr, 'latencyMs.p50'));
    add('rr p99 latency, ms', 'lower', pick(R.rr, 'latencyMs.p99'), { mode: 'passthrough', vs: 'bare', min: 1.0 });
  }
  if (R.connrate) {
    add(`new conns/s (${R.connrate.config.concurrency} in flight)`, 'higher', pick(R.connrate, 'connPerSec'), { mode: 'passthrough', vs: 'bare', min: 1.0, strict: true });
    add('conn p99 (connect→close), ms', 'lower', pick(R.connrate, 'latencyMs.p99'));
  }
  if (R.line) {
    add(`${R.line.config.lineLen}-byte lines, lines/s`, 'higher', pick(R.line, 'linesPerSec'), { mode: 'line', vs: 'bare', min: 0.5 });
    add(`${R.line.config.lineLen}-byte lines, MiB/s`, 'higher', pick(R.line, 'mibPerSec'), { mode: 'line', vs: 'bare', min: 0.5 });
  }
  if (R.idle) {
    add(`idle RSS, KiB/conn (${R.idle.config.conns} conns)`, 'lower', pick(R.idle, 'kibPerConn'), { mode: 'passthrough', absMax: 30 });
  }
  return rows;
}

function ratio(row, mode, base) {
  const v = row.values[mode];
  const b = row.values[base];
  if (!Number.isFinite(v) || !Number.isFinite(b) || v === 0 || b === 0) return NaN;
  return row.better === 'higher' ? v / b : b / v;
}

function judge(row) {
  const t = row.target;
  if (!t) return { text: '', met: null };
  const v = row.values[t.mode];
  if (t.absMax !== undefined) {
    const met = Number.isFinite(v) ? v <= t.absMax : null;
    return { text: `${t.mode} ≤ ${t.absMax}`, met };
  }
  const r = ratio(row, t.mode, t.vs);
  const met = Number.isFinite(r) ? (t.strict ? r > t.min : r >= t.min) : null;
  const name = t.mode === 'passthrough' ? 'pass' : t.mode;
  return { text: `${name}/${t.vs} ${t.strict ? '>' : '≥'} ${t.min.toFixed(1)}×`, met };
}

function renderTable(rows) {
  const header = ['metric', ...ALL_MODES.map((m) => MODE_TITLE[m]), 'pass/direct', 'pass/bare', 'line/direct', 'line/bare', 'bare/direct', 'target', 'met'];
  const body = rows.map((row) => {
    const j = judge(row);
    return [
      row.label,
      ...ALL_MODES.map((m) => fmt(row.values[m])),
      fmt(ratio(row, 'passthrough', 'direct'), 2),
      fmt(ratio(row, 'passthrough', 'bare'), 2),
      fmt(ratio(row, 'line', 'direct'), 2),
      fmt(ratio(row, 'line', 'bare'), 2),
      fmt(ratio(row, 'bare', 'direct'), 2),
      j.text,
      j.met === null ? (j.text ? 'n/a' : '') : j.met ? 'met' : 'NOT MET',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => (i === 0 || i >= header.length - 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i === 0 || i >= header.length - 2 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), sep, ...body.map(line)].join('\n');
}

function cpuRows(R) {
  const rows = [];
  const pick = (sc, key) => ALL_MODES.map((m) => fmt(sc?.[m]?.[key]));
  if (R.throughput) {
    rows.push(['bulk 1 conn: proxy CPU µs/MiB', ...pick(R.throughput.conns1, 'proxyCpuUsPerMiB')]);
    rows.push(['bulk 8 conns: proxy CPU µs/MiB', ...pick(R.throughput.conns8, 'proxyCpuUsPerMiB')]);
  }
  if (R.rr) rows.push(['rr: proxy CPU µs/request', ...pick(R.rr, 'proxyCpuUsPerReq')]);
  if (R.connrate) rows.push(['connrate: proxy CPU µs/connection', ...pick(R.connrate, 'proxyCpuUsPerConn')]);
  if (R.line) rows.push(['line: proxy CPU µs/MiB', ...pick(R.line, 'proxyCpuUsPerMiB')]);
  if (rows.length === 0) return '';
  const header = ['proxy process CPU (all threads)', ...ALL_MODES.map((m) => MODE_TITLE[m])];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), sep, ...rows.map(line)].join('\n');
}

// ---- main ---------------------------------------------------------------------------------------------------

async function main() {
  installCleanup();
  const env = environment();
  const why = switchyardAvailable();
  if (why) {
    const dropped = modes.filter((m) => m === 'passthrough' || m === 'line');
    modes = modes.filter((m) => m !== 'passthrough' && m !== 'line');
    if (dropped.length) log(`bench: switchyard is not runnable (${why}); skipping modes: ${dropped.join(', ')}`);
  }
  log(`bench: node ${env.node}, nproc ${env.nproc}, ${env.cpu}; scenarios ${only.join(',')}; modes ${modes.join(',')}; ${quick ? 'quick' : 'full'}, ${repeat} trial(s) each`);
  const server = forkHelper(path.join(here, 'server.js'), 'server');
  const load = forkHelper(path.join(here, 'load.js'), 'load');
  const { port: serverPort } = await server.ready;
  await load.ready;
  const ctx = { server, load, serverPort, proxyStderr: [], noisy: [], waitQuiet: !opts['no-wait-quiet'] };
  const results = {};
  const started = performance.now();
  try {
    if (only.includes('throughput')) results.throughput = await scenarioThroughput(ctx);
    if (only.includes('rr')) results.rr = await scenarioRR(ctx);
    if (only.includes('connrate')) results.connrate = await scenarioConnrate(ctx);
    if (only.includes('line')) results.line = await scenarioLine(ctx);
    if (only.includes('idle')) results.idle = await scenarioIdle(ctx);
  } finally {
    await stop(load.child);
    await stop(server.child);
  }
  const rows = buildRows(results);
  const summary = rows.map((r) => {
    const j = judge(r);
    return { metric: r.label, better: r.better, values: r.values, vsDirect: Object.fromEntries(ALL_MODES.map((m) => [m, ratio(r, m, 'direct')])), vsBare: Object.fromEntries(ALL_MODES.map((m) => [m, ratio(r, m, 'bare')])), target: j.text || null, met: j.met };
  });
  const doc = { environment: env, switchyardSkipped: why, modes, noisyTrials: ctx.noisy, seconds: (performance.now() - started) / 1000, summary, proxyStderr: ctx.proxyStderr, scenarios: results };
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(doc, null, 2)}\n`);

  const out = [];
  out.push('');
  out.push(`switchyard bench — node ${env.node}, nproc ${env.nproc}, ${env.cpu}, ${quick ? 'quick' : 'full'} run, median of ${repeat} trial(s)${opts['node-flags'] ? `; switchyard run with node ${opts['node-flags']}` : ''}`);
  out.push('Ratios are "at least as good" ratios: value/baseline when higher is better, baseline/value when lower is better.');
  out.push('');
  out.push(renderTable(rows));
  const cpu = cpuRows(results);
  if (cpu) out.push('', cpu);
  const incomplete = [];
  for (const sc of ['throughput', 'line']) {
    const groups = sc === 'throughput' ? ['conns1', 'conns8'].map((g) => results.throughput?.[g]) : [results.line];
    for (const g of groups) for (const m of ALL_MODES) if (g?.[m] && !g[m].complete) incomplete.push(`${sc}/${m}`);
  }
  if (incomplete.length) out.push('', `note: time bound hit before all bytes arrived in: ${incomplete.join(', ')} (figures are bytes received / time)`);
  const errs = [];
  for (const [sc, r] of Object.entries(results)) for (const m of ALL_MODES) if (r?.[m]?.errors) errs.push(`${sc}/${m}: ${r[m].errors}`);
  if (errs.length) out.push('', `errors: ${errs.join(', ')}`);
  if (ctx.noisy.length) out.push('', `noisy trials (other processes used > ${NOISE_CORES} cores even after retries): ${ctx.noisy.join(', ')}`);
  if (ctx.proxyStderr.length) out.push('', `proxy stderr lines: ${ctx.proxyStderr.map((s) => `${s.mode}: ${s.lines}`).join(', ')} (tails in the JSON)`);
  if (why) out.push('', `switchyard modes skipped: ${why}`);
  out.push('', `results: ${path.relative(process.cwd(), outFile)} (${fmt(doc.seconds, 0)} s)`);
  process.stdout.write(`${out.join('\n')}\n`);
  if (only.includes('http') && !why) {
    // The chaos scenario (HTTP request rate through faults and protocol mode) is its own script: bench/chaos.js.
    const r = spawnSync(process.execPath, [path.join(here, 'chaos.js'), ...(quick ? ['--quick'] : []), '--repeat', String(repeat)], { stdio: 'inherit' });
    if (r.status !== 0) process.exitCode = r.status ?? 1;
  }
  if (only.includes('routing') && !why) {
    // Per-request HTTP routing over 8 routes and per-command Redis routing over two clusters vs one route: bench/routing.js.
    const r = spawnSync(process.execPath, [path.join(here, 'routing.js'), ...(quick ? ['--quick'] : []), '--repeat', String(repeat)], { stdio: 'inherit' });
    if (r.status !== 0) process.exitCode = r.status ?? 1;
  }
  if (only.includes('nvariant') && !why) {
    // N-variant execution (replicate N=3 unanimous/primary, mirror) against single passthrough: bench/nvariant.js.
    const r = spawnSync(process.execPath, ['--expose-gc', path.join(here, 'nvariant.js'), ...(quick ? ['--quick'] : []), '--repeat', String(repeat), ...(opts['no-wait-quiet'] ? ['--no-wait-quiet'] : [])], { stdio: 'inherit' });
    if (r.status !== 0) process.exitCode = r.status ?? 1;
  }
  if (only.includes('wamp')) {
    // WAMP CALL and PUBLISH→EVENT rates: direct to fox-wamp vs through `switchyard wamp`: bench/wamp.js.
    const r = spawnSync(process.execPath, [path.join(here, 'wamp.js'), ...(quick ? ['--quick'] : []), '--repeat', String(repeat)], { stdio: 'inherit' });
    if (r.status !== 0) process.stdout.write(`wamp bench failed (exit ${r.status})\n`);
  }
  if (only.includes('grpc')) {
    // gRPC unary and server-stream: direct, a bare node:http2 pipe, and `switchyard grpc` when it exists: bench/grpc.js.
    const r = spawnSync(process.execPath, [path.join(here, 'grpc.js'), ...(quick ? ['--quick'] : []), '--repeat', String(repeat), ...(opts['no-wait-quiet'] ? ['--no-wait-quiet'] : [])], { stdio: 'inherit' });
    if (r.status !== 0) process.exitCode = r.status ?? 1;
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack : err}\n`);
  process.exitCode = 1;
});
