// User-space instructions a proxy executes per new connection or per keep-alive request, counted by callgrind
// (valgrind): independent of how busy the machine is, so before/after comparisons hold on a shared 2-core box.
//
//   node bench/study/callgrind.js --variants pipe,pass,noop3,http --scenario close --warm 1500 --count 500
//   node bench/study/callgrind.js --variants pipe,http --scenario ka --warm 3000 --count 2000
//   node bench/study/callgrind.js --cpu --prof /tmp/prof --variants http --scenario ka --warm 3000 --count 40000
//   node bench/study/callgrind.js --cpu --gc --variants http@/work/main,http --scenario ka --warm 3000 --count 20000
//
// Scenarios: `close` = a new connection per HTTP/1.0 request (accept → upstream connect → 1 KiB answer → close);
// `ka` = HTTP/1.1 keep-alive requests on 8 connections opened during the warm-up. The proxy runs under
// `valgrind --tool=callgrind` (all threads: main, libuv pool, V8's helpers); the backend (node:http, 1 KiB body)
// and the load (this process) do not. After the warm-up the counters are dumped and zeroed; after the measured
// part they are dumped again: that dump's total Ir / count is the figure. Needs `npm run build` and valgrind.
// With `--cpu --gc` the proxy also runs with `--trace-gc-nvp`: the collections V8 reports while the measured requests
// run (scavenges and mark-compacts per 10,000 units, their pause ms, the bytes allocated per unit and what survived
// the scavenges), read from its stdout.
// Variants (`NAME`, `NAME:FLAGS` with node flags for the switchyard variants separated by spaces, e.g.
// 'http:--single-threaded-gc', and `NAME@DIR` to run it from another built checkout): pipe (bench/pipe-proxy.js), pass (`switchyard proxy`; splice path where available), pass-js (the same
// with SWITCHYARD_SPLICE_ADDON=off), noop3 (three no-op faults), http (protocol: http, no faults), http-notap (the same with its traffic tail off:
// under valgrind the tail samples a share of the requests that moves with valgrind's speed), nv3 (protocol: http,
// `replicate: {variants: [b1, b2, b3], policy: unanimous}` over three backends: the N = 3 route of bench/nvariant.js),
// fanout3 (not switchyard: bench/nvariant.js's bare fan-out reference over the same three backends).
//
//   node bench/study/callgrind.js --variants http,nv3 --scenario ka --warm 3000 --count 2000
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dumpOnly, dumpTotal, freePort, procCpu, scratch, waitListening, oneClose } from './lib.js';

const { values: opt } = parseArgs({
  options: {
    cpu: { type: 'boolean', default: false },
    root: { type: 'string', default: '' },
    variants: { type: 'string', default: 'pipe,pass,noop3' },
    scenario: { type: 'string', default: 'close' },
    warm: { type: 'string', default: '1500' },
    count: { type: 'string', default: '500' },
    repeat: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '4' },
    keep: { type: 'boolean', default: false },
    prof: { type: 'string', default: '' },
    gc: { type: 'boolean', default: false },
  },
});
const here = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
/** Variants `name@DIR` run the proxy from another checkout (built), e.g. the commit before a change. */
const rootOf = (variant) => (variant.includes('@') ? path.resolve(variant.slice(variant.indexOf('@') + 1)) : opt.root ? path.resolve(opt.root) : here);
/** `name:FLAGS@DIR` → the node flags between ':' and '@' (separated by spaces). */
const flagsOf = (variant) => {
  const at = variant.indexOf('@');
  const head = at < 0 ? variant : variant.slice(0, at);
  const colon = head.indexOf(':');
  return colon < 0 ? [] : head.slice(colon + 1).split(' ').filter((f) => f.length > 0);
};
const WARM = Number(opt.warm);
const COUNT = Number(opt.count);
const BODY = Buffer.alloc(1024, 'x');

const { tmp, children } = scratch('sy-callgrind-', opt.keep);

