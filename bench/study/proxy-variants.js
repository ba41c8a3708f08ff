// Variants of a bare Node TCP proxy, for the connection-rate study (bench/study/connrate.js).
// Usage: node bench/study/proxy-variants.js --variant NAME --listen 127.0.0.1:PORT --upstream HOST:PORT
//
//   pipe            bench/pipe-proxy.js: net.createServer + net.connect + a.pipe(b).pipe(a), allowHalfOpen
//   pipe-localhost  pipe, but the upstream is named 'localhost' (a dns.lookup → getaddrinfo per connection)
//   pipe-nodelay    pipe + setNoDelay(true) on both sockets
//   raw             no streams plumbing: pauseOnConnect, connect upstream, then 'data' → write (pause on
//                   backpressure, resume on 'drain'), 'end' → end(); what switchyard's passthrough session does
//   raw-eager       raw without pauseOnConnect: the client is read at once and its bytes are written to the
//                   still-connecting upstream socket (net queues them and flushes on connect)
//   raw-close       raw-eager, and a side's 'end' destroys both sockets at once (no half-close: not a correct
//                   proxy in general, shows what forwarding FIN-by-FIN costs)
//   raw-noobj       raw-eager with the per-connection work cut down to the minimum: shared handler functions,
//                   no closures per event, upstream connect via an IP and port without an options object spread
//   preconnect      raw-eager, but the upstream socket is taken from a pool of already-connected sockets (kept
//                   at --pool N, default 32, refilled in the background); connection setup leaves the critical path
//   cluster         pipe, in 2 worker processes behind node:cluster's round-robin primary
import cluster from 'node:cluster';
import net from 'node:net';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const split = (s) => [s.slice(0, s.lastIndexOf(':')), Number(s.slice(s.lastIndexOf(':') + 1))];
const variant = arg('--variant', 'pipe');
const [lhost, lport] = split(arg('--listen'));
let [uhost, uport] = split(arg('--upstream'));
if (variant === 'pipe-localhost') uhost = 'localhost';
const poolSize = Number(arg('--pool', '32'));
// --ballast MB: keep this many MB of small live objects on the JS heap (a bigger application's heap, e.g. the
// config schemas and libraries switchyard loads), to see what heap size alone does to GC on the data path
const ballast = [];
for (let i = 0, n = Number(arg('--ballast', '0')) * 1024 * 16; i < n; i++) ballast.push({ a: i, b: String(i), c: [i] });
globalThis.__ballast = ballast;
// --load-switchyard: import (and do not use) the modules a switchyard proxy process loads, to separate the cost of
// the process's heap from the cost of its data-path code
if (process.argv.includes('--load-switchyard')) {
  for (const m of ['session/session.js', 'core/log.js', 'upstream/connector.js', 'framing/builtins.js', 'runtime/config.js']) {
    await import(new URL(`../../dist/${m}`, import.meta.url).href);
  }
}

function pipeHandler(noDelay) {
  return (client) => {
    const upstream = net.connect({ host: uhost, port: uport, allowHalfOpen: true });
    if (noDelay) {
      client.setNoDelay(true);
      upstream.setNoDelay(true);
    }
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    client.pipe(upstream).pipe(client);
  };
}

/** Forward a → b with backpressure; FIN → FIN (or destroy both when closeBoth). */
function forward(a, b, closeBoth) {
  a.on('data', (d) => {
    if (!b.write(d)) a.pause();
  });
  b.on('drain', () => a.resume());
  a.on('end', closeBoth ? () => (a.destroy(), b.destroy()) : () => b.end());
}

function wire(client, upstream, closeBoth) {
  const kill = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', kill);
  upstream.on('error', kill);
  forward(client, upstream, closeBoth);
  forward(upstream, client, closeBoth);
}

function rawHandler(client) {
  const upstream = net.connect({ host: uhost, port: uport, allowHalfOpen: true, noDelay: true });
  client.on('error', () => upstream.destroy());
  upstream.once('connect', () => {
    wire(client, upstream, false);
    client.resume();
  });
  upstream.once('error', () => client.destroy());
}

