// GC during a bulk transfer: how many V8 Mark-Compacts each proxy process runs while forwarding, and what that
// costs. Starts bench/server.js and bench/load.js, then for each target a proxy process with --trace-gc (plus any
// --node-flags), one warm-up transfer and --repeat measured 1-connection transfers of --mib MiB (1024-byte lines).
// Usage: node bench/study/gc.js [--targets pipe,raw,raw+load-switchyard,switchyard,switchyard+setflags,switchyard+initial-heap]
//          (+initial-heap: node --initial-heap-size=64; +setflags: the same via v8.setFlagsFromString at startup)
//          [--repeat 3] [--mib 512] [--scenario bulk|line]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuSeconds, forkHelper, freePort, installCleanup, spawnProxy, stop, waitQuiet } from '../lib/proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const { values: o } = parseArgs({
  options: {
    targets: { type: 'string', default: 'pipe,raw,raw+load-switchyard,switchyard,switchyard+setflags,switchyard+initial-heap' },
    repeat: { type: 'string', default: '3' },
    mib: { type: 'string', default: '512' },
    scenario: { type: 'string', default: 'bulk' },
  },
});
const MiB = 1048576;
/** Minor page faults of a process so far (/proc/PID/stat field 10). */
const minflt = (pid) => {
  const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[7]);
};
const median = (xs) => {
  const a = [...xs].sort((p, q) => p - q);
  return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
};

function argsFor(target, port, upstream) {
  const [name, mod] = target.split('+');
  const flags = ['--trace-gc', ...(mod === 'initial-heap' ? ['--initial-heap-size=64'] : [])];
  if (name === 'switchyard' || name === 'switchyard-line') {
    const bin = mod === 'setflags' ? path.join(here, 'switchyard-setflags.js') : path.join(root, 'bin', 'switchyard.js');
    return [...flags, bin, 'proxy', '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${upstream}`, '--log-level', 'warn', '--drain-timeout', '0', ...(name === 'switchyard-line' ? ['--framing', 'line'] : [])];
  }
  return [...flags, path.join(here, 'proxy-variants.js'), '--variant', name, '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${upstream}`, ...(mod === 'load-switchyard' ? ['--load-switchyard'] : [])];
}

async function main() {
  installCleanup();
  const server = forkHelper(path.join(root, 'bench', 'server.js'), 'server');
  const load = forkHelper(path.join(root, 'bench', 'load.js'), 'load');
  const { port: upstream } = await server.ready;
  await load.ready;
  const lineLen = o.scenario === 'line' ? 100 : 1024;
  const rows = [];
  try {
    for (const target of o.targets.split(',')) {
      const port = await freePort();
      const p = spawnProxy(argsFor(target, port, upstream), target, target.startsWith('switchyard') ? 'switchyard proxy:' : 'proxy-variant');
      let out = '';
      p.child.stdout.on('data', (d) => {
        out += d;
      });
      await p.ready;
      const transfer = (mib) => load.call('bulk', { port, conns: 1, totalBytes: mib * MiB, lineLen, timeMs: 20_000 });
      await transfer(32);
      const trials = [];
      for (let r = 0; r < Number(o.repeat); r++) {
        await waitQuiet({ maxCores: 0.25 });
        out = '';
        const c0 = cpuSeconds(p.pid);
        const f0 = minflt(p.pid);
        const res = await transfer(Number(o.mib));
        const cpu = cpuSeconds(p.pid) - c0;
        const faults = minflt(p.pid) - f0;
        const lines = out.split('\n');
        let gcMs = 0;
        for (const l of lines) {
          const m = /, ([\d.]+) \/ [\d.]+ ms/.exec(l);
          if (m) gcMs += Number(m[1]);
        }
        const t = {
          mibPerSec: res.mibPerSec,
          cpuUsPerMiB: (cpu * 1e6) / (res.bytes / MiB),
          scavenges: lines.filter((l) => l.includes('Scavenge')).length,
          markCompacts: lines.filter((l) => l.includes('Mark-Compact')).length,
          gcPauseMs: gcMs,
          faultsPerMiB: faults / (res.bytes / MiB),
        };
        trials.push(t);
        process.stderr.write(`  ${target.padEnd(26)} ${t.mibPerSec.toFixed(0)} MiB/s, ${t.cpuUsPerMiB.toFixed(0)} µs/MiB, ${t.scavenges} scavenges, ${t.markCompacts} mark-compacts (${t.gcPauseMs.toFixed(0)} ms main-thread GC), ${t.faultsPerMiB.toFixed(0)} page faults/MiB\n`);
      }
      await stop(p.child);
      rows.push({ target, trials });
    }
  } finally {
    await stop(load.child);
    await stop(server.child);
  }
  console.log(`\n${o.scenario}: 1 connection, ${o.mib} MiB of ${lineLen}-byte lines per trial; median of ${o.repeat} (node ${process.version})`);
  console.log('| proxy process | MiB/s | proxy CPU µs/MiB | scavenges | mark-compacts | main-thread GC ms | minor page faults/MiB |');
  console.log('|:--|--:|--:|--:|--:|--:|--:|');
  for (const { target, trials } of rows) {
    const m = (k) => median(trials.map((t) => t[k]));
    console.log(`| ${target} | ${m('mibPerSec').toFixed(0)} | ${m('cpuUsPerMiB').toFixed(0)} | ${m('scavenges')} | ${m('markCompacts')} | ${m('gcPauseMs').toFixed(0)} | ${m('faultsPerMiB').toFixed(0)} |`);
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exitCode = 1;
});
