// Helpers shared by the study tools (callgrind.js, grpc-callgrind.js): a scratch folder with the children to kill at
// exit, free loopback ports, waiting for a listener, callgrind dumps and /proc CPU readings.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A scratch folder (removed at exit unless `keep`) and the list of children killed at exit. */
export function scratch(prefix, keep) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (keep) process.stderr.write(`callgrind files in ${tmp}\n`);
  const children = [];
  process.on('exit', () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    if (!keep) fs.rmSync(tmp, { recursive: true, force: true });
  });
  return { tmp, children };
}

export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

/** Resolves once something accepts on 127.0.0.1:port (bounded by `ms`). */
export async function waitListening(port, ms = 120_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`nothing listens on ${port}`);
}

/**
 * Dump (and zero) a process's callgrind counters into `tmp` without reading the dump: for the end of a warm-up, so the
 * measured part follows at once (reading a dump takes seconds, in which the proxy idles: a second without requests
 * stops the traffic tail's sampling timer, whose restart then deoptimizes the request path in the measured part).
 */
export function dumpOnly(pid, label) {
  execFileSync('callgrind_control', ['--dump=' + label, String(pid)], { stdio: 'ignore', timeout: 120_000 });
}

/**
 * Dump (and zero) a process's callgrind counters into `tmp` (its --callgrind-out-file is `tmp/cg.%p`): the total of
 * the new dump files (every thread), and the part V8's optimizing compiler ran on its background threads.
 */
export function dumpTotal(tmp, pid, label) {
  const before = new Set(fs.readdirSync(tmp));
  execFileSync('callgrind_control', ['--dump=' + label, String(pid)], { stdio: 'ignore', timeout: 120_000 });
  const files = fs.readdirSync(tmp).filter((f) => f.startsWith('cg.') && !before.has(f));
  let total = 0;
  let jit = 0;
  for (const f of files) {
    const file = path.join(tmp, f);
    const text = fs.readFileSync(file, 'utf8');
    const m = /^(?:summary|totals):\s+(\d+)/m.exec(text);
    if (m) total += Number(m[1]);
    const incl = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const j = /^\s*([\d,]+) .*OptimizingCompileDispatcher::CompileTask::RunInternal/m.exec(incl);
    if (j) jit += Number(j[1].replaceAll(',', ''));
  }
  return { total, jit, files };
}

/** utime + stime of all threads (µs), its user and system parts, and the context switches of all threads, from /proc. */
export function procCpu(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const tick = 1e6 / 100; // USER_HZ
  let switches = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const st = fs.readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8');
      for (const m of st.matchAll(/^(?:voluntary|nonvoluntary)_ctxt_switches:\s+(\d+)/gm)) switches += Number(m[1]);
    } catch {
      /* thread gone */
    }
  }
  const user = Number(f[11]) * tick;
  const system = Number(f[12]) * tick;
  return { us: user + system, user, system, switches };
}

/** One HTTP/1.0 request on a new connection; resolves when the proxy closed it after the whole answer. */
export function oneClose(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = 0;
    s.on('connect', () => s.write('GET / HTTP/1.0\r\nHost: b\r\n\r\n'));
    s.on('data', (d) => (got += d.length));
    s.on('error', reject);
    s.on('close', () => (got > 1024 ? resolve() : reject(new Error(`short answer (${got} bytes)`))));
  });
}
