import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoiseModel } from '../../src/compare/noise.js';
import { buildComparator } from '../../src/compare/comparator.js';

const EP = 'GET /users/:id';

test('a field that always differs in the filter pair is learned as noise and ignored', () => {
  const model = new NoiseModel();
  assert.deepEqual([...model.ignored(EP)], []);
  assert.equal(model.isSignal(EP, '/body/ts'), true); // nothing learned yet
  for (let i = 0; i < 50; i++) model.record(EP, ['/body/ts'], ['/body/ts']); // the candidate differs there as often as the pair
  assert.deepEqual([...model.ignored(EP)], ['/body/ts']);
  assert.equal(model.isSignal(EP, '/body/ts'), false);
  // noise is per endpoint
  assert.deepEqual([...model.ignored('GET /orders/:id')], []);
  // a path the pair never differed on is always a signal, however often the candidate differs there
  model.record(EP, [], ['/body/name']);
  assert.equal(model.isSignal(EP, '/body/name'), true);
  assert.ok(!model.ignored(EP).has('/body/name'));
});

test("a field the candidate changes far more often than the filter pair stays a signal (Diffy's thresholds)", () => {
  const model = new NoiseModel();
  // the pair differed on /body/count twice in 100 exchanges; the candidate differed on it every time
  for (let i = 0; i < 100; i++) model.record(EP, i < 2 ? ['/body/count'] : [], ['/body/count']);
  assert.equal(model.isSignal(EP, '/body/count'), true);
  assert.ok(!model.ignored(EP).has('/body/count'));
  // a field where raw only slightly exceeds noise stays noise: |raw-noise|/(raw+noise) = 10/190 ≈ 5% < 20%
  const m2 = new NoiseModel();
  for (let i = 0; i < 100; i++) m2.record(EP, i < 90 ? ['/body/ts'] : [], ['/body/ts']);
  assert.equal(m2.isSignal(EP, '/body/ts'), false);
  assert.deepEqual([...m2.ignored(EP)], ['/body/ts']);
  // the relative threshold is configurable: with 5 % the same counts are a signal
  const m3 = new NoiseModel({ relative: 5 });
  for (let i = 0; i < 100; i++) m3.record(EP, i < 90 ? ['/body/ts'] : [], ['/body/ts']);
  assert.equal(m3.isSignal(EP, '/body/ts'), true);
  // the absolute threshold: raw - noise must exceed this percentage of all the endpoint's exchanges
  const m4 = new NoiseModel({ absolute: 5 });
  for (let i = 0; i < 100; i++) m4.record(EP, i === 0 ? ['/body/rare'] : [], i < 4 ? ['/body/rare'] : []); // 3 % of 100
  assert.equal(m4.isSignal(EP, '/body/rare'), false);
  const m5 = new NoiseModel({ absolute: 2 });
  for (let i = 0; i < 100; i++) m5.record(EP, i === 0 ? ['/body/rare'] : [], i < 4 ? ['/body/rare'] : []);
  assert.equal(m5.isSignal(EP, '/body/rare'), true);
});

test('minSamples: until an endpoint has enough exchanges, noisy paths stay ignored', () => {
  const model = new NoiseModel({ minSamples: 10 });
  model.record(EP, ['/x'], ['/x', '/y']);
  for (let i = 0; i < 5; i++) model.record(EP, [], ['/x']);
  assert.equal(model.isSignal(EP, '/x'), false); // 6 exchanges < 10
  for (let i = 0; i < 4; i++) model.record(EP, [], ['/x']);
  assert.equal(model.isSignal(EP, '/x'), true); // 10 exchanges: raw 10 vs noise 1
  assert.equal(model.isSignal(EP, '/y'), true);
});

test('ignored() is cached until the next record()', () => {
  const model = new NoiseModel();
  model.record(EP, ['/a'], []);
  const first = model.ignored(EP);
  assert.equal(model.ignored(EP), first);
  model.record(EP, ['/b'], []);
  const second = model.ignored(EP);
  assert.notEqual(second, first);
  assert.deepEqual([...second].sort(), ['/a', '/b']);
});

