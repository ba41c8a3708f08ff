// User-space instructions (callgrind) or process CPU (/proc, --cpu) a gRPC proxy spends per unary call: the bare
// node:http2 piping proxy of bench/grpc.js (`pipe`) against `switchyard grpc` (`sy`, or `sy@DIR` for a built copy
// of another commit). Instruction counts do not move with the machine's load, so before/after comparisons hold on
// a shared 2-core box.
//
//   npm run build
//   node bench/study/grpc-callgrind.js --variants pipe,sy --warm 4000 --count 2000
//   node bench/study/grpc-callgrind.js --cpu --variants pipe,sy,pipe,sy --warm 4000 --count 40000
//   node bench/study/grpc-callgrind.js --cpu --prof /tmp/prof --variants sy --warm 4000 --count 40000
//   node bench/study/grpc-callgrind.js --variants sy,sy:--max-semi-space-size=32   (node flags for a variant)
//   node bench/study/grpc-callgrind.js --variants pipe,sy,sy-http2   (sy: the default engine, frames for this
//     plain proxy; sy-http2: switchyard grpc --engine http2, the node:http2 engine)
//   node bench/study/grpc-callgrind.js --strace --variants pipe,sy --warm 4000 --count 5000   (system calls per call)
//
// The grpc-js server (bench/grpc.js --server: identity serializers, /bench.Bench/Echo answers the request) and the
// load (this process: one grpc-js client, --concurrency calls in flight, 100-byte messages) are not measured. After
// the warm-up the proxy's counters are dumped and zeroed; after the measured calls they are dumped again: that
// dump's total Ir / count is the figure (all threads; V8's optimizing compiler reported apart).
import { fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dumpTotal, freePort, procCpu, scratch, waitListening } from './lib.js';

const { values: opt } = parseArgs({
  options: {
    cpu: { type: 'boolean', default: false },
    strace: { type: 'boolean', default: false },
    variants: { type: 'string', default: 'pipe,sy' },
    warm: { type: 'string', default: '4000' },
    count: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    size: { type: 'string', default: '100' },
    keep: { type: 'boolean', default: false },
    prof: { type: 'string', default: '' },
  },
});
const here = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const rootOf = (variant) => (variant.includes('@') ? path.resolve(variant.slice(variant.indexOf('@') + 1)) : here);
const WARM = Number(opt.warm);
const COUNT = Number(opt.count);
const ECHO = '/bench.Bench/Echo';
const identity = (b) => b;

const { tmp, children } = scratch('sy-grpc-callgrind-', opt.keep);

