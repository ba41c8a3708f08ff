import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/switchyard.js', import.meta.url));
const ROOT = path.dirname(path.dirname(BIN));

interface Probe {
  trim: string | null;
  execArgv: string[];
  args: string[];
}

// The bin's first two lines (a shebang and an sh launcher) decide how node runs every switchyard started as
// `switchyard ...` / ./bin/switchyard.js (docs/benchmarks.md, "How the bin starts node"). A script with the same
// two lines, executed the same way (by the kernel, through sh), reports what its node process got.
/** The node flags bench/lib/launch.js (how every bench starts switchyard) reads off the launcher for `cpus`. */
function benchFlags(cpus?: string): string[] {
  const lib = path.join(ROOT, 'bench', 'lib', 'launch.js');
  const code = `import(${JSON.stringify(lib)}).then((m) => process.stdout.write(JSON.stringify(m.binLaunch(${JSON.stringify(ROOT)}, { cpus: ${JSON.stringify(cpus)} }).flags)))`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, SWITCHYARD_BENCH_NODE_FLAGS: '' } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

function probe(dir: string, args: string[], cpus?: string): Probe {
  const launcher = readFileSync(BIN, 'utf8').split('\n').slice(0, 2).join('\n');
  const script = path.join(dir, 'probe.mjs');
  writeFileSync(script, `${launcher}\nprocess.stdout.write(JSON.stringify({ trim: process.env.MALLOC_TRIM_THRESHOLD_ ?? null, execArgv: process.execArgv, args: process.argv.slice(2) }));\n`);
  chmodSync(script, 0o755);
  const [cmd, argv] = cpus === undefined ? [script, args] : ['taskset', ['-c', cpus, script, ...args]];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 30_000, env: { ...process.env, MALLOC_TRIM_THRESHOLD_: '' } });
  assert.equal(r.status, 0, `${r.stderr} ${r.error?.message ?? ''}`);
  return JSON.parse(r.stdout) as Probe;
}

test('the bin starts node with the malloc trim threshold and the initial heap size, and passes every argument as given', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'swy-bin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const got = probe(dir, ['proxy', '--help', 'two words', '$HOME', '']);
  // 64 MiB: freed 64 KiB read buffers stay in the heap instead of going back to the kernel after each GC batch
  assert.equal(got.trim, String(64 * 1024 * 1024));
  assert.ok(got.execArgv.includes('--initial-heap-size=64'), `execArgv: ${got.execArgv.join(' ')}`);
  assert.deepEqual(got.args, ['proxy', '--help', 'two words', '$HOME', '']);
});

test('on one CPU (taskset) the bin runs V8 with single-threaded GC; with more CPUs, with V8 defaults; the benches agree', { skip: process.platform !== 'linux' }, (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'swy-bin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const one = probe(dir, ['x'], '0');
  assert.ok(one.execArgv.includes('--single-threaded-gc'), `execArgv on CPU 0 only: ${one.execArgv.join(' ')}`);
  assert.deepEqual(benchFlags('0'), one.execArgv, 'bench/lib/launch.js gives node what the launcher gives it on one CPU');
  if (os.availableParallelism() < 2) {
    t.diagnostic('this machine lets the test run on one CPU only: the multi-CPU half is not checked');
    return;
  }
  const all = probe(dir, ['x']);
  assert.ok(!all.execArgv.includes('--single-threaded-gc'), `execArgv with ${os.availableParallelism()} CPUs: ${all.execArgv.join(' ')}`);
  assert.deepEqual(benchFlags(), all.execArgv, 'bench/lib/launch.js gives node what the launcher gives it');
  const two = probe(dir, ['x'], '0,1');
  assert.ok(!two.execArgv.includes('--single-threaded-gc'), `execArgv on CPUs 0,1: ${two.execArgv.join(' ')}`);
});
