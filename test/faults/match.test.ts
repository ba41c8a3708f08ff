/** Issue 10 §5/§6: match at run time (`not`, wildcards, regexes refused with 400), group shares and attribute units in the fault set. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileMatch } from '../../src/faults/match.js';
import { FaultSet } from '../../src/faults/fault-set.js';
import { createFaultRegistry } from '../../src/faults/builtins.js';
import { ErrorCodes, hasCode } from '../../src/core/errors.js';
import { validateConfig } from '../../src/runtime/config.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { Switchyard } from '../../src/runtime/switchyard.js';
import { AdminServer } from '../../src/admin/server.js';
import { LOOPBACK } from '../helpers/admin.js';

test('match: not negates a sub-match (nestable); requests without attributes never match', () => {
  const m = compileMatch({ method: 'GET', not: { path: ['/health', '/ready'] } });
  assert.equal(m({ method: 'GET', path: '/api' }), true);
  assert.equal(m({ method: 'GET', path: '/health' }), false);
  assert.equal(m({ method: 'POST', path: '/api' }), false);
  assert.equal(m({ method: 'GET' }), true, 'a missing attribute does not match the negated part');
  assert.equal(m(undefined), false);
  const only = compileMatch({ not: { path: '/internal/*' } });
  assert.equal(only({ path: '/internal/x' }), false);
  assert.equal(only({ path: '/public' }), true);
  assert.equal(only(undefined), false, 'raw TCP chunks stay unmatched');
  const nested = compileMatch({ not: { path: '/a/*', not: { method: 'GET' } } });
  assert.equal(nested({ path: '/a/1', method: 'GET' }), true, 'not (path /a/* and not GET)');
  assert.equal(nested({ path: '/a/1', method: 'POST' }), false);
  assert.equal(nested({ path: '/b', method: 'POST' }), true);
});

test('match: * wildcards are case-insensitive and match like before, without a backtracking regex', () => {
  const m = compileMatch({ path: '/API/*/items/*' });
  assert.equal(m({ path: '/api/v1/items/7' }), true);
  assert.equal(m({ path: '/api/v1/items/' }), true);
  assert.equal(m({ path: '/api/v1/item/7' }), false);
  assert.equal(m({ path: '/api/items/7' }), false, 'the pieces may not overlap');
  assert.equal(compileMatch({ key: '*a*a*a*a*a*b' })({ key: 'a'.repeat(50_000) }), false);
  assert.equal(compileMatch({ key: '*a*a*a*a*a*b' })({ key: `${'a'.repeat(5)}b` }), true);
  assert.equal(compileMatch({ key: 'ab*ba' })({ key: 'aba' }), false);
  assert.equal(compileMatch({ key: 'ab*ba' })({ key: 'abba' }), true);
  assert.equal(compileMatch({ key: '*' })({ key: '' }), true);
  assert.equal(compileMatch({ args: 3 })({ args: 3 }), true);
  assert.equal(compileMatch({ query: '/^SELECT/i' })({ query: 'select 1' }), true);
});

test('match: an invalid or catastrophic regex is a SWY_BAD_REQUEST naming the key', () => {
  for (const [spec, re] of [
    [{ path: '/^\\/(a+)+$/' }, /^match\.path: regular expression \/\^\\\/\(a\+\)\+\$\/ is refused: the repeated group \(a\+\)\+/],
    [{ not: { path: '/[/' } }, /^match\.not\.path: invalid regular expression/],
    [{ path: '/a/g' }, /flag "g" is not allowed/],
  ] as const) {
    assert.throws(
      () => compileMatch(spec),
      (err: Error) => hasCode(err, ErrorCodes.BAD_REQUEST) && re.test(err.message),
    );
  }
});

test('fault set: group shares above 1 are refused naming the group; ms attributes take duration strings', () => {
  const set = new FaultSet(createFaultRegistry());
  set.add({ name: 'a', type: 'delay', group: 'mix', toxicity: 0.6 });
  set.add({ name: 'd', type: 'corrupt', group: 'mix', toxicity: 0.6 }, 'other direction');
  assert.throws(
    () => set.add({ name: 'b', type: 'error', group: 'mix', toxicity: 0.5 }),
    (err: Error) => hasCode(err, ErrorCodes.BAD_REQUEST) && /group 'mix' on upstream would add up to 1\.1, more than 1 \(a 0\.6, and 0\.5 here\)/.test(err.message),
  );
  set.add({ name: 'c', type: 'error', group: 'mix', toxicity: 0.4 });
  const l = set.add({ type: 'latency', attributes: { latency: '1.5s', jitter: 20 } });
  assert.deepEqual(l.options, { latency: 1500, jitter: 20 });
  assert.equal(set.add({ name: 'z', type: 'delay', attributes: { sleep: '200ms' } }).options['sleep'], 0.2);
  assert.throws(() => set.add({ name: 'neg', type: 'latency', attributes: { latency: -1 } }), (err: Error) => hasCode(err, ErrorCodes.BAD_REQUEST) && /latency: expected a whole number 0-2147483647/.test(err.message));
});

test('admin API: a bad regex, a bad match key shape and a percentage toxicity answer as the config does (400, not 500)', async () => {
  const r = validateConfig({ listeners: [{ id: 'l1', listen: '127.0.0.1:0', protocol: 'http', faults: [] }], clusters: [{ id: 'c1', endpoints: ['127.0.0.1:1'] }], routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }] }, createFramerRegistry(), { env: {} });
  assert.ok(r.ok);
  const yard = await Switchyard.start(r.config, { defaultMetrics: false });
  const admin = await AdminServer.start(yard, { listen: LOOPBACK });
  const post = (body: unknown): Promise<Response> => fetch(`${admin.url}/api/v1/listeners/l1/faults`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  try {
    let res = await post({ type: 'error', match: { path: '/^\\/(a+)+$/' } });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'SWY_BAD_REQUEST');
    assert.match(body.error.message, /match\.path: regular expression \/\^\\\/\(a\+\)\+\$\/ is refused/);
    res = await post({ type: 'error', match: { path: '/(/' } });
    assert.equal(res.status, 400);
    res = await post({ type: 'error', match: { not: 'x' } });
    assert.equal(res.status, 400);
    res = await post({ type: 'error', match: { pth: '/x' } });
    assert.equal(res.status, 400, 'match keys are checked against the listener protocol at run time too');
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /match\.pth: unknown match key "pth" \(did you mean "path"\?\) \(protocol "http" reports: method, path, query, host, version\)/);
    res = await post({ type: 'error', toxicity: '50%', attributes: { status: 503 }, match: { path: '/x/*', not: { method: 'HEAD' } } });
    assert.equal(res.status, 201);
    const f = (await res.json()) as { toxicity: number; match: unknown };
    assert.equal(f.toxicity, 0.5);
    assert.deepEqual(f.match, { path: '/x/*', not: { method: 'HEAD' } });
    res = await fetch(`${admin.url}/api/v1/listeners/l1/faults/error_upstream`, { method: 'PATCH', body: JSON.stringify({ toxicity: '25%', match: { path: '/(a|ab)*/' } }), headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 400, 'a refused regex in an update');
    res = await fetch(`${admin.url}/api/v1/listeners/l1/faults/error_upstream`, { method: 'PATCH', body: JSON.stringify({ toxicity: '25%' }), headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { toxicity: number }).toxicity, 0.25);
  } finally {
    await admin.close();
    await yard.close();
  }
});