async function startServer() {
  const c = fork(path.join(here, 'bench/grpc.js'), ['--server'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  children.push(c);
  return new Promise((resolve, reject) => {
    c.on('message', (m) => (m?.type === 'ready' ? resolve(m.port) : m?.type === 'error' ? reject(new Error(m.message)) : undefined));
    c.once('exit', (code) => reject(new Error(`grpc server exited (${code})`)));
  });
}

function proxyArgs(name, listen, upstream) {
  // `sy:--flag=v+--other` adds node flags to the variant
  const extra = name.includes(':') ? name.slice(name.indexOf(':') + 1).split('+') : [];
  const base = name.includes(':') ? name.slice(0, name.indexOf(':')) : name;
  const root = rootOf(base);
  const variant = base.split('@')[0];
  const flags = ['--initial-heap-size=64', ...extra];
  if (opt.prof) flags.push('--cpu-prof', `--cpu-prof-dir=${path.resolve(opt.prof)}`, `--cpu-prof-name=grpc-${name.replace(/[^\w.-]+/g, '_')}-${Date.now()}.cpuprofile`);
  switch (variant) {
    case 'pipe':
      return [...(opt.prof ? flags.slice(1) : []), path.join(root, 'bench/grpc.js'), '--pipe', `127.0.0.1:${listen}`, `127.0.0.1:${upstream}`];
    case 'sy':
    case 'sy-http2':
      return [...flags, path.join(root, 'bin/switchyard.js'), 'grpc', '--listen', `127.0.0.1:${listen}`, '--upstream', `127.0.0.1:${upstream}`, '--log-level', 'warn', ...(variant === 'sy-http2' ? ['--engine', 'http2'] : [])];
    default:
      throw new Error(`unknown variant ${variant} (pipe, sy, sy-http2, sy@DIR)`);
  }
}

const grpc = await import(path.join(here, 'node_modules/@grpc/grpc-js/build/src/index.js'));
const payload = Buffer.alloc(Number(opt.size), 0x62);

async function runCalls(client, n) {
  let next = 0;
  let errors = 0;
  let first = '';
  await Promise.all(
    Array.from({ length: Number(opt.concurrency) }, async () => {
      while (next < n) {
        next++;
        await new Promise((res) =>
          client.makeUnaryRequest(ECHO, identity, identity, payload, { deadline: Date.now() + 120_000 }, (err) => {
            if (err) {
              errors++;
              first ||= err.message;
            }
            res();
          }),
        );
      }
    }),
  );
  if (errors > 0) throw new Error(`${errors} calls failed: ${first}`);
}

async function measure(variant, server) {
  const port = await freePort();
  const args = proxyArgs(variant, port, server);
  const plain = opt.cpu || opt.strace;
  const child = plain
    ? spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] })
    : spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${path.join(tmp, 'cg.%p')}`, '--dump-line=no', '--compress-strings=no', '--compress-pos=no', process.execPath, ...args], { stdio: ['ignore', 'ignore', 'ignore'] });
  children.push(child);
  await waitListening(port, 300_000);
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc-node.flow_control_window': 4 << 20 });
  await runCalls(client, WARM);
  if (opt.strace) {
    // attach after the warm-up, count every thread's system calls during the measured calls
    const out = path.join(tmp, `strace-${child.pid}`);
    const st = spawn('strace', ['-c', '-f', '-p', String(child.pid), '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    await runCalls(client, COUNT);
    const ms = Date.now() - t0;
    st.kill('SIGINT');
    await new Promise((r) => st.once('exit', r));
    client.close();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const text = fs.readFileSync(out, 'utf8');
    const calls = {};
    for (const m of text.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/gm)) calls[m[2]] = Number(m[1]) / COUNT;
    return { variant, perCall: Object.values(calls).reduce((x, y) => x + y, 0), jit: 0, ms, calls };
  }
  const a = opt.cpu ? procCpu(child.pid) : dumpTotal(tmp, child.pid, 'warm');
  const t0 = Date.now();
  await runCalls(client, COUNT);
  const ms = Date.now() - t0;
  const b = opt.cpu ? procCpu(child.pid) : dumpTotal(tmp, child.pid, 'measured');
  client.close();
  child.kill(opt.prof ? 'SIGTERM' : 'SIGKILL');
  await new Promise((r) => child.once('exit', r));
  if (opt.cpu) return { variant, perCall: (b.us - a.us) / COUNT, jit: 0, ms, user: (b.user - a.user) / COUNT, sys: (b.system - a.system) / COUNT };
  if (b.total === 0) throw new Error(`${variant}: no callgrind totals`);
  return { variant, perCall: b.total / COUNT, jit: b.jit / COUNT, ms };
}

const server = await startServer();
const rows = [];
for (const v of opt.variants.split(',')) {
  const row = await measure(v, server);
  rows.push(row);
  if (opt.strace) {
    process.stderr.write(`${v}: ${row.perCall.toFixed(2)} system calls per call: ${Object.entries(row.calls).sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ${n.toFixed(2)}`).join(', ')}\n`);
    continue;
  }
  process.stderr.write(opt.cpu
    ? `${v}: ${row.perCall.toFixed(1)} µs proxy CPU per call (user ${row.user.toFixed(1)}, system ${row.sys.toFixed(1)}; ${COUNT} in ${row.ms} ms)\n`
    : `${v}: ${Math.round(row.perCall).toLocaleString('en')} instructions per call, of which ${Math.round(row.jit).toLocaleString('en')} in V8's optimizing compiler (${COUNT} in ${row.ms} ms under valgrind)\n`);
}
if (opt.strace) process.exit(0);
const unit = opt.cpu ? 'proxy CPU µs per call' : 'k instructions per call (without the optimizing compiler)';
process.stdout.write(`| variant | ${unit} |\n|:--|:--|\n`);
for (const v of [...new Set(opt.variants.split(','))]) {
  const xs = rows.filter((x) => x.variant === v);
  process.stdout.write(`| ${v} | ${xs.map((x) => (opt.cpu ? x.perCall.toFixed(1) : `${((x.perCall - x.jit) / 1000).toFixed(1)} (${(x.perCall / 1000).toFixed(1)})`)).join(', ')} |\n`);
}
process.exit(0);
