import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { didYouMean, editDistance, suggestionSuffix } from '../../src/config/did-you-mean.js';

test('edit distance counts insertions, deletions, substitutions and adjacent swaps', () => {
  assert.equal(editDistance('', ''), 0);
  assert.equal(editDistance('abc', ''), 3);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('idleTimout', 'idleTimeout'), 1);
  assert.equal(editDistance('wieght', 'weight'), 1, 'a swap of neighbours costs 1 (Damerau)');
  assert.equal(editDistance('ca', 'abc'), 3, 'optimal string alignment: no edits inside a swapped pair');
});

test('edit distance is a symmetric, bounded measure', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b) => {
      const d = editDistance(a, b);
      assert.equal(d, editDistance(b, a));
      assert.ok(d <= Math.max(a.length, b.length));
      assert.ok(d >= Math.abs(a.length - b.length));
      assert.equal(d === 0, a === b);
    }),
  );
});

test('suggestions: close enough, case and separator insensitive', () => {
  const keys = ['id', 'transport', 'listen', 'tls', 'framing', 'maxConnections', 'idleTimeout', 'backlog', 'socket', 'udp'];
  assert.equal(didYouMean('idleTimout', keys), 'idleTimeout');
  assert.equal(didYouMean('idle_timeout', keys), 'idleTimeout');
  assert.equal(didYouMean('IdleTimeout', keys), 'idleTimeout');
  assert.equal(didYouMean('max_connections', keys), 'maxConnections');
  assert.equal(didYouMean('maxConections', keys), 'maxConnections');
  assert.equal(didYouMean('lisen', keys), 'listen');
  assert.equal(didYouMean('framming', keys), 'framing');
  assert.equal(didYouMean('sokcet', keys), 'socket');
  // Long words allow a third of their length: 4 edits in a 14-letter key.
  assert.equal(didYouMean('mxConectons', keys), 'maxConnections');
  // Nothing close: no suggestion.
  assert.equal(didYouMean('zzz', keys), undefined);
  assert.equal(didYouMean('weight', keys), undefined);
  assert.equal(didYouMean('ab', ['id']), undefined, 'a short word replaced entirely is not a typo');
  assert.equal(didYouMean('listen', keys), undefined, 'an exact match needs no suggestion');
  assert.equal(didYouMean('x', []), undefined);
});

test('ties go to the first candidate; the suffix is ready to append', () => {
  assert.equal(didYouMean('cat', ['bat', 'hat']), 'bat');
  assert.equal(suggestionSuffix('round-robin', ['round_robin', 'random']), ' (did you mean "round_robin"?)');
  assert.equal(suggestionSuffix('qqqq', ['round_robin']), '');
});
