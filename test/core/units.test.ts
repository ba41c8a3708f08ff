import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SIZE_FORMS, formatDuration, formatSize, parseDuration, parseSize, sizeOption } from '../../src/core/units.js';
import { ErrorCodes, hasCode } from '../../src/core/errors.js';

function rejects(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (err: Error) => {
    assert.ok(hasCode(err, ErrorCodes.CONFIG_INVALID));
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

test('durations', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('5s'), 5000);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('.5s'), 500);
  assert.equal(parseDuration(' 10 s '), 10_000);
  assert.equal(parseDuration('250'), 250, 'a bare number is milliseconds');
  assert.equal(parseDuration(0), 0);
  assert.equal(parseDuration(1234), 1234);
  assert.equal(parseDuration(1.6), 2, 'rounded to whole milliseconds');
  assert.equal(parseDuration('0.4ms'), 0);
});

test('duration errors', () => {
  const forms = 'a duration like "500ms", "5s", "2m", "1h" or a number of milliseconds';
  rejects(() => parseDuration('5 sec'), `expected ${forms}, got "5 sec"`);
  rejects(() => parseDuration('-1s'), `expected ${forms}, got "-1s"`);
  rejects(() => parseDuration(''), `expected ${forms}, got ""`);
  rejects(() => parseDuration('1d'), `expected ${forms}, got "1d"`);
  rejects(() => parseDuration('5S'), `expected ${forms}, got "5S" (units are lower case: "s")`);
  rejects(() => parseDuration(-5), `expected ${forms} (>= 0), got -5`);
  rejects(() => parseDuration(Number.NaN), /got NaN/);
  rejects(() => parseDuration(Infinity), /got Infinity/);
  rejects(() => parseDuration('1e300h'), /expected/);
  rejects(() => parseDuration(`${'9'.repeat(20)}h`), /is too large/);
});

test('sizes', () => {
  assert.equal(parseSize('64KiB'), 65_536);
  assert.equal(parseSize('1MiB'), 1_048_576);
  assert.equal(parseSize('10MB'), 10_000_000);
  assert.equal(parseSize('1KB'), 1000);
  assert.equal(parseSize('1kb'), 1000);
  assert.equal(parseSize('2kib'), 2048);
  assert.equal(parseSize('512'), 512);
  assert.equal(parseSize('512B'), 512);
  assert.equal(parseSize('1.5KiB'), 1536);
  assert.equal(parseSize('1GiB'), 1024 ** 3);
  assert.equal(parseSize('2TB'), 2e12);
  assert.equal(parseSize(4096), 4096);
  assert.equal(parseSize(0), 0);
});

test('size errors', () => {
  const forms = 'a size like "512", "64KiB", "1MiB", "10MB" or a number of bytes';
  rejects(() => parseSize('10 MBs'), `expected ${forms}, got "10 MBs"`);
  rejects(() => parseSize('lots'), `expected ${forms}, got "lots"`);
  rejects(() => parseSize('-1'), `expected ${forms}, got "-1"`);
  rejects(() => parseSize('1.3B'), 'size "1.3B" is not a whole number of bytes');
  rejects(() => parseSize(1.5), `expected ${forms} (a whole number >= 0), got 1.5`);
  rejects(() => parseSize(-1), /got -1/);
  rejects(() => parseSize('99999999TiB'), 'size "99999999TiB" is too large');
});

test('formatting round-trips', () => {
  for (const ms of [0, 1, 250, 1000, 1500, 60_000, 90_000, 3_600_000, 7_200_000]) assert.equal(parseDuration(formatDuration(ms)), ms);
  for (const b of [0, 1, 512, 1000, 1024, 1536, 65_536, 10_000_000, 1024 ** 3]) assert.equal(parseSize(formatSize(b)), b);
  assert.equal(formatDuration(120_000), '2m');
  assert.equal(formatSize(65_536), '64KiB');
  assert.equal(formatSize(10_000_000), '10MB');
});

test('sizeOption: numbers or size strings → bytes, config-style messages', () => {
  const messages = (schema: ReturnType<typeof sizeOption>, v: unknown): string[] => {
    const r = schema.safeParse(v);
    return r.success ? [] : r.error.issues.map((i) => i.message);
  };
  const any = sizeOption();
  assert.equal(any.parse('64KiB'), 65_536);
  assert.equal(any.parse('10MB'), 10_000_000);
  assert.equal(any.parse('512'), 512);
  assert.equal(any.parse(4096), 4096);
  assert.equal(any.parse(0), 0);
  assert.deepEqual(messages(any, 'lots'), [`expected ${SIZE_FORMS}, got "lots"`]);
  assert.deepEqual(messages(any, 1.5), [`expected ${SIZE_FORMS} (a whole number >= 0), got 1.5`]);
  assert.deepEqual(messages(any, '1.3B'), ['size "1.3B" is not a whole number of bytes']);
  assert.deepEqual(messages(any, true), [`expected ${SIZE_FORMS}, got true`]);
  assert.deepEqual(messages(any, { a: 1 }), [`expected ${SIZE_FORMS}, got an object`]);
  assert.deepEqual(messages(any, undefined), [`missing (expected ${SIZE_FORMS})`]);
  assert.deepEqual(messages(sizeOption(1), '0B'), ['expected a size of at least 1 byte, got "0B"']);
  assert.deepEqual(messages(sizeOption(2), 1), ['expected a size of at least 2 bytes, got 1']);
  assert.deepEqual(messages(sizeOption(1, 65_535), '64KiB'), ['expected a size of 1-65535 bytes, got "64KiB"']);
  assert.equal(sizeOption(1, 65_535).parse('4KiB'), 4096);
  assert.equal(sizeOption(1).default(7).parse(undefined), 7);
  assert.equal(sizeOption(1).optional().parse(undefined), undefined);
});

test('durations above 2^31-1 ms are refused (Node timers would fire after 1 ms)', () => {
  assert.equal(parseDuration(2 ** 31 - 1), 2 ** 31 - 1);
  assert.equal(parseDuration('596h'), 596 * 3_600_000);
  rejects(() => parseDuration(1e12), 'duration 1000000000000 is too large: at most 2147483647ms (about 24.8 days; Node timers overflow beyond)');
  rejects(() => parseDuration(2 ** 31), /is too large: at most 2147483647ms/);
  rejects(() => parseDuration('597h'), /duration "597h" is too large/);
  rejects(() => parseDuration('36000m'), /is too large/);
});

test('sizes above 1PiB are refused', () => {
  assert.equal(parseSize('1024TiB'), 2 ** 50);
  rejects(() => parseSize('1025TiB'), 'size "1025TiB" is too large: at most 1125899906842624 bytes (1PiB)');
  rejects(() => parseSize(2 ** 51), /is too large: at most/);
});
