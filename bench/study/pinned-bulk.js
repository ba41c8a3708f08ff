// Bulk transfer through a proxy pinned alone on one CPU (the pinned bench's layout: proxy on --proxy-cpu, iperf3
// client and server on --load-cpu), with per-thread accounting of the proxy: CPU time, time spent waiting for the
// CPU (run-queue wait, from /proc/PID/task/TID/schedstat), context switches, minor page faults and the V8 GCs
// (--trace-gc). Figures that survive a busy machine: CPU per GB,
// who on the proxy's core used it (main thread vs V8 helper threads), GC counts.
// Usage: node bench/study/pinned-bulk.js [--variants pipe,sy,sy:--single-threaded-gc,...] [--gib 2] [--streams 1]
//          [--repeat 3] [--proxy-cpu 1] [--load-cpu 0] [--trace-gc]
//   pipe        the shared bench's node-pipe.js (socket.pipe)
//   sy          bin/switchyard.js proxy, executed as the bin (its own node flags; --trace-gc does not reach it)
//   sy:FLAGS    node FLAGS bin/switchyard.js proxy (flags separated by spaces), e.g. 'sy:--initial-heap-size=64 --single-threaded-gc';
//               environment for it after '@': 'sy:--initial-heap-size=64@MALLOC_TRIM_THRESHOLD_=67108864'
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, installCleanup, stop, track } from '../lib/proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const { values: o } = parseArgs({
  options: {
    variants: { type: 'string', default: 'pipe,sy' },
    gib: { type: 'string', default: '2' },
    streams: { type: 'string', default: '1' },
    repeat: { type: 'string', default: '3' },
    'proxy-cpu': { type: 'string', default: '1' },
    'load-cpu': { type: 'string', default: '0' },
    'trace-gc': { type: 'boolean', default: false },
  },
});
const sharedPipe = path.resolve(root, '..', 'shared', 'bench', 'proxies', 'node-pipe.js');
const median = (xs) => {
  const a = xs.filter(Number.isFinite).sort((p, q) => p - q);
  return a.length === 0 ? NaN : a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
};

/** Per-thread counters of a process: name, run ns, run-queue wait ns, voluntary/involuntary switches, minflt. */
function threads(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      out.set(tid, {
        name: readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(),
        run,
        wait,
        vcs: Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)[1]),
        ivcs: Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)[1]),
        minflt: Number(f[7]),
      });
    } catch {
      /* thread exited */
    }
  }
  return out;
}

function diff(a, b) {
  const per = new Map();
  for (const [tid, t] of b) {
    const s = a.get(tid) ?? { run: 0, wait: 0, vcs: 0, ivcs: 0, minflt: 0 };
    const key = tid === [...b.keys()][0] ? 'main' : t.name.replace(/\d+$/, '#');
    const p = per.get(key) ?? { run: 0, wait: 0, vcs: 0, ivcs: 0, minflt: 0, n: 0 };
    p.run += t.run - s.run;
    p.wait += t.wait - s.wait;
    p.vcs += t.vcs - s.vcs;
    p.ivcs += t.ivcs - s.ivcs;
    p.minflt += t.minflt - s.minflt;
    p.n++;
    per.set(key, p);
  }
  return per;
}