async function startBackend() {
  const port = await freePort();
  // keepAliveTimeout 0: a callgrind dump stalls the proxy for seconds on a busy machine; node's default 5 s idle
  // timeout then closed the keep-alive connections under the load's feet ("socket hang up")
  const code = `const srv = require('node:http').createServer((q, s) => { q.resume(); q.on('end', () => { s.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1024 }); s.end(Buffer.alloc(1024, 'x')); }); }); srv.keepAliveTimeout = 0; srv.listen(${port}, '127.0.0.1');`;
  const c = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  children.push(c);
  await waitListening(port);
  return port;
}

/** Backends 2 and 3 of the nv3 variant, started when first needed. */
let more;

async function extraBackends(name) {
  if (!['nv3', 'fanout3'].includes(name.split(/[:@]/)[0])) return [];
  more ??= [await startBackend(), await startBackend()];
  return more;
}

function proxyCommand(name, listen, upstream, extra = []) {
  const root = rootOf(name);
  const variant = name.split(/[:@]/)[0];
  const flags = ['--initial-heap-size=64', ...flagsOf(name)];
  // --prof DIR (with --cpu): the switchyard variants write a V8 CPU profile (warm-up included) into DIR
  if (opt.gc) flags.push('--trace-gc-nvp');
  if (opt.prof) flags.push('--cpu-prof', `--cpu-prof-dir=${path.resolve(opt.prof)}`, `--cpu-prof-name=${name.replace(/[^\w.-]+/g, '_')}-${Date.now()}.cpuprofile`);
  const env = { ...process.env, MALLOC_TRIM_THRESHOLD_: '67108864' };
  const bin = path.join(root, 'bin/switchyard.js');
  const yaml = (extra) => {
    const f = path.join(tmp, `${variant}-${listen}.yaml`);
    fs.writeFileSync(f, `listeners:\n  - id: in\n    listen: 127.0.0.1:${listen}\n${extra}clusters:\n  - { id: up, endpoints: ["127.0.0.1:${upstream}"] }\nroutes:\n  - { id: r, listener: in, cluster: up }\n`);
    return f;
  };
  switch (variant) {
    case 'pipe':
      return { args: [...flagsOf(name), ...(opt.gc ? ['--trace-gc-nvp'] : []), path.join(root, 'bench/pipe-proxy.js'), '--listen', `127.0.0.1:${listen}`, '--upstream', `127.0.0.1:${upstream}`], env: process.env };
    case 'pass':
    case 'pass-js':
      return {
        args: [...flags, bin, 'proxy', '--listen', `127.0.0.1:${listen}`, '--upstream', `127.0.0.1:${upstream}`, '--log-level', 'warn'],
        env: variant === 'pass-js' ? { ...env, SWITCHYARD_SPLICE_ADDON: 'off' } : env,
      };
    case 'noop3':
      return { args: [...flags, bin, 'run', '-c', yaml('    faults:\n      - { type: noop, name: n0 }\n      - { type: noop, name: n1 }\n      - { type: noop, name: n2 }\n'), '--log-level', 'warn'], env };
    case 'http':
      return { args: [...flags, bin, 'run', '-c', yaml('    protocol: http\n'), '--log-level', 'warn'], env };
    case 'http-notap':
      // the traffic tail samples up to 50 requests a second: most of the ~60–300 requests/s valgrind lets through
      // (so `http`'s figure moves with valgrind's speed), 0.3 % of a pinned run's ~15,000/s; off here
      return { args: [...flags, bin, 'run', '-c', yaml('    protocol: http\n    traffic: { enabled: false }\n'), '--log-level', 'warn'], env };
    case 'fanout3': {
      // nvariant.js --fanout listens on port 0 and reports it over IPC: pin the port, drop the report
      const wrap = path.join(tmp, 'fanout-wrap.mjs');
      fs.writeFileSync(
        wrap,
        `import net from 'node:net';\nconst listen = net.Server.prototype.listen;\nnet.Server.prototype.listen = function (_p, host, cb) { return listen.call(this, ${listen}, host, cb); };\nprocess.send = () => true;\nawait import(${JSON.stringify(path.join(root, 'bench/nvariant.js'))});\n`,
      );
      return { args: [wrap, '--fanout', String(upstream), ...extra.map(String)], env: process.env };
    }
    case 'nv3': {
      const f = path.join(tmp, `${variant}-${listen}.yaml`);
      const vs = [upstream, ...extra].map((p) => `"127.0.0.1:${p}"`).join(', ');
      fs.writeFileSync(f, `listeners:\n  - id: in\n    listen: 127.0.0.1:${listen}\n    protocol: http\nroutes:\n  - { id: r, listener: in, replicate: { variants: [${vs}], policy: unanimous } }\n`);
      return { args: [...flags, bin, 'run', '-c', f, '--log-level', 'warn'], env };
    }
    default:
      throw new Error(`unknown variant ${variant}`);
  }
}

