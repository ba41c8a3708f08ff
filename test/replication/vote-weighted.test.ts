import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tally, weightedTally, weightsFor, type Ballot } from '../../src/replication/vote.js';

const ok = (key: string): Ballot => ({ ok: true, key });
const failed: Ballot = { ok: false };

test('weights: Praefect reference-transaction table for S = 0..5', () => {
  // S: [primary weight, threshold, secondaries that must agree with the primary]
  const table: Record<number, [number, number, number]> = {
    0: [1, 1, 0],
    1: [2, 2, 0],
    2: [3, 4, 1],
    3: [4, 6, 2],
    4: [5, 7, 2],
    5: [6, 9, 3],
  };
  for (const [s, [primary, threshold, mustAgree]] of Object.entries(table).map(([k, v]) => [Number(k), v] as const)) {
    const w = weightsFor(s);
    assert.equal(w.primary, primary, `S=${s} primary weight`);
    assert.equal(w.secondary, 1);
    assert.equal(w.threshold, threshold, `S=${s} threshold`);
    assert.equal(w.threshold - w.primary, mustAgree, `S=${s} secondaries needed`);
  }
  assert.throws(() => weightsFor(-1), RangeError);
  assert.throws(() => weightsFor(1.5), RangeError);
});

test('weighted: for every S from 1 to 5, the primary is served exactly when ceil(S/2) secondaries (S > 1) agree', () => {
  for (let s = 1; s <= 5; s++) {
    const need = s > 1 ? Math.ceil(s / 2) : 0;
    for (let agree = 0; agree <= s; agree++) {
      // `agree` secondaries answer like the primary, the rest each answer something different
      const ballots = [ok('A'), ...Array.from({ length: s }, (_, i) => (i < agree ? ok('A') : ok(`X${i}`)))];
      const t = weightedTally(ballots);
      assert.equal(t.serve, agree >= need ? 0 : undefined, `S=${s} agree=${agree}`);
      assert.equal(t.weight, s + 1 + agree);
      assert.equal(t.threshold, weightsFor(s).threshold);
      assert.deepEqual([...t.agreeing].sort(), [0, ...Array.from({ length: agree }, (_, i) => i + 1)]);
      assert.equal(t.unanimous, agree === s);
      // the other secondaries failing instead of disagreeing changes nothing
      const withFailures = [ok('A'), ...Array.from({ length: s }, (_, i) => (i < agree ? ok('A') : failed))];
      assert.equal(weightedTally(withFailures).serve, agree >= need ? 0 : undefined, `S=${s} agree=${agree} others failed`);
      // the secondaries that disagree agreeing among themselves changes nothing either
      const colluding = [ok('A'), ...Array.from({ length: s }, (_, i) => (i < agree ? ok('A') : ok('B')))];
      assert.equal(weightedTally(colluding).serve, agree >= need ? 0 : undefined, `S=${s} agree=${agree} others agree on B`);
    }
  }
});

test('weighted: nothing is served without the primary, even when every secondary agrees', () => {
  for (let s = 1; s <= 5; s++) {
    const t = weightedTally([failed, ...Array.from({ length: s }, () => ok('B'))]);
    assert.equal(t.serve, undefined, `S=${s}`);
    assert.equal(t.weight, s);
    assert.deepEqual([...t.agreeing], Array.from({ length: s }, (_, i) => i + 1));
  }
});

test('weighted: ties go to the side of the lowest index (the primary when it is in one)', () => {
  // S=1: primary 2 vs secondary 1 is no tie; with the primary failed, two lone secondaries tie (S=2)
  const t = weightedTally([failed, ok('B'), ok('C')]);
  assert.equal(t.serve, undefined);
  assert.deepEqual([...t.agreeing], [1], 'the first secondary leads a tie between secondaries');
  // S=4: primary alone weighs 5; four secondaries agreeing on B weigh 4 → primary leads but 5 < 7: blocked
  const u = weightedTally([ok('A'), ok('B'), ok('B'), ok('B'), ok('B')]);
  assert.equal(u.serve, undefined);
  assert.deepEqual([...u.agreeing], [0]);
  assert.equal(u.weight, 5);
  // S=5: primary + 1 (weight 7) vs four secondaries (weight 4): primary leads, 7 < 9 blocked
  const v = weightedTally([ok('A'), ok('A'), ok('B'), ok('B'), ok('B'), ok('B')]);
  assert.equal(v.serve, undefined);
  assert.deepEqual([...v.agreeing], [0, 1]);
});

test('weighted: edge cases (no ballots, primary only, tally() dispatch)', () => {
  assert.equal(weightedTally([]).serve, undefined);
  assert.equal(weightedTally([ok('A')]).serve, 0, 'S=0: the primary alone');
  assert.equal(weightedTally([failed]).serve, undefined);
  assert.deepEqual(tally('weighted', [ok('A'), ok('B')]).serve, 0, 'S=1: a secondary may disagree');
});

test('weighted: served iff the primary is ok and at least threshold - (S+1) secondaries share its key (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.option(fc.constantFrom('A', 'B', 'C'), { nil: undefined }), { minLength: 1, maxLength: 8 }),
      (keys) => {
        const ballots = keys.map((k) => (k === undefined ? failed : ok(k)));
        const s = ballots.length - 1;
        const w = weightsFor(s);
        const t = weightedTally(ballots);
        const primaryKey = keys[0];
        const agreeing = primaryKey === undefined ? 0 : keys.slice(1).filter((k) => k === primaryKey).length;
        const expected = primaryKey !== undefined && w.primary + agreeing >= w.threshold;
        assert.equal(t.serve === 0, expected);
        if (t.serve !== undefined) assert.equal(t.serve, 0);
        // the policy never serves an answer the primary did not give, and majority-of-weight semantics hold
        assert.ok(t.weight <= w.primary + s);
      },
    ),
    { numRuns: 500 },
  );
});
