import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkState, illegalLinkTransition, linkCanMove, linkStateName } from '../../src/faults/stage/link-state.js';

test('the fault link state diagram: idle ⇄ delivering, then ending → ended; every state may be disposed', () => {
  const L = LinkState;
  assert.equal(linkCanMove(L.Idle, L.Delivering), true);
  assert.equal(linkCanMove(L.Delivering, L.Idle), true);
  assert.equal(linkCanMove(L.Delivering, L.Ending), true);
  assert.equal(linkCanMove(L.Ending, L.Ended), true);
  assert.equal(linkCanMove(L.Idle, L.Ended), false);
  assert.equal(linkCanMove(L.Ending, L.Idle), false);
  for (const s of Object.values(L)) {
    if (s !== L.Disposed) assert.equal(linkCanMove(s, L.Disposed), true, `${linkStateName(s)} → disposed`);
    assert.equal(linkCanMove(L.Disposed, s), false);
  }
});

test('an illegal link transition is a typed error naming both states', () => {
  const err = illegalLinkTransition('faults 7 upstream', LinkState.Ended, LinkState.Idle);
  assert.equal(err.code, 'SWY_INTERNAL');
  assert.match(err.message, /ended → idle/);
});