async function runClose(port, n, inFlight = Number(opt.concurrency)) {
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < n) {
      next++;
      await oneClose(port);
    }
  }));
}

/** Keep-alive clients (node:http Agent with one socket each), requests counted. */
function kaClients(port, conns) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  const one = () => new Promise((resolve, reject) => {
    const q = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent, headers: { 'content-length': 1024 } }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    q.on('error', reject);
    q.end(BODY);
  });
  return {
    async run(n) {
      let next = 0;
      await Promise.all(Array.from({ length: conns }, async () => {
        while (next < n) {
          next++;
          await one();
        }
      }));
    },
    close: () => agent.destroy(),
  };
}

/** Without valgrind: process CPU time (user + system, all threads) and context switches per unit. */
async function measureCpu(variant, backend) {
  const port = await freePort();
  const { args, env } = proxyCommand(variant, port, backend, await extraBackends(variant));
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', opt.gc ? 'pipe' : 'ignore', 'pipe'] });
  children.push(child);
  const gcLines = [];
  if (opt.gc) {
    let rest = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      const lines = (rest + d).split('\n');
      rest = lines.pop();
      for (const l of lines) if (l.includes(' gc=')) gcLines.push(l);
    });
  }
  await waitListening(port);
  let ka;
  if (opt.scenario === 'ka') {
    ka = kaClients(port, 8);
    await ka.run(WARM);
  } else {
    await runClose(port, WARM);
  }
  await new Promise((r) => setTimeout(r, 100)); // the warm-up's last GC lines through the pipe
  const gcFrom = gcLines.length;
  const a = procCpu(child.pid);
  const t0 = Date.now();
  if (opt.scenario === 'ka') await ka.run(COUNT);
  else await runClose(port, COUNT);
  const ms = Date.now() - t0;
  const b = procCpu(child.pid);
  await new Promise((r) => setTimeout(r, 100));
  const gc = opt.gc ? gcSummary(gcLines.slice(gcFrom)) : undefined;
  if (opt.gc && opt.keep) fs.writeFileSync(path.join(tmp, `gc-${variant.replace(/[^\w.-]+/g, '_')}-${child.pid}.log`), gcLines.slice(gcFrom).join('\n') + '\n');
  ka?.close();
  child.kill(opt.prof ? 'SIGTERM' : 'SIGKILL'); // SIGTERM: a clean exit writes the CPU profile
  await new Promise((r) => child.once('exit', r));
  return { variant, perUnit: (b.us - a.us) / COUNT, switchesPerUnit: (b.switches - a.switches) / COUNT, ms, gc };
}

/** The `--trace-gc-nvp` lines of the measured part, summed: scavenges (gc=s), the rest (mark-compacts), bytes. */
function gcSummary(lines) {
  const num = (l, key) => Number(new RegExp(`(?:^|\\s)${key}=([\\d.]+)`).exec(l)?.[1] ?? 0);
  const out = { scavenges: 0, scavengeMs: 0, maxScavengeMs: 0, others: 0, otherMs: 0, allocated: 0, survived: 0, promoted: 0 };
  for (const l of lines) {
    const pause = num(l, 'pause');
    out.allocated += num(l, 'allocated');
    if (/ gc=s /.test(l)) {
      out.scavenges++;
      out.scavengeMs += pause;
      out.maxScavengeMs = Math.max(out.maxScavengeMs, pause);
      out.survived += num(l, 'new_space_survived');
      out.promoted += num(l, 'promoted');
    } else {
      out.others++;
      out.otherMs += pause;
    }
  }
  return out;
}

