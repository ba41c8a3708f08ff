import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createPicker,
  leastRequestPicker,
  maglevPicker,
  maglevTableSize,
  ringHashPicker,
  roundRobinPicker,
  type BalancedEndpoint,
  type BalancerName,
} from '../../src/upstream/balancer.js';
import { murmur3 } from '../../src/upstream/hash.js';
import { Cluster } from '../../src/upstream/cluster.js';

function ep(i: number, weight = 1): BalancedEndpoint {
  return { config: { address: { kind: 'tcp', host: `10.1.0.${i}`, port: 6379 }, weight }, key: `10.1.0.${i}:6379`, active: 0 };
}
const eps = (n: number, weight = 1): BalancedEndpoint[] => Array.from({ length: n }, (_, i) => ep(i + 1, weight));

/** A deterministic random source (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function counts(pick: () => BalancedEndpoint | undefined, n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const e = pick()!;
    m.set(e.key, (m.get(e.key) ?? 0) + 1);
  }
  return m;
}

describe('murmur3', () => {
  it('matches the reference vectors of MurmurHash3_x86_32 for ASCII/Latin-1 input fed as 16-bit units', () => {
    assert.equal(murmur3(''), 0);
    assert.equal(murmur3('', 1), 0x514e28b7);
    // Stable across runs and different for different inputs / seeds.
    assert.equal(murmur3('user:1'), murmur3('user:1'));
    assert.notEqual(murmur3('user:1'), murmur3('user:2'));
    assert.notEqual(murmur3('user:1', 1), murmur3('user:1', 2));
  });
});

describe('round robin and weighted', () => {
  it('round_robin cycles through equal endpoints in order', () => {
    const p = roundRobinPicker(eps(3));
    assert.deepEqual(
      Array.from({ length: 6 }, () => p.pick()!.key),
      ['10.1.0.1:6379', '10.1.0.2:6379', '10.1.0.3:6379', '10.1.0.1:6379', '10.1.0.2:6379', '10.1.0.3:6379'],
    );
  });

  it('the cursor survives republishing (a new picker continues where the old one was)', () => {
    const state = { cursor: 0 };
    const all = eps(3);
    const p1 = roundRobinPicker(all, { state });
    assert.equal(p1.pick()!.key, '10.1.0.1:6379');
    const p2 = roundRobinPicker(all, { state });
    assert.equal(p2.pick()!.key, '10.1.0.2:6379');
  });

  for (const name of ['round_robin', 'weighted'] as const) {
    it(`${name} honours weights exactly per cycle, interleaved (smooth WRR)`, () => {
      const list = [ep(1, 5), ep(2, 1), ep(3, 1)];
      const p = createPicker(name, list);
      const seq = Array.from({ length: 7 }, () => p.pick()!.key);
      assert.equal(seq.filter((k) => k === '10.1.0.1:6379').length, 5);
      // Smooth: the heavy endpoint is never picked more than 3 times in a row.
      assert.ok(!seq.join(',').includes(Array(4).fill('10.1.0.1:6379').join(',')), seq.join(','));
      const c = counts(() => p.pick(), 7000);
      assert.equal(c.get('10.1.0.1:6379'), 5000);
      assert.equal(c.get('10.1.0.2:6379'), 1000);
    });
  }
});

describe('random', () => {
  it('picks in proportion to weight', () => {
    const p = createPicker('random', [ep(1, 3), ep(2, 1)], { random: seeded(7) });
    const c = counts(() => p.pick(), 20_000);
    const share = c.get('10.1.0.1:6379')! / 20_000;
    assert.ok(share > 0.7 && share < 0.8, `share ${share}`);
  });
});

describe('least_request (power of two choices)', () => {
  it('never picks the most loaded of two, and spreads load when all are idle', () => {
    const list = eps(2);
    list[0]!.active = 10;
    const p = leastRequestPicker(list, { random: seeded(1) });
    for (let i = 0; i < 100; i++) assert.equal(p.pick()!.key, '10.1.0.2:6379');
  });

  it('keeps active counts balanced when the picked endpoint gets the new request', () => {
    const list = eps(5);
    const p = leastRequestPicker(list, { random: seeded(3) });
    for (let i = 0; i < 1000; i++) p.pick()!.active++;
    const loads = list.map((e) => e.active);
    // P2C keeps the gap tiny; random choice alone would spread ±30.
    assert.ok(Math.max(...loads) - Math.min(...loads) <= 5, loads.join(','));
  });

  it('is weight-aware: an endpoint of weight 3 carries about three times the load', () => {
    const list = [ep(1, 3), ep(2, 1), ep(3, 1)];
    const p = leastRequestPicker(list, { random: seeded(5) });
    for (let i = 0; i < 5000; i++) p.pick()!.active++;
    const heavy = list[0]!.active / list[1]!.active;
    assert.ok(heavy > 2.2 && heavy < 3.8, `ratio ${heavy}`);
  });
});

describe('least_connections', () => {
  it('picks the fewest active relative to weight', () => {
    const list = eps(3);
    list[0]!.active = 2;
    list[1]!.active = 0;
    list[2]!.active = 1;
    assert.equal(createPicker('least_connections', list).pick()!.key, '10.1.0.2:6379');
  });
});

describe('consistent hashing: ring_hash and maglev', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `user:${i}`);

  for (const name of ['ring_hash', 'maglev'] as const) {
    it(`${name}: the same key always reaches the same endpoint, whatever the endpoints' order`, () => {
      const a = createPicker(name, eps(4));
      const b = createPicker(name, eps(4).reverse());
      for (const k of keys.slice(0, 2000)) {
        assert.equal(a.pick(k)!.key, a.pick(k)!.key);
        assert.equal(a.pick(k)!.key, b.pick(k)!.key);
      }
    });

    // ring_hash moves only keys to the new endpoint; maglev trades a little disruption between old endpoints for
    // its even spread (the Maglev paper's "minimal disruption"), so at most 5 % of the moves may be elsewhere.
    const strayShare = name === 'ring_hash' ? 0 : 0.05;

    it(`${name}: adding a 5th endpoint moves at most 30 % of 10 000 keys, (nearly) all of them to the new endpoint`, () => {
      const four = createPicker(name, eps(4));
      const five = createPicker(name, eps(5));
      let moved = 0;
      let stray = 0;
      for (const k of keys) {
        const before = four.pick(k)!.key;
        const after = five.pick(k)!.key;
        if (before !== after) {
          moved++;
          if (after !== '10.1.0.5:6379') stray++;
        }
      }
      assert.ok(moved <= 3000, `${moved} keys moved`);
      assert.ok(moved >= 1000, `${moved} keys moved: the new endpoint should take about a fifth`);
      assert.ok(stray <= moved * strayShare, `${stray} of ${moved} moves went between old endpoints`);
    });

    it(`${name}: removing an endpoint moves (nearly) only that endpoint's keys`, () => {
      const all = eps(5);
      const before = createPicker(name, all);
      const after = createPicker(name, all.filter((e) => e.key !== '10.1.0.3:6379'));
      let kept = 0;
      let stray = 0;
      for (const k of keys) {
        const b = before.pick(k)!.key;
        if (b === '10.1.0.3:6379') continue;
        kept++;
        if (after.pick(k)!.key !== b) stray++;
      }
      assert.ok(stray <= kept * strayShare, `${stray} of ${kept} keys of the remaining endpoints moved`);
    });

    it(`${name}: keys spread within sane bounds (each of 5 endpoints gets 10-30 %)`, () => {
      const p = createPicker(name, eps(5));
      const c = new Map<string, number>();
      for (const k of keys) {
        const e = p.pick(k)!.key;
        c.set(e, (c.get(e) ?? 0) + 1);
      }
      assert.equal(c.size, 5);
      for (const [k, n] of c) assert.ok(n >= 1000 && n <= 3000, `${k}: ${n}`);
    });

    it(`${name}: weights shift the share (weight 3 gets about three times a weight-1 endpoint)`, () => {
      const p = createPicker(name, [ep(1, 3), ep(2, 1), ep(3, 1)]);
      const c = new Map<string, number>();
      for (const k of keys) {
        const e = p.pick(k)!.key;
        c.set(e, (c.get(e) ?? 0) + 1);
      }
      const ratio = c.get('10.1.0.1:6379')! / ((c.get('10.1.0.2:6379')! + c.get('10.1.0.3:6379')!) / 2);
      assert.ok(ratio > 2.2 && ratio < 3.8, `ratio ${ratio}`);
    });

    it(`${name}: without a hash value it falls back to round robin`, () => {
      const p = createPicker(name, eps(3));
      assert.deepEqual(
        Array.from({ length: 3 }, () => p.pick()!.key),
        ['10.1.0.1:6379', '10.1.0.2:6379', '10.1.0.3:6379'],
      );
    });
  }

  it('maglev table size is a prime >= 100 x endpoints (65537 up to 655 endpoints)', () => {
    assert.equal(maglevTableSize(5), 65_537);
    const big = maglevTableSize(1000);
    assert.ok(big >= 100_000);
    for (let d = 2; d * d <= big; d++) assert.notEqual(big % d, 0);
    assert.equal(maglevPicker([]).pick('x'), undefined);
    assert.equal(ringHashPicker([]).pick('x'), undefined);
  });
});

describe('Cluster picker: skips unhealthy and ejected endpoints, panic mode', () => {
  function cluster(balancer: BalancerName, n = 3): Cluster {
    const c = new Cluster({
      id: 'unit',
      endpoints: Array.from({ length: n }, (_, i) => ({ address: { kind: 'tcp' as const, host: '127.0.0.1', port: 20_001 + i }, weight: 1 })),
      balancer,
      connectTimeout: 1000,
      socket: { noDelay: true, keepAlive: 0 },
    });
    c.start();
    return c;
  }
  /** Set an endpoint's health as the health checker does, and republish. */
  function setHealth(c: Cluster, i: number, health: 'healthy' | 'unhealthy' | 'unknown'): void {
    c.endpoints[i]!.health = health;
    c.republish();
  }

  it('round robin never hands out an unhealthy endpoint (Crossbar picked stopped ones)', () => {
    const c = cluster('round_robin');
    setHealth(c, 1, 'unhealthy');
    const ports = new Set<number>();
    for (let i = 0; i < 30; i++) {
      const a = c.pickAddress();
      if (a.kind === 'tcp') ports.add(a.port);
    }
    assert.deepEqual([...ports].sort(), [20_001, 20_003]);
    assert.equal(c.counters.panics, 0);
    c.stop();
  });

  for (const b of ['weighted', 'random', 'least_request', 'least_connections', 'ring_hash', 'maglev'] as const) {
    it(`${b} skips unhealthy and ejected endpoints`, () => {
      const c = cluster(b, 4);
      c.endpoints[0]!.health = 'unhealthy';
      c.endpoints[2]!.ejectedUntil = Date.now() + 60_000;
      c.republish();
      for (let i = 0; i < 200; i++) {
        const a = c.pickAddress(`k${i}`);
        assert.ok(a.kind === 'tcp' && (a.port === 20_002 || a.port === 20_004), JSON.stringify(a));
      }
      c.stop();
    });
  }

  it('all endpoints unhealthy or ejected: panic mode uses all of them and counts each pick', () => {
    const c = cluster('round_robin');
    c.endpoints[0]!.health = 'unhealthy';
    c.endpoints[1]!.health = 'unhealthy';
    c.endpoints[2]!.ejectedUntil = Date.now() + 60_000;
    c.republish();
    assert.equal(c.panic, true);
    const ports = new Set<number>();
    for (let i = 0; i < 9; i++) {
      const a = c.pickAddress();
      if (a.kind === 'tcp') ports.add(a.port);
    }
    assert.equal(ports.size, 3);
    assert.equal(c.counters.panics, 9);
    c.endpoints[1]!.health = 'healthy';
    c.republish();
    assert.equal(c.panic, false);
    assert.deepEqual(c.eligible.map((e) => e.key), ['127.0.0.1:20002']);
    assert.equal(c.toJSON()['panic'], false);
    c.stop();
  });

  it('unknown endpoints (no health check) are eligible', () => {
    const c = cluster('round_robin', 2);
    assert.deepEqual(c.eligible.map((e) => e.health), ['unknown', 'unknown']);
    setHealth(c, 0, 'unknown');
    c.stop();
  });
});
