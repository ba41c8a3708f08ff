// What a connection's fault stage makes up front (issue 11: connection rate with no-op faults): nothing a passive
// fault never uses (abort controllers, fault io, random state), one set subscription for all sessions, and the
// same behaviour as before for the faults that do use them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FaultSet } from '../../src/faults/fault-set.js';
import { createFaultRegistry } from '../../src/faults/builtins.js';
import { FaultHandlerFactory } from '../../src/faults/stage/fault-stage.js';
import { Stage } from '../../src/faults/stage/stage.js';
import { Random, RandomSource } from '../../src/faults/random.js';
import { CONTINUE, type SessionContext, type SessionIO, type Verdict } from '../../src/pipeline/handler.js';
import { HandlerChain } from '../../src/pipeline/chain.js';
import type { FaultIO, FaultPlugin } from '../../src/faults/plugin.js';
import { Fault } from '../../src/faults/fault-set.js';

const quiet = { isLevelEnabled: () => false, debug() {}, info() {}, warn() {}, error() {} } as unknown as SessionContext['logger'];

function fakeContext(written: Buffer[]): SessionContext {
  const io: SessionIO = {
    write: (_dir, frames) => {
      written.push(...frames);
      return true;
    },
    drained: () => Promise.resolve(),
    end() {},
    answered() {},
    reset() {},
    close() {},
    closed: false,
  };
  return { sessionId: 1, listenerId: 'l1', remoteAddress: undefined, remotePort: undefined, logger: quiet, signal: new AbortController().signal, io, codec: undefined };
}

/** Counts `new AbortController()` while `fn` runs. */
async function countControllers(fn: () => Promise<void> | void): Promise<number> {
  const Original = globalThis.AbortController;
  let made = 0;
  globalThis.AbortController = class extends Original {
    constructor() {
      super();
      made++;
    }
  };
  try {
    await fn();
  } finally {
    globalThis.AbortController = Original;
  }
  return made;
}

test('three noop faults: a connection through the stage makes no AbortController, and frames pass unchanged', async () => {
  const set = new FaultSet(createFaultRegistry());
  for (const name of ['n0', 'n1', 'n2']) set.add({ type: 'noop', name });
  set.add({ type: 'noop', name: 'u0', stream: 'upstream' });
  const factory = new FaultHandlerFactory({ set, random: new RandomSource(7) });
  const written: Buffer[] = [];
  const ctx = fakeContext(written);
  const made = await countControllers(async () => {
    for (let i = 0; i < 20; i++) {
      const h = factory.create(ctx);
      const chain = new HandlerChain([h], ctx);
      assert.equal(chain.run(Buffer.from('req'), 'toUpstream'), undefined, 'passed on unchanged: no result object');
      assert.equal(chain.run(Buffer.from('res'), 'toDownstream'), undefined);
      assert.equal(await chain.end('toUpstream'), undefined);
      assert.equal(await chain.end('toDownstream'), undefined);
      chain.close();
    }
  });
  assert.equal(made, 0);
  assert.equal(written.length, 0, 'the session forwards passed frames itself');
});

