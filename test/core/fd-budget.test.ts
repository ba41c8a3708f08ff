import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { FdBudget } from '../../src/core/fd-budget.js';

test('fd budget: spliced connections are estimated at four descriptors; splice only while under a quarter of the room', { skip: process.platform !== 'linux' }, () => {
  const open = readdirSync('/proc/self/fd').length;
  // room = limit - reserve = 4 × (open + 40): a quarter is open + 40 descriptors
  const budget = new FdBudget({ limit: 4 * (open + 40) + 16, reserve: 16, sampleMs: 60_000 });
  budget.recovered(); // takes a count
  const counted = budget.estimate;
  budget.accepted(4);
  budget.accepted();
  assert.equal(budget.estimate, counted + 6, 'four for a spliced connection, two for a JS one');
  assert.equal(budget.roomy(), true);
  for (let i = 0; i < 10; i++) budget.accepted(4);
  assert.equal(budget.roomy(), false, `${budget.estimate} descriptors is over a quarter of the room`);
});

test('fd budget: connections that closed since the last count do not keep new ones off the splice path', { skip: process.platform !== 'linux' }, () => {
  const open = readdirSync('/proc/self/fd').length;
  const budget = new FdBudget({ limit: 4 * (open + 40) + 16, reserve: 16, sampleMs: 0 });
  budget.recovered();
  // 100 short connections accepted and closed since the count: the estimate says 400 descriptors more
  for (let i = 0; i < 100; i++) budget.accepted(4);
  assert.ok(budget.estimate >= open + 400);
  assert.equal(budget.roomy(), true, 'counted again: the descriptors are free');
  assert.ok(budget.estimate < open + 40, `estimate after the count: ${budget.estimate}`);
  // a stale estimate is not counted again before sampleMs has passed
  const slow = new FdBudget({ limit: 4 * (open + 40) + 16, reserve: 16, sampleMs: 60_000 });
  slow.recovered();
  for (let i = 0; i < 100; i++) slow.accepted(4);
  assert.equal(slow.roomy(), false);
});
