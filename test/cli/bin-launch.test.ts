import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/switchyard.js', import.meta.url));

// The bin's first line decides how node runs every switchyard started as `switchyard ...` / ./bin/switchyard.js
// (docs/benchmarks.md, "How the bin starts node"). A script with the same first line, executed the same way (by
// the kernel, through env -S), reports what its node process got.
test('the bin starts node with the malloc trim threshold and the initial heap size', (t) => {
  const shebang = readFileSync(BIN, 'utf8').split('\n', 1)[0]!;
  const dir = mkdtempSync(path.join(tmpdir(), 'swy-bin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'probe.mjs');
  writeFileSync(script, `${shebang}\nprocess.stdout.write(JSON.stringify({ trim: process.env.MALLOC_TRIM_THRESHOLD_ ?? null, execArgv: process.execArgv, args: process.argv.slice(2) }));\n`);
  chmodSync(script, 0o755);
  const r = spawnSync(script, ['proxy', '--help'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, MALLOC_TRIM_THRESHOLD_: '' } });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { trim: string | null; execArgv: string[]; args: string[] };
  // 64 MiB: freed 64 KiB read buffers stay in the heap instead of going back to the kernel after each GC batch
  assert.equal(got.trim, String(64 * 1024 * 1024));
  assert.ok(got.execArgv.includes('--initial-heap-size=64'), `execArgv: ${got.execArgv.join(' ')}`);
  assert.deepEqual(got.args, ['proxy', '--help']);
});