test('a latency fault still gets its signal: sleeps are cut short when the fault is removed', async () => {
  const set = new FaultSet(createFaultRegistry());
  set.add({ type: 'latency', name: 'slow', stream: 'upstream', attributes: { latency: 60_000 } });
  const factory = new FaultHandlerFactory({ set, random: new RandomSource(7) });
  const written: Buffer[] = [];
  const ctx = fakeContext(written);
  const h = factory.create(ctx);
  const verdict = h.onFrame(Buffer.from('held'), 'toUpstream', ctx, undefined) as Verdict;
  assert.equal(verdict.action, 'drop', 'the stage writes the frame itself, later');
  assert.equal(written.length, 0);
  set.remove('slow'); // one subscription per set reaches this live handler: its sleep is aborted, the frame moves on
  for (let i = 0; i < 100 && written.length === 0; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(written.map((b) => b.toString()), ['held']);
  h.onClose?.(ctx);
});

test('FaultSet.chain keeps its lists until the set changes', () => {
  const set = new FaultSet(createFaultRegistry());
  set.add({ type: 'noop', name: 'a' });
  const first = set.chain('downstream');
  assert.equal(set.chain('downstream'), first, 'the same list for every new connection');
  assert.deepEqual(set.chain('upstream'), []);
  set.add({ type: 'noop', name: 'b' });
  const second = set.chain('downstream');
  assert.notEqual(second, first);
  assert.deepEqual(second.map((f) => f.name), ['a', 'b']);
  assert.deepEqual(first.map((f) => f.name), ['a'], 'a list handed out earlier is not changed');
  set.update('a', { toxicity: 0.5 });
  assert.notEqual(set.chain('downstream'), second);
  set.remove('a');
  assert.deepEqual(set.chain('downstream').map((f) => f.name), ['b']);
});

test('a stage makes its controller and io on first use; a signal asked for after the abort is already aborted', () => {
  const plugin: FaultPlugin = { type: 't', description: '', options: {}, defaultScope: 'connection', defaultStream: 'upstream', create: () => ({}) };
  const fault = new Fault({ name: 't', plugin, stream: 'upstream', streamAsGiven: 'upstream', toxicity: 1, scope: 'connection', options: {}, match: undefined, group: undefined, origin: undefined });
  let ios = 0;
  const stage = new Stage(fault, {}, true, () => {
    ios++;
    return {} as FaultIO;
  });
  assert.equal(ios, 0);
  assert.equal(stage.io, stage.io);
  assert.equal(ios, 1);
  stage.abort();
  assert.equal(stage.aborted, true);
  assert.equal(stage.signal.aborted, true);
  const live = new Stage(fault, {}, true, () => ({}) as FaultIO);
  const signal = live.signal;
  assert.equal(signal.aborted, false);
  live.abort();
  assert.equal(signal.aborted, true);
});

test('a random stream derived on first draw gives the same draws as before (seeded runs repeat)', () => {
  // Draws of the stream seeded with 'seed:1|k', computed with the constructor that derived its state at once.
  const a = new Random('seed:1|k');
  const b = new RandomSource(1).stream('k');
  const drawsA = [a.next(), a.next(), a.int(1000)];
  const drawsB = [b.next(), b.next(), b.int(1000)];
  assert.deepEqual(drawsB, drawsA);
  assert.deepEqual(drawsA.map((x) => Math.round(x * 1e6)), EXPECTED);
});

const EXPECTED = [248087, 941150, 380000000];

test('HandlerChain.run: undefined when every handler passes the frame on; a result from the first that acts', () => {
  const ctx = fakeContext([]);
  const seen: string[] = [];
  const pass = { onFrame: (f: Buffer) => (seen.push(`pass ${f.toString()}`), CONTINUE) };
  const split = { onFrame: (f: Buffer): Verdict => ({ action: 'continue', frames: [f.subarray(0, 1), f.subarray(1)] }) };
  const chain = new HandlerChain([pass, pass], ctx);
  assert.equal(chain.run(Buffer.from('ab'), 'toUpstream'), undefined);
  const acting = new HandlerChain([pass, split, pass], ctx);
  const r = acting.run(Buffer.from('xy'), 'toUpstream');
  assert.ok(r !== undefined && !(r instanceof Promise));
  assert.deepEqual(r.forward.map((b) => b.toString()), ['x', 'y']);
  assert.deepEqual(seen, ['pass ab', 'pass ab', 'pass xy', 'pass x', 'pass y']);
  const dropping = new HandlerChain([pass, { onFrame: (): Verdict => ({ action: 'drop' }) }], ctx);
  const d = dropping.run(Buffer.from('z'), 'toDownstream');
  assert.ok(d !== undefined && !(d instanceof Promise));
  assert.deepEqual(d.forward, []);
});
