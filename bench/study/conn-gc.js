// What a new connection leaves to the garbage collector: bytes allocated and bytes promoted to the old generation per
// connection (V8's --trace-gc-nvp, summed over the measured part), and optionally where the bytes are allocated (V8's
// sampling heap profiler, with the objects later collected by minor and major GCs included).
//
//   node bench/study/conn-gc.js --variants http,http@/work/main --warm 3000 --count 10000
//   node bench/study/conn-gc.js --variants http --count 5000 --alloc 30
//   node bench/study/conn-gc.js --variants 'http:--no-allocation-site-pretenuring,pass-js'
//   node bench/study/conn-gc.js --scenario ka --variants http,http-fault --warm 5000 --count 40000
//
// Variants: http (protocol: http, no faults), http-fault (the same with a request-scope latency fault of 0 ms at
// toxicity 0.5: the fault stage and the codec's by-request bookkeeping run), pass-js (raw TCP on the JS byte path),
// pass (raw TCP on the splice path where the addon is built), pipe (bench/pipe-proxy.js); `NAME:FLAGS` adds node flags
// (space-separated), `NAME@DIR` runs the proxy from another built checkout. Scenario `close` (the default): each
// request is HTTP/1.0 on a new connection (1 KiB answer), 4 in flight, as callgrind.js --scenario close; the figures
// are per connection. Scenario `ka`: HTTP/1.1 keep-alive requests on 4 connections; the figures are per request.
// Needs `npm run build`.
// --alloc N prints the N functions allocating the most bytes per connection (per request with `ka`) in the measured part.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, scratch, waitListening, oneClose } from './lib.js';

const { values: opt } = parseArgs({
  options: {
    variants: { type: 'string', default: 'http,pass-js' },
    warm: { type: 'string', default: '3000' },
    count: { type: 'string', default: '10000' },
    alloc: { type: 'string', default: '0' },
    scenario: { type: 'string', default: 'close' },
  },
});
const WARM = Number(opt.warm);
const COUNT = Number(opt.count);
const ALLOC = Number(opt.alloc);
const unit = opt.scenario === 'ka' ? 'request' : 'connection';
const here = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const { tmp, children } = scratch('sy-conn-gc-', false);

// Loaded into the proxy with --alloc: SIGUSR2 starts the sampling heap profiler, a second SIGUSR2 writes its profile.
const SAMPLER = `const inspector = require('node:inspector');
const s = new inspector.Session();
s.connect();
let on = false;
process.on('SIGUSR2', () => {
  if (!on) {
    on = true;
    s.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }, () => {});
    return;
  }
  s.post('HeapProfiler.stopSampling', (err, r) => {
    require('node:fs').writeFileSync(process.env.SY_HEAP_OUT, JSON.stringify(r.profile));
    process.stderr.write('SY_HEAP_WRITTEN\\n');
  });
});
`;

function parse(variant) {
  const at = variant.indexOf('@');
  const head = at < 0 ? variant : variant.slice(0, at);
  const colon = head.indexOf(':');
  return {
    name: colon < 0 ? head : head.slice(0, colon),
    flags: colon < 0 ? [] : head.slice(colon + 1).split(' ').filter((f) => f.length > 0),
    root: at < 0 ? here : path.resolve(variant.slice(at + 1)),
  };
}

async function startBackend() {
  const port = await freePort();
  const code = `const srv = require('node:http').createServer((q, s) => { q.resume(); q.on('end', () => { s.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1024 }); s.end(Buffer.alloc(1024, 'x')); }); }); srv.keepAliveTimeout = 0; srv.listen(${port}, '127.0.0.1');`;
  children.push(spawn(process.execPath, ['-e', code], { stdio: 'ignore' }));
  await waitListening(port);
  return port;
}

/** `n` keep-alive requests over 4 connections, each waiting for its 1 KiB answer before the next. */
async function runKa(port, n) {
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, () => new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      let got = '';
      const send = () => {
        if (next >= n) {
          s.end();
          resolve();
          return;
        }
        next++;
        got = '';
        s.write('GET /x HTTP/1.1\r\nHost: bench\r\n\r\n');
      };
      s.on('connect', send);
      s.on('error', reject);
      s.on('data', (d) => {
        got += d.toString('latin1');
        const head = got.indexOf('\r\n\r\n');
        if (head >= 0 && got.length - head - 4 >= 1024) send();
      });
    })),
  );
}

