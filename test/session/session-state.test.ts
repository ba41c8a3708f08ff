import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import pino from 'pino';
import { startServer, connect, readAll } from '../helpers/net.js';
import { Session } from '../../src/session/session.js';
import { TrafficStats } from '../../src/core/stats.js';
import { CONTINUE, type HandlerFactory } from '../../src/pipeline/handler.js';
import { PASSTHROUGH_FACTORY } from '../../src/framing/passthrough.js';
import { SessionState, afterFin, sessionCanMove, sessionStateName } from '../../src/session/state.js';
import { DirectionPhase, heldPhase, phaseCanMove, phaseName, releasedPhase } from '../../src/session/direction-phase.js';

/** A debug-level logger that keeps its records. */
function recordingLogger(): { logger: pino.Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) records.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), records };
}

async function proxy(upstreamPort: number, handlers?: HandlerFactory[]): Promise<{ port: number; sessions: Session[]; records: Record<string, unknown>[]; close(): void }> {
  const { logger, records } = recordingLogger();
  const sessions: Session[] = [];
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    const session = new Session({
      id: sessions.length + 1,
      listenerId: 'state',
      client,
      idleTimeout: 0,
      stats: [new TrafficStats()],
      logger,
      framing: handlers ? { toUpstream: PASSTHROUGH_FACTORY, toDownstream: PASSTHROUGH_FACTORY } : undefined,
      handlers,
      connect: () => connect(upstreamPort),
    });
    sessions.push(session);
    void session.start();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, sessions, records, close: () => server.close() };
}

/** A handler that passes every frame: it makes the session take the framed path. */
const PASS: HandlerFactory = { name: 'pass', create: () => ({ onFrame: () => CONTINUE }) };

const transitions = (records: Record<string, unknown>[], msg: string): string[] => records.filter((r) => r.msg === msg).map((r) => `${String(r.from)}→${String(r.to)}`);
const refusals = (records: Record<string, unknown>[]): Record<string, unknown>[] => records.filter((r) => r.code === 'SWY_INTERNAL');

for (const framed of [false, true]) {
  const label = framed ? 'framed' : 'raw';
  test(`${label} session: FIN each way walks connecting → open → client-ended → draining → closed`, async (t) => {
    const upstream = await startServer((s) => {
      void readAll(s).then((b) => s.end(b));
    }, { allowHalfOpen: true });
    t.after(() => upstream.close());
    const p = await proxy(upstream.port, framed ? [PASS] : undefined);
    t.after(() => p.close());
    const c = await connect(p.port);
    c.end('hello');
    assert.equal((await readAll(c)).toString(), 'hello');
    await p.sessions[0]!.closed;
    assert.deepEqual(transitions(p.records, 'session state'), ['connecting→open', 'open→client-ended', 'client-ended→draining', 'draining→closed']);
    assert.deepEqual(refusals(p.records), []);
    if (framed) assert.deepEqual(transitions(p.records, 'direction phase'), ['flowing→finishing', 'finishing→ending', 'ending→ended', 'flowing→finishing', 'finishing→ending', 'ending→ended']);
  });

  test(`${label} session: a client that destroys its socket after the answer ends closing → closed, no refusal`, async (t) => {
    const upstream = await startServer((s) => s.pipe(s));
    t.after(() => upstream.close());
    const p = await proxy(upstream.port, framed ? [PASS] : undefined);
    t.after(() => p.close());
    const c = await connect(p.port);
    c.write('ping');
    await once(c, 'data');
    c.destroy();
    await p.sessions[0]!.closed;
    const seen = transitions(p.records, 'session state');
    assert.equal(seen[0], 'connecting→open');
    assert.equal(seen.at(-1)?.endsWith('→closed'), true);
    assert.deepEqual(refusals(p.records), []);
  });
}

test('the session state diagram: FINs lead to half-closed then draining; nothing leaves closed', () => {
  const S = SessionState;
  assert.equal(afterFin(S.Open, true), S.ClientEnded);
  assert.equal(afterFin(S.Open, false), S.UpstreamEnded);
  assert.equal(afterFin(S.ClientEnded, false), S.Draining);
  assert.equal(afterFin(S.UpstreamEnded, true), S.Draining);
  assert.equal(afterFin(S.ClientEnded, true), undefined);
  assert.equal(afterFin(S.Closing, true), undefined);
  for (const s of Object.values(S)) {
    assert.equal(sessionCanMove(S.Closed, s), false);
    if (s !== S.Closed) assert.equal(sessionCanMove(s, S.Closed), true, `${sessionStateName(s)} → closed`);
  }
  assert.equal(sessionCanMove(S.Closing, S.Open), false);
  assert.equal(sessionCanMove(S.Connecting, S.ClientEnded), false);
});

test('the direction phase diagram: a hold returns to where it came from; ended is final', () => {
  const P = DirectionPhase;
  assert.equal(heldPhase(P.Flowing), P.Held);
  assert.equal(heldPhase(P.Finishing), P.HeldFinishing);
  assert.equal(releasedPhase(P.Held), P.Flowing);
  assert.equal(releasedPhase(P.HeldFinishing), P.Finishing);
  assert.equal(phaseCanMove(P.Held, P.HeldFinishing), true);
  assert.equal(phaseCanMove(P.HeldFinishing, P.Flowing), false);
  for (const p of Object.values(P)) assert.equal(phaseCanMove(P.Ended, p), false, `ended → ${phaseName(p)}`);
});
