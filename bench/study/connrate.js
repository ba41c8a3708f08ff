// Connection-rate study: why does a bare pipe proxy reach only a fraction of direct's new connections/s?
// Runs the bench's connrate (or rr) load against direct, proxy variants (bench/study/proxy-variants.js) and,
// when built, switchyard; trials interleaved; reports the median rate and the CPU each process spent per
// connection (all threads, from /proc/PID/task/*/schedstat).
//
// Usage: node bench/study/connrate.js [--variants pipe,raw,...] [--switchyard] [--repeat 5] [--total 20000]
//          [--sessions session,session-plain,session-line] [--lib] [--pin] [--prof-dir DIR]
// --prof-dir: run every proxy with node --cpu-prof into DIR/<target>/ (summarize with bench/study/cpuprofile-top.js)
//          [--time 3000] [--concurrency 32] [--scenario connrate|rr|bulk1|bulk8|line] [--single-accept]
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { coresBusy, cpuSeconds, forkHelper, freePort, installCleanup, machineCpu, pin, spawnProxy, stop, waitQuiet } from '../lib/proc.js';
import { binLaunch } from '../lib/launch.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const { values: o } = parseArgs({
  options: {
    variants: { type: 'string', default: 'pipe,pipe-localhost,pipe-nodelay,raw,raw-eager,raw-close,raw-noobj,preconnect,cluster' },
    switchyard: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '5' },
    total: { type: 'string', default: '20000' },
    time: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '32' },
    scenario: { type: 'string', default: 'connrate' },
    'single-accept': { type: 'boolean', default: false },
    pin: { type: 'boolean', default: false },
    lib: { type: 'boolean', default: false },
    sessions: { type: 'string', default: '' },
    'prof-dir': { type: 'string' },
  },
});
const repeat = Number(o.repeat);
/** node flags to profile a proxy process (--prof-dir). */
const profFlags = (name) => (o['prof-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(o['prof-dir'], name.replace(/[^\w.-]+/g, '_'))}`] : []);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const a = xs.filter(Number.isFinite).sort((p, q) => p - q);
  return a.length === 0 ? NaN : a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
};

/** A process and its descendants (for the cluster variant's workers). */
function family(pid) {
  const kids = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
    } catch {
      /* gone */
    }
  }
  const out = [];
  const walk = (p) => {
    out.push(p);
    for (const k of kids.get(p) ?? []) walk(k);
  };
  walk(pid);
  return out;
}
const familyCpu = (pids) => pids.reduce((n, p) => n + cpuSeconds(p), 0);