async function measure(variant, backend) {
  if (opt.cpu) return measureCpu(variant, backend);
  const port = await freePort();
  const { args, env } = proxyCommand(variant, port, backend, await extraBackends(variant));
  const vg = ['--tool=callgrind', `--callgrind-out-file=${path.join(tmp, 'cg.%p')}`, '--dump-line=no', '--compress-strings=no', '--compress-pos=no', process.execPath, ...args];
  const child = spawn('valgrind', vg, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  try {
    await waitListening(port, 300_000);
  } catch (err) {
    throw new Error(`${err.message}: ${stderr.slice(-800)}`, { cause: err });
  }
  let ka;
  if (opt.scenario === 'ka') {
    ka = kaClients(port, 8);
    await ka.run(WARM);
  } else {
    await runClose(port, WARM);
  }
  dumpOnly(child.pid, 'warm');
  const t0 = Date.now();
  if (opt.scenario === 'ka') await ka.run(COUNT);
  else await runClose(port, COUNT);
  const ms = Date.now() - t0;
  const { total, jit } = dumpTotal(tmp, child.pid, 'measured');
  ka?.close();
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  if (total === 0) throw new Error(`${variant}: no callgrind totals (valgrind said: ${stderr.slice(-500)})`);
  return { variant, perUnit: total / COUNT, jitPerUnit: jit / COUNT, ms };
}

const backend = await startBackend();
const unit = opt.scenario === 'ka' ? 'request' : 'connection';
const rows = [];
for (let r = 0; r < Number(opt.repeat); r++) {
  for (const v of opt.variants.split(',')) {
    const row = await measure(v, backend);
    rows.push(row);
    if (opt.cpu) {
      process.stderr.write(`${v}: ${row.perUnit.toFixed(1)} µs CPU and ${row.switchesPerUnit.toFixed(2)} context switches per ${unit} (${COUNT} in ${row.ms} ms)\n`);
      const g = row.gc;
      if (g !== undefined) {
        const per10k = (x) => ((x * 10_000) / COUNT).toFixed(1);
        process.stderr.write(
          `${v}: per 10,000 ${unit}s ${per10k(g.scavenges)} scavenges (${per10k(g.scavengeMs)} ms paused, longest ${g.maxScavengeMs.toFixed(2)} ms), ${per10k(g.others)} other GCs (${per10k(g.otherMs)} ms); ` +
            `${Math.round(g.allocated / COUNT)} bytes allocated per ${unit} (GCs' own count), ${g.scavenges ? Math.round(g.survived / g.scavenges) : 0} bytes survive a scavenge, ${g.scavenges ? Math.round(g.promoted / g.scavenges) : 0} promoted\n`,
        );
      }
      continue;
    }
    process.stderr.write(`${v}: ${Math.round(row.perUnit).toLocaleString('en')} instructions per ${unit}, of which ${Math.round(row.jitPerUnit).toLocaleString('en')} in V8's optimizing compiler (${COUNT} in ${row.ms} ms under valgrind)\n`);
  }
}
if (opt.cpu) {
  const med = (xs) => xs.sort((p, q) => p - q)[Math.floor((xs.length - 1) / 2)];
  process.stdout.write(`| variant | proxy CPU µs per ${unit}: trials | median | context switches per ${unit} (median) |\n|:--|:--|--:|--:|\n`);
  for (const v of opt.variants.split(',')) {
    const xs = rows.filter((x) => x.variant === v);
    process.stdout.write(`| ${v} | ${xs.map((x) => x.perUnit.toFixed(0)).join(', ')} | ${med(xs.map((x) => x.perUnit)).toFixed(0)} | ${med(xs.map((x) => x.switchesPerUnit)).toFixed(2)} |\n`);
  }
  process.exit(0);
}
process.stdout.write(`| variant | Ir per ${unit} (k) | of which optimizing compiler (k) | without it (k) |\n|:--|--:|--:|--:|\n`);
const k = (xs) => xs.map((x) => (x / 1000).toFixed(0)).join(', ');
for (const v of opt.variants.split(',')) {
  const xs = rows.filter((x) => x.variant === v);
  process.stdout.write(`| ${v} | ${k(xs.map((x) => x.perUnit))} | ${k(xs.map((x) => x.jitPerUnit))} | ${k(xs.map((x) => x.perUnit - x.jitPerUnit))} |\n`);
}
process.exit(0);
