// WAMP benchmark (issue 14): CALL round trips per second and PUBLISH→EVENT rate, straight to a fox-wamp router vs
// through `switchyard wamp` (WebSocket JSON on both sides), with autobahn-js clients.
//   direct      load → fox-wamp (WebSocket JSON)
//   switchyard  load → bin/switchyard.js wamp --listen … --backend ws://…/ → fox-wamp
// Load: one callee session registers bench.echo; 4 caller sessions keep 128 calls in flight in total for the
// duration; then one subscriber and 4 publishers keep 128 acknowledged publishes in flight, counting EVENTs at the
// subscriber. Figures: calls/s, events/s, switchyard as a ratio of direct (target ≥ 0.6× for calls).
// Processes (127.0.0.1): this orchestrator, the router (child --router), switchyard (child), the load (child --load).
// Every loop is bounded by time. Usage: node bench/wamp.js [--quick] [--repeat N]   (npm run bench -- --only wamp)
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { binLaunch } from './lib/launch.js';
import { freePort, installCleanup, spawnProxy, stop, track } from './lib/proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const require = createRequire(import.meta.url);

const { values: opts } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, repeat: { type: 'string' }, router: { type: 'string' }, load: { type: 'string' }, seconds: { type: 'string' }, 'no-wait-quiet': { type: 'boolean', default: false } },
  allowPositionals: false,
});

if (opts.router) {
  const FoxRouter = require('fox-wamp');
  const server = new FoxRouter().listenWAMP({ host: '127.0.0.1', port: Number(opts.router) });
  server.on('listening', () => process.stdout.write('router ready\n'));
} else if (opts.load) {
  await load(opts.load, Number(opts.seconds ?? 3));
  process.exit(0);
} else {
  await main();
}

async function load(url, seconds) {
  const { WebSocket } = await import('ws');
  globalThis.WebSocket ??= WebSocket;
  const autobahn = require('autobahn');
  const open = () =>
    new Promise((resolve, reject) => {
      const c = new autobahn.Connection({ url, realm: 'realm1', max_retries: 0 });
      c.onopen = (s) => resolve({ s, c });
      c.onclose = (r, d) => (reject(new Error(`closed: ${r} ${JSON.stringify(d)}`)), true);
      c.open();
    });
  const INFLIGHT = Number(process.env.WAMP_BENCH_INFLIGHT ?? 128);
  const callee = await open();
  await callee.s.register('bench.echo', (args) => args[0]);
  const callers = await Promise.all([open(), open(), open(), open()]);
  const payload = 'x'.repeat(64);
  const run = async (op) => {
    let n = 0;
    const end = Date.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: INFLIGHT }, async (_v, i) => {
        const s = callers[i % callers.length].s;
        while (Date.now() < end) {
          await op(s);
          n++;
        }
      }),
    );
    return n / seconds;
  };
  // warm-up
  await run(async (s) => s.call('bench.echo', [payload])).catch(() => 0);
  const calls = await run((s) => s.call('bench.echo', [payload]));
  let events = 0;
  const sub = await open();
  await sub.s.subscribe('bench.topic', () => void events++);
  const t0 = Date.now();
  await run((s) => s.publish('bench.topic', [payload], {}, { acknowledge: true }));
  await new Promise((r) => setTimeout(r, 200));
  const eventsPerSec = events / ((Date.now() - t0 - 200) / 1000);
  for (const x of [callee, sub, ...callers]) x.c.close();
  process.stdout.write(`${JSON.stringify({ calls, events: eventsPerSec })}\n`);
}

function runLoad(url, seconds) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(process.execPath, [fileURLToPath(import.meta.url), '--load', url, '--seconds', String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] }), 'wamp-load');
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()));
      } catch {
        reject(new Error(`load failed (${code}): ${out}`));
      }
    });
  });
}

function median(xs) {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

async function main() {
  installCleanup();
  const repeat = Number(opts.repeat ?? (opts.quick ? 1 : 3));
  const seconds = opts.quick ? 1 : 3;
  const routerPort = await freePort();
  const router = spawnProxy([fileURLToPath(import.meta.url), '--router', String(routerPort)], 'wamp-router', 'router ready');
  await router.ready;
  const proxyPort = await freePort();
  const launch = binLaunch(root);
  const sy = spawnProxy([...launch.flags, path.join(root, 'bin', 'switchyard.js'), 'wamp', '--listen', `127.0.0.1:${proxyPort}`, '--backend', `ws://127.0.0.1:${routerPort}/`, '--log-level', 'warn'], 'switchyard-wamp', 'switchyard wamp:', 20_000, launch.env);
  await sy.ready;
  const rows = { direct: [], switchyard: [] };
  for (let i = 0; i < repeat; i++) {
    rows.direct.push(await runLoad(`ws://127.0.0.1:${routerPort}`, seconds));
    rows.switchyard.push(await runLoad(`ws://127.0.0.1:${proxyPort}/ws`, seconds));
  }
  await stop(sy.child);
  await stop(router.child);
  const fig = (k, f) => median(rows[k].map((r) => r[f]));
  const out = {
    date: new Date().toISOString(),
    repeat,
    seconds,
    direct: { calls: fig('direct', 'calls'), events: fig('direct', 'events') },
    switchyard: { calls: fig('switchyard', 'calls'), events: fig('switchyard', 'events') },
    trials: rows,
  };
  const ratio = (f) => (out.switchyard[f] / out.direct[f]).toFixed(2);
  process.stdout.write(`\nWAMP (autobahn-js, WebSocket JSON, 128 in flight; median of ${repeat}, ${seconds} s each)\n`);
  process.stdout.write(`| target | CALL round trips/s | PUBLISH→EVENT /s |\n|---|---|---|\n`);
  process.stdout.write(`| direct (fox-wamp) | ${Math.round(out.direct.calls)} | ${Math.round(out.direct.events)} |\n`);
  process.stdout.write(`| switchyard wamp | ${Math.round(out.switchyard.calls)} (${ratio('calls')}×) | ${Math.round(out.switchyard.events)} (${ratio('events')}×) |\n`);
  mkdirSync(path.join(here, 'results'), { recursive: true });
  writeFileSync(path.join(here, 'results', 'wamp-latest.json'), JSON.stringify(out, null, 2));
}
