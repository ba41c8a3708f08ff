// Child-process bookkeeping for the benchmark: start, wait for readiness, read /proc, and always clean up.
// Only processes started here are ever signalled, and only by their own PID.
import { fork, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';

/** Every child this process started and has not yet seen exit. */
const live = new Map();

export function track(child, name) {
  live.set(child.pid, { child, name });
  child.once('exit', () => live.delete(child.pid));
  return child;
}

/** SIGKILL every live child (synchronous: usable from 'exit' handlers). */
export function killAllSync() {
  for (const [pid] of live) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

let installed = false;
/** Kill our children on any way out of this process. */
export function installCleanup() {
  if (installed) return;
  installed = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      killAllSync();
      process.exit(130);
    });
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export async function stop(child, graceMs = 2000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const t = setTimeout(() => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, graceMs);
  await exited;
  clearTimeout(t);
}

/** Fork a bench helper (with `args`) with an IPC channel and wait for its {type:'ready'} message. */
export function forkHelper(path, name, execArgv = [], args = []) {
  const child = track(fork(path, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv }), name);
  let nextId = 1;
  const pending = new Map();
  child.on('message', (m) => {
    if (m && m.id !== undefined && pending.has(m.id)) {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.error) p.reject(new Error(`${name}: ${m.error}`));
      else p.resolve(m.result);
    }
  });
  child.once('exit', (code, signal) => {
    for (const p of pending.values()) p.reject(new Error(`${name} exited (${code ?? signal}) during a command`));
    pending.clear();
  });
  const ready = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name} not ready after 10 s`)), 10_000);
    child.on('message', (m) => {
      if (m && m.type === 'ready') {
        clearTimeout(t);
        resolve(m);
      } else if (m && m.type === 'error') {
        clearTimeout(t);
        reject(new Error(`${name}: ${m.message}`));
      }
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before ready`)));
  });
  /** Send a command; rejects after `timeoutMs`. */
  const call = (cmd, args, timeoutMs = 180_000) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const t = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (v) => (clearTimeout(t), resolve(v)),
        reject: (e) => (clearTimeout(t), reject(e)),
      });
      child.send({ id, cmd, args });
    });
  return { child, ready, call, pid: child.pid };
}

/**
 * Spawn a proxy process (node + args) and wait until it prints a line containing `readyPattern` on stdout.
 * stderr is kept (last 8 KiB) for error messages and counted in lines.
 */
export function spawnProxy(args, name, readyPattern, timeoutMs = 20_000, env = {}) {
  const child = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }), name);
  const info = { child, pid: child.pid, name, stderr: '', stderrLines: 0 };
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    info.stderrLines += d.split('\n').length - 1;
    info.stderr = (info.stderr + d).slice(-8192);
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  info.ready = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name} printed no '${readyPattern}' line in ${timeoutMs} ms; stderr: ${info.stderr.slice(-600)}`)), timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes(readyPattern)) {
        clearTimeout(t);
        resolve(out);
      }
      if (out.length > 65536) out = out.slice(-4096);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(t);
      reject(new Error(`${name} exited (${code ?? signal}) before it was ready; stderr: ${info.stderr.slice(-600)}`));
    });
  });
  return info;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const TICK = 100; // USER_HZ: clock ticks per second in /proc/PID/stat (getconf CLK_TCK = 100 on Linux)

/**
 * CPU seconds a process has used so far (all its threads: main loop, libuv pool, V8 GC/compiler threads); NaN when
 * unreadable. Uses the nanosecond run time in /proc/PID/task/TID/schedstat, falling back to /proc/PID/stat ticks.
 */
export function cpuSeconds(pid) {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        /* thread exited meanwhile */
      }
    }
    if (ns > 0) return ns / 1e9;
  } catch {
    /* no schedstat */
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields after "(comm)": state is f[0]; utime = field 14 → f[11], stime = field 15 → f[12]
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch {
    return NaN;
  }
}

/** Machine-wide CPU counters from /proc/stat: {busy, total} in clock ticks (all CPUs). */
export function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/** Cores busy on average between two machineCpu() readings. */
export function coresBusy(a, b, ncpu) {
  const dt = b.total - a.total;
  return dt > 0 ? ((b.busy - a.busy) / dt) * ncpu : NaN;
}

/** VmRSS and VmHWM of a process in KiB. */
export function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
}

/** Open file descriptors of a process. */
export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/**
 * Wait (bounded) until the machine is quiet: other people's builds and tests on this shared machine would
 * otherwise steal CPU from the processes under test. Samples `windowMs` windows until fewer than `maxCores`
 * cores are busy, at most `maxWaitMs`. Returns the last sample's busy cores and how long it waited.
 */
export async function waitQuiet({ maxCores = 0.25, windowMs = 400, maxWaitMs = 30_000 } = {}) {
  const ncpu = os.availableParallelism();
  const t0 = performance.now();
  for (;;) {
    const a = machineCpu();
    await new Promise((r) => setTimeout(r, windowMs));
    const busy = coresBusy(a, machineCpu(), ncpu);
    const waited = performance.now() - t0;
    if (busy < maxCores || waited >= maxWaitMs) return { busy, waitedMs: waited, quiet: busy < maxCores };
  }
}

/** Pin every thread of a process to `cpus` (taskset list syntax, e.g. "1" or "0-1"). Returns false if taskset failed. */
export function pin(pid, cpus) {
  const r = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { encoding: 'utf8' });
  return r.status === 0;
}