function rawEagerHandler(closeBoth) {
  return (client) => {
    const upstream = net.connect({ host: uhost, port: uport, allowHalfOpen: true, noDelay: true });
    wire(client, upstream, closeBoth);
  };
}

// raw-noobj: handlers are shared functions; the peer is found through a property, not a closure.
function onData(d) {
  if (!this.peer.write(d)) this.pause();
}
function onDrain() {
  this.peer.resume();
}
function onEnd() {
  this.peer.end();
}
function onError() {
  this.destroy();
  this.peer.destroy();
}
const CONNECT_OPTS = { host: uhost, port: uport, allowHalfOpen: true, noDelay: true };
function noObjHandler(client) {
  const upstream = net.connect(CONNECT_OPTS);
  client.peer = upstream;
  upstream.peer = client;
  for (const s of [client, upstream]) {
    s.on('data', onData);
    s.on('drain', onDrain);
    s.on('end', onEnd);
    s.on('error', onError);
  }
}

// preconnect: a pool of connected upstream sockets.
const pool = [];
let connecting = 0;
function refill() {
  while (pool.length + connecting < poolSize) {
    connecting++;
    const s = net.connect({ host: uhost, port: uport, allowHalfOpen: true, noDelay: true });
    const onErr = () => {
      connecting--;
      setTimeout(refill, 100).unref();
    };
    s.once('error', onErr);
    s.once('connect', () => {
      connecting--;
      s.removeListener('error', onErr);
      s.on('error', () => undefined); // an idle pooled socket that dies is dropped below
      s.once('close', () => {
        const i = pool.indexOf(s);
        if (i >= 0) pool.splice(i, 1);
      });
      pool.push(s);
    });
  }
}
function preconnectHandler(client) {
  const upstream = pool.pop();
  setImmediate(refill);
  if (!upstream) return rawEagerHandler(false)(client);
  upstream.removeAllListeners('error');
  upstream.removeAllListeners('close');
  wire(client, upstream, false);
}

const HANDLERS = {
  pipe: { opts: { allowHalfOpen: true }, fn: pipeHandler(false) },
  'pipe-localhost': { opts: { allowHalfOpen: true }, fn: pipeHandler(false) },
  'pipe-nodelay': { opts: { allowHalfOpen: true, noDelay: true }, fn: pipeHandler(true) },
  raw: { opts: { allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, fn: rawHandler },
  'raw-eager': { opts: { allowHalfOpen: true, noDelay: true }, fn: rawEagerHandler(false) },
  'raw-close': { opts: { allowHalfOpen: true, noDelay: true }, fn: rawEagerHandler(true) },
  'raw-noobj': { opts: { allowHalfOpen: true, noDelay: true }, fn: noObjHandler },
  preconnect: { opts: { allowHalfOpen: true, noDelay: true }, fn: preconnectHandler },
  cluster: { opts: { allowHalfOpen: true }, fn: pipeHandler(false) },
};
const h = HANDLERS[variant];
if (!h) {
  process.stderr.write(`unknown variant ${variant}\n`);
  process.exit(2);
}

if (variant === 'cluster' && cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  let ready = 0;
  for (let i = 0; i < 2; i++) {
    cluster.fork().on('listening', () => {
      if (++ready === 2) process.stdout.write(`proxy-variant ${variant}: ${lhost}:${lport}\n`);
    });
  }
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w?.process.kill('SIGKILL');
    process.exit(0);
  });
} else {
  if (variant === 'preconnect') refill();
  const server = net.createServer(h.opts, h.fn);
  server.listen({ host: lhost, port: lport, backlog: 511 }, () => {
    if (variant !== 'cluster') process.stdout.write(`proxy-variant ${variant}: ${lhost}:${server.address().port}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
  if (cluster.isWorker) process.on('disconnect', () => process.exit(0));
}
