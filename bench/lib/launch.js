// How bin/switchyard.js starts node, read from its launcher (line 2: `... export NAME=VALUE; exec node FLAGS $g "$0"
// "$@"`), so the benches run switchyard exactly as a user's shell does (`node bin/switchyard.js` alone would skip
// the launcher). `$g` is the launcher's one-CPU rule: --single-threaded-gc when the process may run on one CPU only.
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** CPUs in a Linux CPU list ("1", "0-1", "0,2-3"); undefined when there is none. */
export function cpuCount(list) {
  if (list === undefined || list.trim() === '') return undefined;
  let n = 0;
  for (const part of list.trim().split(',')) {
    const [a, b] = part.split('-').map(Number);
    n += b === undefined ? 1 : b - a + 1;
  }
  return n;
}

/** This process's CPU affinity list (Cpus_allowed_list), undefined off Linux. */
function ownCpus() {
  try {
    return /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/**
 * { env, flags } the launcher gives node, plus the node flags in $SWITCHYARD_BENCH_NODE_FLAGS (e.g. "--cpu-prof
 * --cpu-prof-dir=/tmp/prof": profile the switchyard processes of any bench). `cpus`: the CPU list the process will
 * be started on (taskset -c), default this process's own; a single CPU adds --single-threaded-gc as the launcher
 * does. Throws when the launcher line does not have the expected shape.
 */
export function binLaunch(root, { cpus } = {}) {
  const file = path.join(root, 'bin', 'switchyard.js');
  const launcher = readFileSync(file, 'utf8').split('\n', 2)[1] ?? '';
  const exec = /exec node ((?:\S+ )*?)\$g "\$0" "\$@"\s*$/.exec(launcher);
  if (!exec) throw new Error(`${file}: expected a launcher line ending in 'exec node FLAGS $g "$0" "$@"', got '${launcher}'`);
  const env = {};
  for (const m of launcher.matchAll(/export ([A-Za-z_][A-Za-z0-9_]*)=(\S+?);/g)) env[m[1]] = m[2];
  const flags = exec[1].split(/\s+/).filter(Boolean);
  if (cpuCount(cpus ?? ownCpus()) === 1) flags.push('--single-threaded-gc');
  const extra = (process.env['SWITCHYARD_BENCH_NODE_FLAGS'] ?? '').split(/\s+/).filter(Boolean);
  return { env, flags: [...flags, ...extra] };
}