function waitListening(port, timeoutMs) {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() - t0 > timeoutMs) reject(new Error(`nothing listens on ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function proxyCommand(variant, port, target) {
  if (variant === 'pipe') return { cmd: ['node', ...(o['trace-gc'] ? ['--trace-gc'] : []), sharedPipe], env: { LISTEN_HOST: '127.0.0.1', LISTEN_PORT: String(port), TARGET_HOST: '127.0.0.1', TARGET_PORT: String(target) } };
  const args = ['proxy', '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${target}`, '--log-level', 'warn', '--drain-timeout', '0'];
  const bin = path.join(root, 'bin', 'switchyard.js');
  if (variant === 'sy') return { cmd: [bin, ...args], env: {} };
  const [flagPart, ...envPart] = variant.slice(3).split('@');
  const flags = flagPart.split(' ').filter(Boolean);
  const env = Object.fromEntries(envPart.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  return { cmd: ['node', ...flags, ...(o['trace-gc'] ? ['--trace-gc'] : []), bin, ...args], env };
}

async function main() {
  installCleanup();
  if (!existsSync(sharedPipe)) throw new Error(`${sharedPipe} is missing`);
  const loadCpu = o['load-cpu'];
  const iperfPort = await freePort();
  const server = track(spawn('taskset', ['-c', loadCpu, 'iperf3', '-s', '-B', '127.0.0.1', '-p', String(iperfPort)], { stdio: 'ignore' }), 'iperf3-server');
  await waitListening(iperfPort, 10_000);
  const rows = new Map();
  try {
    for (let r = 0; r < Number(o.repeat); r++) {
      for (const variant of o.variants.split(',')) {
        const port = await freePort();
        const { cmd, env } = proxyCommand(variant, port, iperfPort);
        const child = track(spawn('taskset', ['-c', o['proxy-cpu'], ...cmd], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }), variant);
        let gcLines = { scavenge: 0, markCompact: 0, other: 0 };
        let counting = false;
        let buf = '';
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (d) => {
          buf += d;
          const lines = buf.split('\n');
          buf = lines.pop();
          if (!counting) return;
          for (const l of lines) {
            if (l.includes('Scavenge')) gcLines.scavenge++;
            else if (l.includes('Mark-Compact')) gcLines.markCompact++;
            else if (/ms: /.test(l)) gcLines.other++;
          }
        });
        child.stderr.resume();
        await waitListening(port, 20_000);
        // node's pid: taskset execs the command, so the child's pid is the proxy's (the bin's sh launcher execs node too)
        const pid = child.pid;
        const iperf = (bytes) =>
          spawnSync('taskset', ['-c', loadCpu, 'iperf3', '-c', '127.0.0.1', '-p', String(port), '-n', String(bytes), '-P', o.streams, '-J', '--connect-timeout', '5000'], { encoding: 'utf8', timeout: 120_000 });
        iperf(256 * 1024 * 1024); // warm-up
        await new Promise((res) => setTimeout(res, 300));
        const t0 = threads(pid);
        counting = true;
        gcLines = { scavenge: 0, markCompact: 0, other: 0 };
        const res = iperf(Number(o.gib) * 2 ** 30);
        await new Promise((res2) => setTimeout(res2, 200));
        counting = false;
        const per = diff(t0, threads(pid));
        let gbps = NaN;
        try {
          gbps = JSON.parse(res.stdout).end.sum_received.bits_per_second / 1e9;
        } catch {
          process.stderr.write(`iperf3 failed for ${variant}: ${res.stderr || res.stdout.slice(0, 300)}\n`);
        }
        const gb = (Number(o.gib) * 2 ** 30) / 1e9;
        let run = 0;
        let wait = 0;
        for (const p of per.values()) {
          run += p.run;
          wait += p.wait;
        }
        const main = per.get('main');
        const trial = {
          gbps,
          cpuSPerGB: run / 1e9 / gb,
          mainShare: main.run / run,
          helperMsPerGB: (run - main.run) / 1e6 / gb,
          waitMsPerGB: wait / 1e6 / gb,
          mainWaitMsPerGB: main.wait / 1e6 / gb,
          ivcsPerGB: [...per.values()].reduce((s, p) => s + p.ivcs, 0) / gb,
          vcsPerGB: [...per.values()].reduce((s, p) => s + p.vcs, 0) / gb,
          minfltPerGB: [...per.values()].reduce((s, p) => s + p.minflt, 0) / gb,
          ...gcLines,
          threads: Object.fromEntries([...per].filter(([, p]) => p.run > 0).map(([k, p]) => [k, Math.round(p.run / 1e6)])),
        };
        process.stderr.write(`r${r + 1} ${variant.padEnd(34)} ${gbps.toFixed(2)} Gbit/s  cpu ${trial.cpuSPerGB.toFixed(3)} s/GB  main ${(trial.mainShare * 100).toFixed(1)}%  helpers ${trial.helperMsPerGB.toFixed(1)} ms/GB  runq-wait ${trial.waitMsPerGB.toFixed(1)} ms/GB  ivcs ${trial.ivcsPerGB.toFixed(0)}/GB  vcs ${trial.vcsPerGB.toFixed(0)}/GB  minflt ${trial.minfltPerGB.toFixed(0)}/GB  gc ${JSON.stringify(gcLines)}  threads(ms) ${JSON.stringify(trial.threads)}\n`);
        const list = rows.get(variant) ?? [];
        list.push(trial);
        rows.set(variant, list);
        await stop(child);
      }
    }
  } finally {
    await stop(server);
  }
  console.log(`\n${o.streams} stream(s), ${o.gib} GiB per trial, proxy on CPU ${o['proxy-cpu']}, iperf3 on CPU ${loadCpu}; median of ${o.repeat} (node ${process.version})`);
  console.log('| proxy | Gbit/s (min–max) | CPU s/GB | main thread share | helper threads ms/GB | run-queue wait ms/GB | involuntary switches/GB | minor faults/GB | scavenges | mark-compacts |');
  console.log('|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const [variant, trials] of rows) {
    const m = (k) => median(trials.map((t) => t[k]));
    const g = trials.map((t) => t.gbps);
    console.log(`| ${variant} | ${m('gbps').toFixed(2)} (${Math.min(...g).toFixed(2)}–${Math.max(...g).toFixed(2)}) | ${m('cpuSPerGB').toFixed(3)} | ${(m('mainShare') * 100).toFixed(1)} % | ${m('helperMsPerGB').toFixed(1)} | ${m('waitMsPerGB').toFixed(1)} | ${m('ivcsPerGB').toFixed(0)} | ${m('minfltPerGB').toFixed(0)} | ${m('scavenge')} | ${m('markCompact')} |`);
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exitCode = 1;
});