test('LRU bounds: endpoints and fields per endpoint', () => {
  const model = new NoiseModel({}, { maxEndpoints: 3, maxFieldsPerEndpoint: 2 });
  model.record('A', ['/1'], []);
  model.record('B', ['/1'], []);
  model.record('C', ['/1'], []);
  model.ignored('A'); // reading does not refresh; recording does
  model.record('A', ['/2'], []);
  model.record('D', ['/1'], []); // evicts B, the least recently recorded
  assert.deepEqual(Object.keys(model.toJSON()).sort(), ['A', 'C', 'D']);
  assert.deepEqual([...model.ignored('B')], []);
  // fields: the least recently updated path goes
  model.record('A', ['/1'], []); // A: /2 then /1 (refreshed)
  model.record('A', ['/3'], []); // evicts /2
  assert.deepEqual(Object.keys(model.toJSON()['A']!.fields).sort(), ['/1', '/3']);
  assert.equal(model.endpoints().length, 3);
});

test('toJSON snapshot and clear()', () => {
  const model = new NoiseModel();
  model.record(EP, ['/body/ts', '/body/ts'], ['/body/ts', '/body/name']); // duplicates in one exchange count once
  model.record(EP, ['/body/ts'], []);
  model.record('SET', [], ['/+']);
  assert.deepEqual(model.toJSON(), {
    [EP]: { total: 2, fields: { '/body/name': { noise: 0, raw: 1 }, '/body/ts': { noise: 2, raw: 1 } } },
    SET: { total: 1, fields: { '/+': { noise: 0, raw: 1 } } },
  });
  assert.equal(JSON.stringify(model), JSON.stringify(model.toJSON()));
  model.clear();
  assert.deepEqual(model.toJSON(), {});
  assert.deepEqual([...model.ignored(EP)], []);
});

test('bad thresholds and limits throw SWY_CONFIG_INVALID', () => {
  for (const [fn, re] of [
    [() => new NoiseModel({ relative: -1 }), /relative/],
    [() => new NoiseModel({ absolute: Number.NaN }), /absolute/],
    [() => new NoiseModel({ minSamples: 1.5 }), /minSamples/],
    [() => new NoiseModel({}, { maxEndpoints: 0 }), /maxEndpoints/],
    [() => new NoiseModel({}, { maxFieldsPerEndpoint: -3 }), /maxFieldsPerEndpoint/],
  ] as const) {
    assert.throws(fn, (err: Error & { code?: string }) => err.code === 'SWY_CONFIG_INVALID' && re.test(err.message));
  }
  assert.deepEqual(new NoiseModel().thresholds, { relative: 20, absolute: 0.03, minSamples: 1 });
});

test('with the comparator: a filter pair teaches that a timestamp is noise while a changed field is reported', () => {
  const cmp = buildComparator('http');
  const res = (body: unknown): Buffer => {
    const s = JSON.stringify(body);
    return Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(s)}\r\n\r\n${s}`);
  };
  const model = new NoiseModel();
  const request = [Buffer.from('GET /users/7 HTTP/1.1\r\nHost: h\r\n\r\n')];
  const endpoint = cmp.endpoint(request);
  assert.equal(endpoint, 'GET /users/:id');
  let reported: string[] = [];
  for (let i = 0; i < 20; i++) {
    const primary = cmp.canonical([res({ id: 7, name: 'alice', at: 1000 + i })], 'response');
    const twin = cmp.canonical([res({ id: 7, name: 'alice', at: 2000 + i })], 'response');
    const candidate = cmp.canonical([res({ id: 7, name: i % 2 ? 'ALICE' : 'alice', at: 3000 + i })], 'response');
    const noise = cmp.diff(primary, twin).map((d) => d.path);
    const raw = cmp.diff(primary, candidate).map((d) => d.path);
    model.record(endpoint, noise, raw);
    reported = cmp.diff(primary, candidate, model.ignored(endpoint)).map((d) => d.path);
    assert.equal(cmp.digestWithout(primary, model.ignored(endpoint)), cmp.digestWithout(twin, model.ignored(endpoint)));
  }
  assert.deepEqual([...model.ignored(endpoint)], ['/body/at']);
  assert.deepEqual(reported, ['/body/name']);
});
