// What the traffic tail costs a grpc listener: switchyard (this checkout's dist/, `switchyard run -c`) in front of
// bench/grpc.js's grpc-js server, with the tail off, on at its default (50 calls/s sampled) and on recording every
// call (perSecond 100000), measured as calls per proxy CPU-second (the proxy's utime+stime from /proc, robust to a
// busy machine; wall-clock rates are noise there). The three proxies run side by side and are measured in turn,
// round after round, with the same load (bench/grpc.js --load: unary 100 B echo, 4 connections, 16 calls in flight).
//
//   npm run build && node bench/study/grpc-traffic.js [--rounds 5] [--time-ms 3000]
//
// Every loop is bounded in count and time; every process binds 127.0.0.1 and is stopped by this script.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { binLaunch } from '../lib/launch.js';
import { cpuSeconds, forkHelper, freePort, installCleanup, stop, track } from '../lib/proc.js';

const { values: opt } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, 'time-ms': { type: 'string', default: '3000' } } });
const ROUNDS = Number(opt.rounds);
const TIME_MS = Number(opt['time-ms']);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 50) throw new Error('--rounds: expected 1..50');
if (!Number.isInteger(TIME_MS) || TIME_MS < 200 || TIME_MS > 60_000) throw new Error('--time-ms: expected 200..60000');

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const grpcBench = path.join(root, 'bench', 'grpc.js');
const HOST = '127.0.0.1';

function waitPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect(port, HOST);
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`port ${port} not open after ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

installCleanup();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'swy-grpc-traffic-'));
const srv = forkHelper(grpcBench, 'grpc-server', [], ['--server']);
const { port: serverPort } = await srv.ready;
const load = forkHelper(grpcBench, 'grpc-load', [], ['--load']);
await load.ready;

const variants = [
  { name: 'tail off', traffic: { enabled: false } },
  { name: 'tail on (50/s)', traffic: undefined },
  { name: 'tail on, every call', traffic: { enabled: true, perSecond: 100_000, keep: 10_000 } },
];
const procs = [];
try {
  for (const v of variants) {
    const port = await freePort();
    const cfg = {
      log: { level: 'warn' },
      listeners: [{ id: 'g', listen: `${HOST}:${port}`, protocol: 'grpc', ...(v.traffic ? { traffic: v.traffic } : {}) }],
      clusters: [{ id: 'primary', endpoints: [`${HOST}:${serverPort}`] }],
      routes: [{ id: 'r', listener: 'g', cluster: 'primary' }],
    };
    const file = path.join(tmp, `${procs.length}.json`);
    writeFileSync(file, JSON.stringify(cfg));
    const launch = binLaunch(root);
    const child = track(spawn(process.execPath, [...launch.flags, path.join(root, 'bin', 'switchyard.js'), 'run', '-c', file], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...launch.env } }), v.name);
    procs.push(child);
    await waitPort(port, 20_000);
    v.port = port;
    v.pid = child.pid;
    v.perCpu = [];
    // warm-up (JIT, sessions)
    await load.call('unary', { port, conns: 4, concurrency: 16, size: 100, timeMs: 1000, warmupMs: 0, maxCalls: 1_000_000 }, 60_000);
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of variants) {
      const c0 = cpuSeconds(v.pid);
      const res = await load.call('unary', { port: v.port, conns: 4, concurrency: 16, size: 100, timeMs: TIME_MS, warmupMs: 0, maxCalls: 5_000_000 }, 120_000);
      const cpu = cpuSeconds(v.pid) - c0;
      if (res.errors) throw new Error(`${v.name}: ${res.errors} errors (${res.firstError})`);
      v.perCpu.push(res.calls / cpu);
      process.stderr.write(`round ${r + 1} ${v.name}: ${res.calls} calls, ${cpu.toFixed(2)} proxy CPU-s, ${Math.round(res.calls / cpu)} calls/CPU-s\n`);
    }
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const base = med(variants[0].perCpu);
  process.stdout.write(`| variant | calls per proxy CPU-s (median of ${ROUNDS}) | × tail off |\n|---|---:|---:|\n`);
  for (const v of variants) process.stdout.write(`| ${v.name} | ${Math.round(med(v.perCpu))} | ${(med(v.perCpu) / base).toFixed(3)} |\n`);
} finally {
  for (const p of procs) await stop(p);
  await stop(srv.child);
  await stop(load.child);
  rmSync(tmp, { recursive: true, force: true });
}
