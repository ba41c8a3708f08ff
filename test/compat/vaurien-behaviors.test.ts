/**
 * Vaurien compatibility, in process: the percentage syntax, option typing, the behavior mix on a fault set (option
 * precedence without Vaurien's re-apply bug), and the control API against a running chaos proxy on raw TCP.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createFaultRegistry } from '../../src/faults/builtins.js';
import { FaultSet } from '../../src/faults/fault-set.js';
import { silentLogger } from '../../src/core/log.js';
import { coerceOption, formatMix, parseBehaviorSpec, VaurienBehaviors } from '../../src/compat/vaurien-behaviors.js';
import { startChaos } from '../../src/cli/commands/chaos.js';
import { startServer, connect, eventually } from '../helpers/net.js';

const registry = createFaultRegistry();
const NAMES = ['abort', 'blackout', 'delay', 'dummy', 'error', 'hang', 'transient'];

describe('percentage syntax', () => {
  test('parses PERCENT:NAME lists; the rest is dummy; duplicates add up', () => {
    assert.deepEqual(parseBehaviorSpec('20:delay,10:error', NAMES), [
      { name: 'delay', percent: 20 },
      { name: 'error', percent: 10 },
    ]);
    assert.deepEqual(parseBehaviorSpec('100:dummy', NAMES), []);
    assert.deepEqual(parseBehaviorSpec(' 30:error , 20:error,50:dummy', NAMES), [{ name: 'error', percent: 50 }]);
    assert.deepEqual(parseBehaviorSpec('0:error', NAMES), []);
  });

  test('errors: total over 100, missing colon, unknown name (listing the valid ones), bad percentage', () => {
    assert.throws(() => parseBehaviorSpec('60:delay,50:error', NAMES), /^Error: The behavior total needs to be 100 or less$/);
    assert.throws(() => parseBehaviorSpec('delay', NAMES), /You need to use percentage:name/);
    assert.throws(() => parseBehaviorSpec('10:delay:x', NAMES), /You need to use percentage:name/);
    assert.throws(() => parseBehaviorSpec('10:dela', NAMES), /unknown behavior 'dela' \(did you mean "delay"\?\); valid names: abort, blackout, delay, dummy, error, hang, transient/);
    assert.throws(() => parseBehaviorSpec('1.5:delay', NAMES), /must be an integer from 0 to 100/);
    assert.throws(() => parseBehaviorSpec('-5:delay', NAMES), /must be an integer/);
  });

  test('a bare name is 100 % where the control API allows it', () => {
    assert.deepEqual(parseBehaviorSpec('error', NAMES, { bareName: true }), [{ name: 'error', percent: 100 }]);
    assert.deepEqual(parseBehaviorSpec('dummy', NAMES, { bareName: true }), []);
  });

  test('GET /behavior form: a single 100 % behavior is its name, else the spec', () => {
    assert.equal(formatMix([]), 'dummy');
    assert.equal(formatMix([{ name: 'error', percent: 100 }]), 'error');
    assert.equal(formatMix([{ name: 'error', percent: 50 }]), '50:error');
    assert.equal(formatMix([{ name: 'delay', percent: 20 }, { name: 'error', percent: 10 }]), '20:delay,10:error');
  });
});

describe('option values', () => {
  const delay = registry.get('delay')!.options;
  const error = registry.get('error')!.options;
  test('text is parsed by the option type; booleans can be false', () => {
    assert.equal(coerceOption(delay['sleep']!, '0.25'), 0.25);
    assert.equal(coerceOption(delay['sleep']!, 2), 2);
    assert.equal(coerceOption(delay['before']!, 'false'), false);
    assert.equal(coerceOption(delay['before']!, 'TRUE'), true);
    assert.equal(coerceOption(error['warmup']!, '12'), 12);
    assert.equal(coerceOption(error['status']!, 503), '503');
    assert.equal(coerceOption(error['status']!, null), null);
  });
  test('bad values name the expected type', () => {
    assert.throws(() => coerceOption(delay['sleep']!, 'abc'), /expected number ≥ 0, got "abc"/);
    assert.throws(() => coerceOption(delay['sleep']!, -1), /expected number ≥ 0/);
    assert.throws(() => coerceOption(error['warmup']!, '1.5'), /expected integer ≥ 0/);
    assert.throws(() => coerceOption(delay['before']!, 'maybe'), /expected boolean/);
    assert.throws(() => coerceOption(error['message']!, null), /expected string/);
  });
});

describe('behavior mix on a fault set', () => {
  test('one exclusive group; error/transient act downstream on raw TCP, upstream with a protocol', () => {
    const raw = new VaurienBehaviors(registry, { mix: parseBehaviorSpec('20:delay,10:error', NAMES), raw: true });
    const byName = new Map(raw.faultInputs().map((f) => [f.name, f]));
    assert.deepEqual([...byName.keys()].sort(), ['abort', 'blackout', 'delay', 'error', 'hang', 'transient']);
    for (const f of byName.values()) {
      assert.equal(f.group, 'behavior');
      assert.equal(f.scope, 'request');
    }
    assert.equal(byName.get('delay')!.toxicity, 0.2);
    assert.equal(byName.get('error')!.toxicity, 0.1);
    assert.equal(byName.get('hang')!.toxicity, 0);
    assert.equal(byName.get('error')!.stream, 'downstream');
    assert.equal(byName.get('transient')!.stream, 'downstream');
    assert.equal(byName.get('abort')!.stream, 'upstream');
    const proto = new VaurienBehaviors(registry, { mix: [], raw: false });
    assert.ok(proto.faultInputs().every((f) => f.stream === 'upstream'));
  });

  test('precedence defaults < CLI < PUT, and nothing re-applies the CLI value later (Vaurien bug)', () => {
    const b = new VaurienBehaviors(registry, { mix: parseBehaviorSpec('100:delay', NAMES), raw: false, options: { delay: { sleep: '0.3' } } });
    const set = new FaultSet(registry);
    b.attach(set);
    assert.equal(set.get('delay')!.options['sleep'], 0.3);
    assert.equal(set.get('delay')!.options['before'], true);
    b.set('delay', { sleep: 0.1 });
    assert.equal(set.get('delay')!.options['sleep'], 0.1);
    // switching away and back with no options keeps the PUT value (not the CLI's 0.3, not the default 1)
    b.set('error');
    assert.equal(set.get('delay')!.toxicity, 0);
    assert.equal(set.get('error')!.toxicity, 1);
    b.set('delay');
    assert.equal(set.get('delay')!.options['sleep'], 0.1);
    assert.equal(b.spec, 'delay');
    b.set('50:delay,25:error', { before: 'false', warmup: 3 });
    assert.equal(set.get('delay')!.options['before'], false);
    assert.equal(set.get('error')!.options['warmup'], 3);
    assert.equal(set.get('transient')!.options['warmup'], 0, 'options go to the named behaviors only');
    assert.equal(b.spec, '50:delay,25:error');
  });

  test('changes validate fully before applying anything', () => {
    const b = new VaurienBehaviors(registry, { mix: [], raw: false });
    const set = new FaultSet(registry);
    b.attach(set);
    const version = set.version;
    assert.throws(() => b.set('delay', { sleep: 1, slep: 2 }), (e: Error & { field?: string }) => e.field === 'slep' && /did you mean "sleep"/.test(e.message));
    assert.throws(() => b.set('delay', { sleep: 'x' }), (e: Error & { field?: string }) => e.field === 'sleep');
    assert.throws(() => b.set('nope'), (e: Error & { field?: string }) => e.field === 'name');
    assert.equal(set.version, version);
    assert.equal(b.spec, 'dummy');
  });

  test('warmup counters survive switching behaviors (Vaurien caches behavior instances)', () => {
    const b = new VaurienBehaviors(registry, { mix: parseBehaviorSpec('100:error', NAMES), raw: false });
    const set = new FaultSet(registry);
    b.attach(set);
    const fault = set.get('error')!;
    b.set('dummy');
    b.set('error');
    assert.equal(set.get('error'), fault);
  });
});

/** A TCP server that greets each connection with its name, then echoes. */
async function namedEcho(name: string) {
  return startServer((s) => {
    s.write(`${name}\n`);
    s.pipe(s);
  });
}

