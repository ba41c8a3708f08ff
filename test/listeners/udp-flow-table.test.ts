import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UdpFlowTable, defaultSweepInterval, flowKey, type FlowCloseReason, type TrackedFlow } from '../../src/listeners/udp-flow-table.js';
import { ErrorCodes, hasCode } from '../../src/core/errors.js';

interface F extends TrackedFlow {
  readonly key: string;
  lastActivity: number;
}

const flow = (key: string): F => ({ key, lastActivity: -1 });

/** A table on a hand-driven clock; closes are recorded in order. */
function table(opts: { idle?: number; max?: number } = {}) {
  let now = 0;
  const closed: Array<[string, FlowCloseReason]> = [];
  const t = new UdpFlowTable<F>({
    flowIdleTimeout: opts.idle ?? 100,
    maxFlows: opts.max ?? 10,
    now: () => now,
    onClose: (f, reason) => closed.push([f.key, reason]),
  });
  return {
    t,
    closed,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('UdpFlowTable', () => {
  it('keys flows by family, address and port', () => {
    assert.equal(flowKey({ address: '127.0.0.1', port: 5000, family: 'IPv4' }), 'IPv4|127.0.0.1|5000');
    assert.notEqual(
      flowKey({ address: '::ffff:127.0.0.1', port: 5000, family: 'IPv6' }),
      flowKey({ address: '127.0.0.1', port: 5000, family: 'IPv4' }),
    );
  });

  it('tracks flows and counts them', () => {
    const { t, advance } = table();
    const a = flow('a');
    t.add(a);
    assert.equal(a.lastActivity, 0);
    advance(5);
    t.add(flow('b'));
    assert.equal(t.get('a'), a);
    assert.equal(t.has(a), true);
    assert.equal(t.has(flow('a')), false, 'a different object with the same key is not tracked');
    assert.deepEqual(t.stats(), { flowsActive: 2, flowsTotal: 2, flowsExpired: 0, flowsEvicted: 0 });
    assert.throws(() => t.add(flow('a')), (err: unknown) => hasCode(err, ErrorCodes.CONFLICT));
  });

  it('evicts the least recently active flow when full; touch refreshes recency', () => {
    const { t, closed, advance } = table({ max: 3 });
    const [a, b, c] = [flow('a'), flow('b'), flow('c')];
    t.add(a);
    advance(1);
    t.add(b);
    advance(1);
    t.add(c);
    advance(1);
    t.touch(a); // order now b, c, a
    assert.equal(t.leastRecent(), b);
    t.add(flow('d'));
    assert.deepEqual(closed, [['b', 'evicted']]);
    assert.deepEqual([...t].map((f) => f.key), ['c', 'a', 'd']);
    t.add(flow('e'));
    assert.deepEqual(closed, [['b', 'evicted'], ['c', 'evicted']]);
    assert.deepEqual(t.stats(), { flowsActive: 3, flowsTotal: 5, flowsExpired: 0, flowsEvicted: 2 });
  });

  it('counts the evicted flow before onClose runs, with the flow already gone', () => {
    let seen: unknown;
    const t = new UdpFlowTable<F>({
      flowIdleTimeout: 0,
      maxFlows: 1,
      onClose: (f) => (seen = { size: t.size, tracked: t.get(f.key) !== undefined, evicted: t.flowsEvicted }),
    });
    t.add(flow('a'));
    t.add(flow('b'));
    assert.deepEqual(seen, { size: 0, tracked: false, evicted: 1 });
  });

  it('sweep expires exactly the flows idle for flowIdleTimeout, oldest first', () => {
    const { t, closed, advance } = table({ idle: 100 });
    t.add(flow('a'));
    advance(40);
    t.add(flow('b'));
    advance(40);
    const c = flow('c');
    t.add(c);
    advance(19); // a idle 99
    assert.equal(t.sweep(), 0);
    advance(1); // a idle 100, b 60, c 20
    assert.equal(t.sweep(), 1);
    t.touch(c);
    advance(40); // b idle 100, c 40
    assert.equal(t.sweep(), 1);
    assert.deepEqual(closed, [['a', 'idle'], ['b', 'idle']]);
    assert.deepEqual(t.stats(), { flowsActive: 1, flowsTotal: 3, flowsExpired: 2, flowsEvicted: 0 });
  });

  it('touching keeps a flow alive', () => {
    const { t, closed, advance } = table({ idle: 100 });
    const a = flow('a');
    t.add(a);
    for (let i = 0; i < 10; i++) {
      advance(60);
      t.touch(a);
      t.sweep();
    }
    assert.deepEqual(closed, []);
    advance(100);
    t.sweep();
    assert.deepEqual(closed, [['a', 'idle']]);
  });

  it('delete closes with reason "closed" (or the given one) and ignores unknown flows', () => {
    const { t, closed } = table();
    const a = flow('a');
    t.add(a);
    assert.equal(t.delete(flow('a')), false);
    assert.equal(t.delete(a), true);
    assert.equal(t.delete(a), false);
    t.touch(a); // ignored: not tracked
    assert.equal(t.size, 0);
    const b = flow('b');
    t.add(b);
    t.delete(b, 'evicted');
    assert.deepEqual(closed, [['a', 'closed'], ['b', 'evicted']]);
    assert.equal(t.flowsEvicted, 1);
  });

  it('clear closes every flow with "shutdown" and stops the sweep timer', () => {
    const t = new UdpFlowTable<F>({ flowIdleTimeout: 1000, maxFlows: 10, onClose: (f, r) => reasons.push(r) });
    const reasons: FlowCloseReason[] = [];
    assert.equal(t.sweeping, false);
    t.add(flow('a'));
    t.add(flow('b'));
    assert.equal(t.sweeping, true);
    t.clear();
    assert.deepEqual(reasons, ['shutdown', 'shutdown']);
    assert.equal(t.sweeping, false);
    assert.equal(t.size, 0);
  });

  it('runs one sweep timer only while it holds flows, and expires flows on its own', async () => {
    const closes: Array<[string, FlowCloseReason, boolean]> = [];
    let expiredA!: () => void;
    const aExpired = new Promise<void>((resolve) => (expiredA = resolve));
    const t: UdpFlowTable<F> = new UdpFlowTable<F>({
      flowIdleTimeout: 40,
      maxFlows: 10,
      onClose: (f, r) => {
        closes.push([f.key, r, t.sweeping]);
        if (f.key === 'a') expiredA();
      },
    });
    assert.equal(t.sweeping, false);
    t.add(flow('a'));
    t.add(flow('b'));
    assert.equal(t.sweeping, true);
    assert.equal(t.sweepInterval, 10);
    t.delete(t.get('b')!);
    await withTimeout(aExpired, 2000, 'flow a did not expire');
    // The timer stops as soon as the last flow leaves (before onClose runs).
    assert.deepEqual(closes, [
      ['b', 'closed', true],
      ['a', 'idle', false],
    ]);
    assert.equal(t.flowsExpired, 1);
  });

  it('never expires with flowIdleTimeout 0', () => {
    const { t, advance } = table({ idle: 0 });
    t.add(flow('a'));
    assert.equal(t.sweeping, false);
    advance(1e9);
    assert.equal(t.sweep(), 0);
    assert.equal(t.size, 1);
  });

  it('rejects unusable options with SWY_CONFIG_INVALID', () => {
    for (const bad of [
      { flowIdleTimeout: -1, maxFlows: 1 },
      { flowIdleTimeout: Number.NaN, maxFlows: 1 },
      { flowIdleTimeout: 10, maxFlows: 0 },
      { flowIdleTimeout: 10, maxFlows: 1.5 },
      { flowIdleTimeout: 10, maxFlows: 1, sweepInterval: 0 },
    ]) {
      assert.throws(() => new UdpFlowTable<F>(bad), (err: unknown) => hasCode(err, ErrorCodes.CONFIG_INVALID), JSON.stringify(bad));
    }
  });

  it('default sweep interval is a quarter of the idle timeout, within [5 ms, 1 s]', () => {
    assert.equal(defaultSweepInterval(30_000), 1000);
    assert.equal(defaultSweepInterval(100), 25);
    assert.equal(defaultSweepInterval(8), 5);
  });

  it('behaves like a reference LRU with expiry (property)', () => {
    type Op = { op: 'add' | 'touch' | 'delete'; key: number } | { op: 'advance'; ms: number } | { op: 'sweep' };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constantFrom('add' as const, 'touch' as const, 'delete' as const), key: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 60 }) }),
      fc.record({ op: fc.constant('sweep' as const) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 150 }), fc.array(opArb, { maxLength: 80 }), (max, idle, ops) => {
        const { t, closed, advance } = table({ idle, max });
        let now = 0;
        // Model: array ordered least → most recent, with last-activity times.
        let model: Array<{ key: string; at: number }> = [];
        const expect: Array<[string, FlowCloseReason]> = [];
        let evicted = 0;
        let expired = 0;
        let total = 0;
        for (const o of ops) {
          if (o.op === 'advance') {
            advance(o.ms);
            now += o.ms;
          } else if (o.op === 'sweep') {
            t.sweep();
            const [old, fresh] = [model.filter((m) => now - m.at >= idle), model.filter((m) => now - m.at < idle)];
            for (const m of old) expect.push([m.key, 'idle']);
            expired += old.length;
            model = fresh;
          } else {
            const key = `k${o.key}`;
            const tracked = t.get(key);
            const inModel = model.findIndex((m) => m.key === key);
            assert.equal(tracked !== undefined, inModel >= 0);
            if (o.op === 'add' && inModel < 0) {
              t.add(flow(key));
              total++;
              while (model.length >= max) {
                expect.push([model.shift()!.key, 'evicted']);
                evicted++;
              }
              model.push({ key, at: now });
            } else if (o.op === 'touch' && tracked !== undefined) {
              t.touch(tracked);
              model.splice(inModel, 1);
              model.push({ key, at: now });
            } else if (o.op === 'delete' && tracked !== undefined) {
              t.delete(tracked);
              model.splice(inModel, 1);
              expect.push([key, 'closed']);
            }
          }
          assert.deepEqual([...t].map((f) => f.key), model.map((m) => m.key));
        }
        assert.deepEqual(closed, expect);
        assert.deepEqual(t.stats(), { flowsActive: model.length, flowsTotal: total, flowsExpired: expired, flowsEvicted: evicted });
        t.clear();
      }),
      { numRuns: 300 },
    );
  });
});

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms);
    }),
  ]);
}
