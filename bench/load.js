// Benchmark load generator (its own process, started by bench/run.js with an IPC channel).
// Receives {id, cmd, args} messages, answers {id, result} or {id, error}. Every loop is bounded in count and time.
import net from 'node:net';

const HOST = '127.0.0.1';
const LF = 0x0a;
const nowMs = () => performance.now();

/** A line-shaped request of `size` bytes ('q'… '\n'), valid for every framing. */
function request(size) {
  const b = Buffer.alloc(size, 'q'.charCodeAt(0));
  b[size - 1] = LF;
  return b;
}

function percentiles(samples, count) {
  const a = samples.subarray(0, count).sort();
  const at = (p) => (count === 0 ? NaN : a[Math.min(count - 1, Math.max(0, Math.ceil((p / 100) * count) - 1))]);
  let sum = 0;
  for (let i = 0; i < count; i++) sum += a[i];
  return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: count ? a[count - 1] : NaN, mean: count ? sum / count : NaN };
}

// ---- bulk: each connection asks the server for `perConn` bytes of `lineLen`-byte lines and counts them ------------

const READ_BUF = Buffer.allocUnsafe(256 * 1024);

async function bulk({ port, conns, totalBytes, lineLen, timeMs }) {
  const perConn = Math.max(lineLen, Math.floor(totalBytes / conns / lineLen) * lineLen);
  const start = nowMs();
  let received = 0;
  let finished = 0;
  let lastDone = start;
  let errors = 0;
  const sockets = [];
  await new Promise((resolve) => {
    const deadline = setTimeout(resolve, timeMs);
    for (let i = 0; i < conns; i++) {
      let got = 0;
      let done = false;
      const s = net.connect({
        host: HOST,
        port,
        noDelay: true,
        onread: {
          buffer: READ_BUF,
          callback: (n) => {
            got += n;
            received += n;
            if (!done && got >= perConn) {
              done = true;
              lastDone = nowMs();
              s.destroy();
              if (++finished === conns) {
                clearTimeout(deadline);
                resolve();
              }
            }
          },
        },
      });
      sockets.push(s);
      s.on('connect', () => s.write(`SEND ${perConn} ${lineLen}\n`));
      s.on('error', () => errors++);
      s.on('close', () => {
        if (!done) {
          done = true;
          errors += got < perConn ? 1 : 0;
          if (++finished === conns) {
            clearTimeout(deadline);
            resolve();
          }
        }
      });
    }
  });
  const end = finished === conns ? lastDone : nowMs();
  for (const s of sockets) s.destroy();
  const seconds = (end - start) / 1000;
  return {
    conns,
    bytes: received,
    expectedBytes: perConn * conns,
    complete: received >= perConn * conns,
    seconds,
    mibPerSec: received / 1048576 / seconds,
    linesPerSec: received / lineLen / seconds,
    errors,
  };
}

// ---- request/response: `conns` connections, each request → wait for the whole reply → next ----------------------

async function rr({ port, conns, size, timeMs, warmupMs, maxRequests }) {
  const req = request(size);
  const lat = new Float64Array(maxRequests);
  let recorded = 0;
  let measuring = false;
  let stopping = false;
  let measureStart = 0;
  let measureEnd = 0;
  let errors = 0;
  const sockets = await openAll(port, conns, 64);
  let warm;
  await new Promise((resolve) => {
    let active = conns;
    const stopOne = () => {
      if (--active === 0) resolve();
    };
    warm = setTimeout(() => {
      measuring = true;
      measureStart = nowMs();
    }, warmupMs);
    const hard = setTimeout(() => {
      stopping = true;
      measureEnd = nowMs();
      setTimeout(resolve, 2000).unref(); // replies still in flight get 2 s, then we give up on them
    }, warmupMs + timeMs);
    for (const s of sockets) {
      let got = 0;
      let t0 = 0;
      const send = () => {
        if (stopping) return stopOne();
        got = 0;
        t0 = nowMs();
        s.write(req);
      };
      s.on('data', (d) => {
        got += d.length;
        if (got < size) return;
        const t1 = nowMs();
        if (measuring && !stopping && t0 >= measureStart) {
          lat[recorded++] = t1 - t0;
          if (recorded === maxRequests) {
            stopping = true;
            measureEnd = t1;
            clearTimeout(hard);
            setTimeout(resolve, 2000).unref();
          }
        }
        send();
      });
      s.on('error', () => {
        errors++;
      });
      s.on('close', () => {
        if (!stopping) {
          errors++;
          stopOne();
        }
      });
      send();
    }
  });
  clearTimeout(warm);
  for (const s of sockets) s.destroy();
  const seconds = (measureEnd - measureStart) / 1000;
  const p = percentiles(lat, recorded);
  return { conns, size, requests: recorded, seconds, reqPerSec: recorded / seconds, latencyMs: p, errors };
}