async function readSome(socket: net.Socket, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  while (n < bytes) {
    const [c] = (await once(socket, 'data')) as [Buffer];
    chunks.push(c);
    n += c.length;
  }
  return Buffer.concat(chunks);
}

async function api(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(base + path, { method, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
  return { status: res.status, json: await res.json() };
}

describe('control API (in process, raw TCP)', () => {
  test('routes and bodies; error shapes; live behavior change on a raw TCP connection', async (t) => {
    const a = await namedEcho('A');
    t.after(() => a.close());
    const chaos = await startChaos({ proxy: '127.0.0.1:0', backend: `127.0.0.1:${a.port}`, protocol: 'tcp', behavior: '100:dummy', http: '127.0.0.1:0', logger: silentLogger() });
    t.after(() => chaos.close());
    const base = chaos.api!.url;
    assert.deepEqual(await api(base, 'GET', '/behavior'), { status: 200, json: { behavior: 'dummy' } });
    assert.deepEqual(await api(base, 'GET', '/behaviors'), { status: 200, json: { behaviors: NAMES } });
    assert.deepEqual(await api(base, 'GET', '/backend'), { status: 200, json: { backend: `127.0.0.1:${a.port}` } });
    assert.deepEqual(await api(base, 'PUT', '/behavior', { name: 'x' }), {
      status: 400,
      json: { status: 'error', errors: [{ location: 'body', name: 'name', description: "the 'x' behavior does not exist" }] },
    });
    const bad = await api(base, 'PUT', '/behavior', { name: 'delay', sleep: 'soon' });
    assert.equal(bad.status, 400);
    assert.equal((bad.json as { errors: { name: string }[] }).errors[0]!.name, 'sleep');
    assert.equal((await api(base, 'PUT', '/behavior', { name: '70:error,40:delay' })).status, 400);
    assert.equal((await api(base, 'PUT', '/behavior', '{not json')).status, 400);
    assert.equal((await api(base, 'PUT', '/behavior', {})).status, 400);
    assert.equal((await api(base, 'GET', '/nope')).status, 404);
    assert.equal((await api(base, 'DELETE', '/behavior')).status, 405);

    const port = (chaos.yard.listeners.get('chaos')!.address as { port: number }).port;
    const c = await connect(port);
    t.after(() => c.destroy());
    assert.equal((await readSome(c, 2)).toString(), 'A\n');
    c.write('hello');
    assert.equal((await readSome(c, 5)).toString(), 'hello');
    // raw TCP error garbles client-bound data: 1000 random bytes instead of the echo
    assert.deepEqual(await api(base, 'PUT', '/behavior', { name: 'error' }), { status: 200, json: { status: 'ok' } });
    assert.deepEqual(await api(base, 'GET', '/behavior'), { status: 200, json: { behavior: 'error' } });
    c.write('hello');
    const garbled = await readSome(c, 1000);
    assert.equal(garbled.length, 1000);
    assert.notEqual(garbled.subarray(0, 5).toString('latin1'), 'hello');
    assert.equal((await api(base, 'PUT', '/behavior', { name: 'dummy' })).status, 200);
    c.write('again');
    assert.equal((await readSome(c, 5)).toString(), 'again');
  });

  test('PUT /backend: new connections reach the new backend, live ones keep theirs', async (t) => {
    const a = await namedEcho('A');
    const b = await namedEcho('B');
    t.after(() => a.close());
    t.after(() => b.close());
    const chaos = await startChaos({ proxy: '127.0.0.1:0', backend: `127.0.0.1:${a.port}`, protocol: 'tcp', behavior: '100:dummy', http: '127.0.0.1:0', logger: silentLogger() });
    t.after(() => chaos.close());
    const base = chaos.api!.url;
    const port = (chaos.yard.listeners.get('chaos')!.address as { port: number }).port;
    const c1 = await connect(port);
    t.after(() => c1.destroy());
    assert.equal((await readSome(c1, 2)).toString(), 'A\n');
    assert.deepEqual(await api(base, 'PUT', '/backend', { backend: `127.0.0.1:${b.port}` }), { status: 200, json: { status: 'ok' } });
    assert.deepEqual(await api(base, 'GET', '/backend'), { status: 200, json: { backend: `127.0.0.1:${b.port}` } });
    const c2 = await connect(port);
    t.after(() => c2.destroy());
    assert.equal((await readSome(c2, 2)).toString(), 'B\n');
    c1.write('still A');
    assert.equal((await readSome(c1, 7)).toString(), 'still A');
    assert.equal((await api(base, 'PUT', '/backend', { backend: 'nohost' })).status, 400);
    assert.equal((await api(base, 'PUT', '/backend', {})).status, 400);
    // the swap leaves one cluster behind, and the behavior faults in place
    await eventually(() => chaos.yard.clusters.size === 1, 'old cluster removed');
    assert.equal(chaos.yard.faultSet('chaos').size, 6);
  });
});
