/**
 * Which driver the splice addon runs (`SWITCHYARD_SPLICE_THREAD`, read once when it loads): `auto` picks `loop` (no
 * thread) when the process may run on one CPU only and `worker` otherwise; `worker` and `loop` are taken as given;
 * anything else warns and means `auto`. Each case is a fresh process (the choice is made once per process).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { spliceInfo } from '../../src/net/splice.js';

const run = promisify(execFile);
const SPLICE = fileURLToPath(new URL('../../src/net/splice.ts', import.meta.url));
const PROBE = `const m = await import(${JSON.stringify(SPLICE)}); const i = m.spliceInfo(); console.log(JSON.stringify({ available: i.available, reason: i.reason, driver: i.driver }));`;

/** spliceInfo() of a fresh process with `thread` in its environment, run under `taskset -c CPUS` when given. */
async function probe(thread: string | undefined, cpus?: string): Promise<{ available: boolean; reason?: string; driver?: string; stderr: string }> {
  const env = { ...process.env };
  delete env['SWITCHYARD_SPLICE_THREAD'];
  if (thread !== undefined) env['SWITCHYARD_SPLICE_THREAD'] = thread;
  const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', PROBE];
  const [file, ...args] = cpus === undefined ? node : ['taskset', '-c', cpus, ...node];
  const { stdout, stderr } = await run(file!, args, { env });
  return { ...(JSON.parse(stdout) as { available: boolean; reason?: string; driver?: string }), stderr };
}

const built = spliceInfo().available;

test('auto: the loop driver when the process may use one CPU only (taskset -c 0)', { skip: !built && 'the splice addon is not built here' }, async () => {
  const r = await probe(undefined, '0');
  assert.equal(r.available, true, r.reason);
  assert.equal(r.driver, 'loop');
});

test('auto: the worker thread when the process may use more CPUs', { skip: (!built && 'the splice addon is not built here') || (availableParallelism() < 2 && 'this machine has one CPU') }, async () => {
  for (const thread of [undefined, 'auto', '']) {
    const r = await probe(thread);
    assert.equal(r.driver, 'worker', `SWITCHYARD_SPLICE_THREAD=${String(thread)}`);
  }
});

test('worker and loop are taken as given, whatever the CPUs', { skip: !built && 'the splice addon is not built here' }, async () => {
  assert.equal((await probe('worker', '0')).driver, 'worker');
  assert.equal((await probe('loop')).driver, 'loop');
});

test('an unknown value warns, naming the variable and the values it takes, and means auto', { skip: !built && 'the splice addon is not built here' }, async () => {
  const r = await probe('threads', '0');
  assert.equal(r.driver, 'loop');
  assert.match(r.stderr, /SWITCHYARD_SPLICE_THREAD=threads is not one of worker, loop, auto: using auto/);
});
