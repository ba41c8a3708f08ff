import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrafficTap, scalarAttributes } from '../../src/core/traffic.js';
import { httpAnswerSummary, mysqlAnswerSummary, postgresAnswerSummary, redisAnswerSummary, smtpAnswerSummary, memcacheAnswerSummary } from '../../src/protocols/answer-summary.js';

const entry = (n: number) => ({ at: Date.now(), durationMs: 1, request: { n }, answer: 'ok' });

test('the ring keeps the newest `keep` records, oldest first, with increasing seq', () => {
  const tap = new TrafficTap({ enabled: true, perSecond: 1000, keep: 5 });
  for (let i = 1; i <= 12; i++) tap.record(entry(i));
  const all = tap.since(0);
  assert.deepEqual(all.map((r) => r.seq), [8, 9, 10, 11, 12]);
  assert.deepEqual(all.map((r) => r.request['n']), [8, 9, 10, 11, 12]);
  assert.deepEqual(tap.since(10).map((r) => r.seq), [11, 12]);
  assert.deepEqual(tap.since(12), []);
  // limit: the oldest after `since` (a script pages on with the last seq)
  assert.deepEqual(tap.since(0, 2).map((r) => r.seq), [8, 9]);
  assert.equal(tap.last, 12);
});

test('a smaller keep keeps the newest records; a larger one keeps them all and grows', () => {
  const tap = new TrafficTap({ enabled: true, perSecond: 1000, keep: 10 });
  for (let i = 1; i <= 10; i++) tap.record(entry(i));
  tap.configure({ keep: 3 });
  assert.deepEqual(tap.since(0).map((r) => r.seq), [8, 9, 10]);
  tap.configure({ keep: 6 });
  for (let i = 11; i <= 13; i++) tap.record(entry(i));
  assert.deepEqual(tap.since(0).map((r) => r.seq), [8, 9, 10, 11, 12, 13]);
});

test('sampling: at most perSecond requests per second are sampled; the budget comes back the next second; none while disabled', async () => {
  const tap = new TrafficTap({ enabled: true, perSecond: 3, keep: 10 });
  let sampled = 0;
  for (let i = 0; i < 100; i++) if (tap.sample()) sampled++;
  // the loop is synchronous: the once-a-second reset cannot run inside it
  assert.equal(sampled, 3);
  await new Promise((r) => setTimeout(r, 1300));
  let again = 0;
  for (let i = 0; i < 100; i++) if (tap.sample()) again++;
  assert.ok(again >= 3, `sampled ${again} after a second`);
  tap.configure({ enabled: false });
  await new Promise((r) => setTimeout(r, 1100));
  for (let i = 0; i < 10; i++) assert.equal(tap.sample(), false);
});

test('scalarAttributes keeps strings, numbers and booleans, cut to 200 chars', () => {
  const a = scalarAttributes({ method: 'GET', n: 3, ok: true, obj: { x: 1 } as unknown as string, long: 'x'.repeat(500) });
  assert.deepEqual(Object.keys(a), ['method', 'n', 'ok', 'long']);
  assert.equal((a['long'] as string).length, 200);
});

test('answer summaries of each protocol', () => {
  assert.equal(httpAnswerSummary(Buffer.from('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n')), '404');
  assert.equal(redisAnswerSummary(Buffer.from('+OK\r\n')), '+OK');
  assert.equal(redisAnswerSummary(Buffer.from('-ERR no route\r\n')), '-ERR no route');
  assert.equal(redisAnswerSummary(Buffer.from('$5\r\nhello\r\n')), '"hello"');
  assert.equal(redisAnswerSummary(Buffer.from('$-1\r\n')), '(nil)');
  assert.equal(redisAnswerSummary(Buffer.from('*2\r\n$1\r\na\r\n$1\r\nb\r\n')), 'array of 2');
  assert.equal(memcacheAnswerSummary(Buffer.from('STORED\r\n')), 'STORED');
  assert.equal(smtpAnswerSummary(Buffer.from('250 2.0.0 Ok\r\n')), '250');
  const cc = Buffer.concat([Buffer.from('C'), Buffer.from([0, 0, 0, 13]), Buffer.from('SELECT 1\0')]);
  assert.equal(postgresAnswerSummary(cc), 'CommandComplete SELECT 1');
  const fields = Buffer.from('SERROR\0C42P01\0Mrelation does not exist\0\0');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(4 + fields.length);
  assert.equal(postgresAnswerSummary(Buffer.concat([Buffer.from('E'), len, fields])), 'ErrorResponse 42P01');
  const err = Buffer.from([9, 0, 0, 2, 0xff, 0x15, 0x04, 0x23, 0x32, 0x38, 0x30, 0x30, 0x30]);
  assert.equal(mysqlAnswerSummary(err), 'ERR 1045');
  assert.equal(mysqlAnswerSummary(Buffer.from([7, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0])), 'OK');
  assert.ok(redisAnswerSummary(Buffer.from(`+${'x'.repeat(300)}\r\n`)).length <= 120);
});