async function main() {
  installCleanup();
  const server = forkHelper(path.join(root, 'bench', 'server.js'), 'server');
  const load = forkHelper(path.join(root, 'bench', 'load.js'), 'load');
  const { port: serverPort } = await server.ready;
  await load.ready;
  const targets = [{ name: 'direct', port: serverPort, pids: [] }];
  const procs = [];
  try {
    for (const v of o.variants.split(',').filter(Boolean)) {
      const names = o['single-accept'] && v === 'pipe' ? [v, `${v}+UV_TCP_SINGLE_ACCEPT`] : [v];
      for (const name of names) {
        const port = await freePort();
        const args = [...profFlags(name), path.join(here, 'proxy-variants.js'), '--variant', v, '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${serverPort}`];
        if (name.includes('SINGLE_ACCEPT')) process.env.UV_TCP_SINGLE_ACCEPT = '1';
        const p = spawnProxy(args, name, 'proxy-variant');
        delete process.env.UV_TCP_SINGLE_ACCEPT;
        procs.push(p);
        await p.ready;
        await sleep(300);
        targets.push({ name, port, pids: family(p.pid) });
      }
    }
    if (o.switchyard) {
      const port = await freePort();
      const launch = binLaunch(root); // as the bin runs: its shebang line's environment and node flags
      const p = spawnProxy([...launch.flags, ...profFlags('switchyard'), path.join(root, 'bin', 'switchyard.js'), 'proxy', '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${serverPort}`, '--log-level', 'warn', '--drain-timeout', '0'], 'switchyard', 'switchyard proxy:', undefined, launch.env);
      procs.push(p);
      await p.ready;
      targets.push({ name: 'switchyard', port, pids: [p.pid] });
    }
    for (const v of o.sessions.split(',').filter(Boolean)) {
      const port = await freePort();
      const p = spawnProxy([...profFlags(v), path.join(here, 'session-variants.js'), '--variant', v, '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${serverPort}`], v, 'proxy-variant');
      procs.push(p);
      await p.ready;
      targets.push({ name: v, port, pids: [p.pid] });
    }
    if (o.lib) {
      for (const nm of [false, true]) {
        const port = await freePort();
        const name = nm ? 'switchyard-lib-nometrics' : 'switchyard-lib';
        const p = spawnProxy([path.join(here, 'switchyard-lib.js'), '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${serverPort}`, ...(nm ? ['--no-default-metrics'] : [])], name, 'switchyard proxy:');
        procs.push(p);
        await p.ready;
        targets.push({ name, port, pids: [p.pid] });
      }
    }
    // --pin: proxies on CPU 1; load and server on CPU 0 while a proxy is measured, on both CPUs for direct
    const pinFor = (t) => {
      if (!o.pin) return;
      const proxied = t.pids.length > 0;
      pin(server.pid, proxied ? '0' : '0-1');
      pin(load.pid, proxied ? '0' : '0-1');
      for (const p of t.pids) pin(p, '1');
    };
    const total = Number(o.total);
    const time = Number(o.time);
    const conc = Number(o.concurrency);
    const rows = new Map(targets.map((t) => [t.name, []]));
    const MiB = 1048576;
    const run = (port, warm = false) => {
      switch (o.scenario) {
        case 'rr':
          return load.call('rr', { port, conns: 64, size: 64, timeMs: warm ? 500 : time, warmupMs: warm ? 200 : 300, maxRequests: 2e6 });
        case 'connrate':
          return load.call('connrate', { port, concurrency: conc, size: 64, total: warm ? 1000 : total, warmup: 0, timeMs: warm ? 2000 : time });
        case 'bulk1':
        case 'bulk8':
          return load.call('bulk', { port, conns: o.scenario === 'bulk1' ? 1 : 8, totalBytes: (warm ? 32 : 512) * MiB, lineLen: 1024, timeMs: time });
        case 'line':
          return load.call('bulk', { port, conns: 1, totalBytes: (warm ? 16 : 256) * MiB, lineLen: 100, timeMs: time });
        default:
          throw new Error(`unknown scenario ${o.scenario}`);
      }
    };
    for (const t of targets) {
      pinFor(t);
      await run(t.port, true); // warm-up every target once
    }
    for (let r = 0; r < repeat; r++) {
      for (const t of targets) {
        let row;
        pinFor(t);
        for (let attempt = 1; attempt <= 3; attempt++) {
          await waitQuiet({ maxCores: 0.25, maxWaitMs: 30_000 });
          const before = { proxy: familyCpu(t.pids), server: cpuSeconds(server.pid), load: cpuSeconds(load.pid) };
          const m0 = machineCpu();
          const t0 = performance.now();
          const res = await run(t.port);
          const wall = (performance.now() - t0) / 1000;
          const busy = coresBusy(m0, machineCpu(), os.availableParallelism());
          const n = o.scenario === 'rr' ? res.requests : o.scenario === 'connrate' ? res.connections : res.bytes / 1048576;
          const rate = o.scenario === 'rr' ? res.reqPerSec : o.scenario === 'connrate' ? res.connPerSec : res.mibPerSec;
          const used = { proxy: t.pids.length ? familyCpu(t.pids) - before.proxy : 0, server: cpuSeconds(server.pid) - before.server, load: cpuSeconds(load.pid) - before.load };
          const background = Math.max(0, busy - (used.proxy + used.server + used.load) / wall);
          row = {
            rate,
            p50: res.latencyMs?.p50 ?? NaN,
            p99: res.latencyMs?.p99 ?? NaN,
            proxyUs: t.pids.length ? (used.proxy * 1e6) / n : NaN,
            serverUs: (used.server * 1e6) / n,
            loadUs: (used.load * 1e6) / n,
            busy,
            background,
            errors: res.errors,
          };
          if (background <= 0.3) break;
          process.stderr.write(`  (background ${background.toFixed(2)} cores; retrying)\n`);
        }
        rows.get(t.name).push(row);
        process.stderr.write(`  ${t.name.padEnd(28)} trial ${r + 1}: ${row.rate.toFixed(0)}/s p99 ${row.p99.toFixed(2)} ms; µs/unit proxy ${row.proxyUs.toFixed(0)} server ${row.serverUs.toFixed(0)} load ${row.loadUs.toFixed(0)}; cores busy ${row.busy.toFixed(2)} bg ${row.background.toFixed(2)}\n`);
      }
    }
    const unit = o.scenario === 'rr' ? 'req' : o.scenario === 'connrate' ? 'conn' : 'MiB';
    const direct = median(rows.get('direct').map((x) => x.rate));
    const bare = rows.has('pipe') ? median(rows.get('pipe').map((x) => x.rate)) : NaN;
    console.log(`\n${o.scenario}: ${o.scenario === 'connrate' ? `concurrency ${conc}` : o.scenario === 'rr' ? 'concurrency 64' : ''}, median of ${repeat} trials (node ${process.version}, nproc ${os.availableParallelism()})`);
    console.log(`| target | ${unit}/s | ×direct | ×pipe | p50 ms | p99 ms | proxy CPU µs/${unit} | server µs/${unit} | load µs/${unit} | total µs/${unit} | cores busy | background | errors |`);
    console.log('|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const [name, rs] of rows) {
      const m = (k) => median(rs.map((x) => x[k]));
      const tot = (Number.isFinite(m('proxyUs')) ? m('proxyUs') : 0) + m('serverUs') + m('loadUs');
      console.log(
        `| ${name} | ${m('rate').toFixed(0)} | ${(m('rate') / direct).toFixed(2)} | ${(m('rate') / bare).toFixed(2)} | ${m('p50').toFixed(2)} | ${m('p99').toFixed(2)} | ${Number.isFinite(m('proxyUs')) ? m('proxyUs').toFixed(0) : '—'} | ${m('serverUs').toFixed(0)} | ${m('loadUs').toFixed(0)} | ${tot.toFixed(0)} | ${m('busy').toFixed(2)} | ${m('background').toFixed(2)} | ${rs.reduce((n, x) => n + x.errors, 0)} |`,
      );
    }
  } finally {
    for (const p of procs) await stop(p.child);
    await stop(load.child);
    await stop(server.child);
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exitCode = 1;
});