async function runLoad(port, n) {
  if (opt.scenario === 'ka') return runKa(port, n);
  if (opt.scenario !== 'close') throw new Error(`unknown scenario ${opt.scenario} (close, ka)`);
  return runClose(port, n);
}

async function runClose(port, n) {
  let next = 0;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < n) {
      next++;
      await oneClose(port);
    }
  }));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(variant, backend) {
  const { name, flags, root } = parse(variant);
  const port = await freePort();
  const sampler = path.join(tmp, 'sampler.cjs');
  fs.writeFileSync(sampler, SAMPLER);
  const heapOut = path.join(tmp, `heap-${port}.json`);
  const node = ['--initial-heap-size=64', '--trace-gc-nvp', ...flags, ...(ALLOC > 0 ? ['--require', sampler] : [])];
  let args;
  if (name === 'pipe') args = [...node, path.join(root, 'bench/pipe-proxy.js'), '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${backend}`];
  else if (name === 'http' || name === 'http-fault' || name === 'pass-js' || name === 'pass') {
    const yaml = path.join(tmp, `${name}-${port}.yaml`);
    const fault = name === 'http-fault' ? '    faults:\n      - { type: latency, name: l0, attributes: { latency: 0 }, toxicity: 0.5 }\n' : '';
    fs.writeFileSync(yaml, `listeners:\n  - id: in\n    listen: 127.0.0.1:${port}\n${name.startsWith('http') ? '    protocol: http\n' : ''}${fault}clusters:\n  - { id: up, endpoints: ["127.0.0.1:${backend}"] }\nroutes:\n  - { id: r, listener: in, cluster: up }\n`);
    args = [...node, path.join(root, 'bin/switchyard.js'), 'run', '-c', yaml, '--log-level', 'warn'];
  } else throw new Error(`unknown variant ${name}`);
  const env = { ...process.env, MALLOC_TRIM_THRESHOLD_: '67108864', SWITCHYARD_SPLICE_ADDON: name === 'pass' ? '' : 'off', SY_HEAP_OUT: heapOut };
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  await waitListening(port);
  await runLoad(port, WARM);
  await sleep(300);
  if (ALLOC > 0) {
    child.kill('SIGUSR2');
    await sleep(300);
  }
  const mark = out.length;
  await runLoad(port, COUNT);
  await sleep(300);
  const gcText = out.slice(mark);
  if (ALLOC > 0) {
    child.kill('SIGUSR2');
    for (let i = 0; i < 200 && !out.includes('SY_HEAP_WRITTEN'); i++) await sleep(100);
  }
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  let promoted = 0;
  let allocated = 0;
  let scavenges = 0;
  let markCompacts = 0;
  for (const line of gcText.split('\n')) {
    if (!line.includes(' gc=')) continue;
    const kv = Object.fromEntries(line.split(/\s+/).filter((x) => x.includes('=')).map((x) => x.split('=')));
    if (kv.gc === 's') {
      scavenges++;
      promoted += Number(kv.promoted ?? 0);
    } else markCompacts++;
    allocated += Number(kv.allocated ?? 0);
  }
  process.stdout.write(`| ${variant} | ${(allocated / COUNT / 1024).toFixed(1)} | ${(promoted / COUNT / 1024).toFixed(2)} | ${scavenges} | ${markCompacts} |\n`);
  if (ALLOC > 0 && fs.existsSync(heapOut)) {
    const profile = JSON.parse(fs.readFileSync(heapOut, 'utf8'));
    const self = new Map();
    let total = 0;
    const walk = (n) => {
      const f = n.callFrame;
      const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
      if (n.selfSize > 0) {
        self.set(key, (self.get(key) ?? 0) + n.selfSize);
        total += n.selfSize;
      }
      for (const c of n.children) walk(c);
    };
    walk(profile.head);
    process.stdout.write(`\n${variant}: sampled allocation per ${unit} ${(total / COUNT).toFixed(0)} B; the ${ALLOC} largest:\n`);
    for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, ALLOC)) process.stdout.write(`${(v / COUNT).toFixed(0).padStart(8)} B  ${k}\n`);
    process.stdout.write('\n');
  }
}

const backend = await startBackend();
process.stdout.write(`| variant | KiB allocated per ${unit} | KiB promoted per ${unit} | scavenges | mark-compacts |\n|:--|--:|--:|--:|--:|\n`);
for (const v of opt.variants.split(',')) await measure(v, backend);
process.exit(0);