/** Open `n` connections (at most `parallel` connecting at once) and return them once all are connected. */
async function openAll(port, n, parallel, timeMs = 60_000) {
  const sockets = [];
  let next = 0;
  let failed = 0;
  const deadline = nowMs() + timeMs;
  await new Promise((resolve, reject) => {
    let inflight = 0;
    const launch = () => {
      while (inflight < parallel && next < n) {
        if (nowMs() > deadline) return reject(new Error(`opening ${n} connections took over ${timeMs} ms`));
        next++;
        inflight++;
        const s = net.connect({ host: HOST, port, noDelay: true });
        const onErr = (err) => {
          failed++;
          inflight--;
          if (failed > 10) reject(new Error(`connect failed: ${err.message}`));
          else {
            next--; // retry
            launch();
          }
        };
        s.once('error', onErr);
        s.once('connect', () => {
          s.removeListener('error', onErr);
          sockets.push(s);
          inflight--;
          if (sockets.length === n) resolve();
          else launch();
        });
      }
    };
    launch();
  });
  return sockets;
}

// ---- connection rate: connect, one request/reply, close; `concurrency` in flight -------------------------------

async function connrate({ port, concurrency, size, total, timeMs, warmup }) {
  const req = request(size);
  if (warmup > 0) await connPhase(port, req, size, concurrency, warmup, Math.min(timeMs, 3000), null);
  const lat = new Float64Array(total);
  const r = await connPhase(port, req, size, concurrency, total, timeMs, lat);
  return { concurrency, connections: r.completed, seconds: r.seconds, connPerSec: r.completed / r.seconds, latencyMs: percentiles(lat, r.completed), errors: r.errors };
}

/** Start at most `total` connections in `timeMs`, `concurrency` at a time; each: connect, write, read the reply, FIN, await close. */
function connPhase(port, req, size, concurrency, total, timeMs, lat) {
  return new Promise((resolve) => {
    const start = nowMs();
    const deadline = start + timeMs;
    let started = 0;
    let completed = 0;
    let errors = 0;
    let inflight = 0;
    let end = 0;
    let resolved = false;
    const finish = () => {
      if (resolved) return;
      resolved = true;
      clearTimeout(giveUp);
      resolve({ completed, errors, seconds: ((end || nowMs()) - start) / 1000 });
    };
    // connections still open 3 s after the deadline are abandoned (and counted as errors by their absence)
    const giveUp = setTimeout(finish, timeMs + 3000);
    const one = () => {
      if (started >= total || nowMs() >= deadline) {
        if (inflight === 0) finish();
        return;
      }
      started++;
      inflight++;
      const t0 = nowMs();
      let got = 0;
      let ok = false;
      const s = net.connect({ host: HOST, port, noDelay: true });
      s.on('connect', () => s.write(req));
      s.on('data', (d) => {
        got += d.length;
        if (got >= size && !ok) {
          ok = true;
          s.end();
        }
      });
      s.on('error', () => undefined);
      s.on('close', () => {
        inflight--;
        if (ok) {
          end = nowMs();
          if (lat) lat[completed] = end - t0;
          completed++;
        } else errors++;
        one();
      });
    };
    for (let i = 0; i < concurrency; i++) one();
  });
}

// ---- idle connections: open n, one echo round trip each, then hold them until told to close ------------------------

let idleSockets = [];

async function idleOpen({ port, conns, parallel, size }) {
  const t0 = nowMs();
  const sockets = await openAll(port, conns, parallel, 120_000);
  idleSockets = sockets;
  const req = request(size);
  // one round trip each (so the proxy has connected upstream and moved bytes both ways), `parallel` at a time
  let i = 0;
  await new Promise((resolve, reject) => {
    let done = 0;
    const timer = setTimeout(() => reject(new Error('idle round trips took over 120 s')), 120_000);
    const next = () => {
      if (i >= sockets.length) return;
      const s = sockets[i++];
      let got = 0;
      const onData = (d) => {
        got += d.length;
        if (got < size) return;
        s.removeListener('data', onData);
        if (++done === sockets.length) {
          clearTimeout(timer);
          resolve();
        } else next();
      };
      s.on('data', onData);
      s.write(req);
    };
    for (let k = 0; k < parallel; k++) next();
  });
  let closedEarly = 0;
  for (const s of sockets) {
    s.on('error', () => undefined);
    s.on('close', () => closedEarly++);
  }
  return { conns: sockets.length, seconds: (nowMs() - t0) / 1000, closedEarly };
}

async function idleClose() {
  const n = idleSockets.length;
  const open = idleSockets.filter((s) => !s.destroyed).length;
  const closed = Promise.all(idleSockets.map((s) => (s.destroyed ? undefined : new Promise((r) => s.once('close', r)))));
  for (const s of idleSockets) s.destroy();
  await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000))]);
  idleSockets = [];
  return { conns: n, stillOpenBeforeClose: open };
}

const COMMANDS = { bulk, rr, connrate, idleOpen, idleClose };

process.on('message', async (m) => {
  if (!m || typeof m !== 'object') return;
  if (m.type === 'stop') process.exit(0);
  const fn = COMMANDS[m.cmd];
  try {
    if (!fn) throw new Error(`unknown command ${m.cmd}`);
    const result = await fn(m.args);
    process.send?.({ id: m.id, result });
  } catch (err) {
    process.send?.({ id: m.id, error: err instanceof Error ? err.message : String(err) });
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
