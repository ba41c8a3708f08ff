/**
 * Property (issue 10 §4): pipelined keep-alive HTTP and Redis traffic, each answer echoing its request's id, through
 * random sequences of live fault changes — add, update (PATCH), remove of every fault type of the registry, on both
 * streams, at random moments between and during requests — keeps each fault type's contract (docs/faults.md):
 *
 * - answer-keeping faults (latency, bandwidth, slicer, delay, slow_close, noop, dummy; error/transient upstream
 *   without `close`): every request gets exactly one answer, its own echo or an injected error, in order, within
 *   the faults' declared delays (an upper bound from their latency/jitter/sleep/delay/rate over the run's traffic,
 *   plus the run's pauses and 5 s of slack for a busy machine), and the connection stays open;
 * - connection-ending faults (reset_peer, timeout, limit_data, down, blackout, abort; error/transient with `close`):
 *   every answer the client got is exactly one per request, in order, and any request left unanswered is explained
 *   by the client seeing the connection close;
 * - damaging faults (hang, drop, corrupt, duplicate; error/transient downstream, which replace the response with
 *   random bytes) break pairing by design: the property is then only that nothing crashes, the session's state is
 *   released when the client goes, and a fresh connection is served exactly.
 * After every run, the fault stage's pending state (queued frames, owed responses, waiting replies, busy links)
 * returns to zero while the connection is open (answer-keeping runs), and the session is gone once the client
 * closes.
 *
 * Bounded and seeded for `npm test`; FC_RUNS / FC_SEED override (`npm run fuzz` runs it longer).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { startYard } from '../helpers/yard.js';
import { eventually } from '../helpers/net.js';
import { faultStagePending } from '../../src/faults/stage/fault-stage.js';
import { createFaultRegistry } from '../../src/faults/builtins.js';
import type { FaultSet } from '../../src/faults/fault-set.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { startHttpEcho, startRedisEcho } from './echo-upstreams.js';

type Protocol = 'http' | 'redis';
type Stream = 'upstream' | 'downstream';
type Contract = 'keep' | 'close' | 'damage';
type Scope = 'request' | 'connection';

const RUNS = Number(process.env.FC_RUNS ?? 50);
const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 20261206;
/** A run that needs longer than this for its answers or its close fails (faults' delays here are a few ms). */
const DEADLINE_MS = 10_000;
/**
 * Slack on top of the faults' declared delays (see {@link declaredDelayMs}) for a busy machine: an answer-keeping run
 * whose answers take longer than declared + this fails. An upper-bound safety check, never a "took < X ms" one.
 */
const SLACK_MS = 5_000;

// ---- faults with small parameters -------------------------------------------------------------------------

/** Small attributes for each type of the registry (a type missing here fails the test: keep the list complete). */
const ATTRIBUTES: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  latency: fc.record({ latency: fc.integer({ min: 0, max: 5 }), jitter: fc.integer({ min: 0, max: 3 }) }),
  bandwidth: fc.record({ rate: fc.integer({ min: 0, max: 50 }) }),
  slow_close: fc.record({ delay: fc.integer({ min: 0, max: 5 }) }),
  timeout: fc.record({ timeout: fc.integer({ min: 0, max: 20 }) }),
  reset_peer: fc.record({ timeout: fc.integer({ min: 0, max: 5 }) }),
  slicer: fc.record({ average_size: fc.integer({ min: 1, max: 8 }), size_variation: fc.integer({ min: 0, max: 3 }), delay: fc.integer({ min: 0, max: 500 }) }),
  limit_data: fc.record({ bytes: fc.integer({ min: 0, max: 200 }) }),
  down: fc.constant({}),
  noop: fc.constant({}),
  dummy: fc.constant({}),
  delay: fc.record({ sleep: fc.constantFrom(0, 0.001, 0.003), before: fc.boolean() }),
  error: fc.record({ status: fc.constantFrom('503', '500'), close: fc.boolean(), warmup: fc.integer({ min: 0, max: 1 }) }),
  transient: fc.record({ agitate: fc.integer({ min: 0, max: 2 }), close: fc.boolean() }),
  hang: fc.constant({}),
  blackout: fc.constant({}),
  abort: fc.constant({}),
  drop: fc.constant({}),
  corrupt: fc.record({ bits: fc.integer({ min: 1, max: 3 }) }),
  duplicate: fc.constant({}),
};
const TYPES = Object.keys(ATTRIBUTES);

/** The contract a fault keeps (docs/faults.md): see the file comment. */
function contract(type: string, stream: Stream, attributes: Record<string, unknown>, scope: Scope | undefined): Contract {
  switch (type) {
    case 'timeout':
      // per request (not its default scope) it drops some requests and lets later ones through: a `drop`
      return scope === 'request' ? 'damage' : 'close';
    case 'latency': case 'bandwidth': case 'slicer': case 'delay': case 'slow_close': case 'noop': case 'dummy':
      return 'keep';
    case 'error': case 'transient':
      if (stream === 'downstream') return 'damage';
      return attributes.close === true ? 'close' : 'keep';
    case 'reset_peer': case 'limit_data': case 'down': case 'blackout': case 'abort':
      return 'close';
    default:
      return 'damage';
  }
}

/** Upper bounds of one run's traffic, for {@link declaredDelayMs}. */
interface Traffic {
  /** Requests sent. */
  requests: number;
  /** Frames both ways (a request is at most a head and a body frame, an answer at most two). */
  frames: number;
  /** Bytes both ways. */
  bytes: number;
}

/**
 * The most time the faults' declared parameters allow the run's traffic to be held (docs/faults.md), in ms: latency
 * `latency + jitter` per frame, delay `sleep` per request, slicer `delay` µs between pieces (at most one piece per
 * byte), bandwidth `rate` KB/s over every byte, slow_close `delay` once; every other answer-keeping fault adds
 * nothing. Counted for every fault and every set of attributes a run used, as if all applied to all traffic.
 */
function declaredDelayMs(type: string, attributes: Record<string, unknown>, t: Traffic): number {
  const n = (k: string): number => Number(attributes[k] ?? 0);
  switch (type) {
    case 'latency': return (n('latency') + n('jitter')) * t.frames;
    case 'delay': return n('sleep') * 1000 * t.requests;
    case 'slicer': return (n('delay') / 1000) * t.bytes;
    case 'bandwidth': return n('rate') > 0 ? t.bytes / n('rate') : 0;
    case 'slow_close': return n('delay');
    default: return 0;
  }
}

type Action =
  | { kind: 'send'; n: number; body: number }
  | { kind: 'tick' }
  | { kind: 'pause'; ms: number }
  | { kind: 'settle' }
  | { kind: 'add'; slot: number; type: string; stream: Stream; toxicity: number; scope: Scope | undefined; attributes: Record<string, unknown> }
  | { kind: 'update'; slot: number; toxicity: number; scope: Scope | undefined; seed: number }
  | { kind: 'remove'; slot: number };

const stream = fc.constantFrom<Stream>('upstream', 'downstream');
const toxicity = fc.constantFrom(1, 1, 0.5, 0);
/** undefined: the type's default scope. */
const scope = fc.constantFrom<Scope | undefined>(undefined, undefined, 'request', 'connection');
const slot = fc.integer({ min: 0, max: 2 });
const addAction = (types: readonly string[]): fc.Arbitrary<Action> =>
  fc.constantFrom(...types).chain((type) =>
    fc.record({ kind: fc.constant('add' as const), slot, type: fc.constant(type), stream, toxicity, scope, attributes: ATTRIBUTES[type]! }),
  );
const actions = (types: readonly string[]): fc.Arbitrary<Action[]> =>
  fc.array(
    fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('send' as const), n: fc.integer({ min: 1, max: 3 }), body: fc.constantFrom(0, 0, 1, 20) }) },
      { weight: 1, arbitrary: fc.constant<Action>({ kind: 'tick' }) },
      // a change lands while a fault still holds frames (a few ms in), or on an idle connection (all answered)
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('pause' as const), ms: fc.integer({ min: 1, max: 4 }) }) },
      { weight: 1, arbitrary: fc.constant<Action>({ kind: 'settle' }) },
      { weight: 3, arbitrary: addAction(types) },
      // new attributes are drawn (from `seed`) when applied: a slot holds whatever type was added there
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('update' as const), slot, toxicity, scope, seed: fc.integer({ min: 1, max: 1_000_000 }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), slot }) },
    ),
    { minLength: 1, maxLength: 14 },
  );

// ---- a pipelining client that parses answers in order --------------------------------------------------------

type Answer = { kind: 'echo'; id: string } | { kind: 'injected'; text: string };

class Client {
  readonly answers: Answer[] = [];
  readonly sent: string[] = [];
  closed = false;
  /** The bytes could not be parsed as answers (only damaging faults may cause it). */
  garbled = false;
  readonly #socket: net.Socket;
  readonly #protocol: Protocol;
  #buf = Buffer.alloc(0);
  #wake: (() => void) | undefined;

  constructor(socket: net.Socket, protocol: Protocol) {
    this.#socket = socket;
    this.#protocol = protocol;
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#parse();
      this.#wake?.();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.#wake?.();
    });
  }

  static async open(port: number, protocol: Protocol): Promise<Client> {
    // `down` may just have been removed: the listener is listening again shortly
    for (let attempt = 0; ; attempt++) {
      const socket = net.connect(port, '127.0.0.1');
      const ok = await new Promise<boolean>((resolve) => {
        socket.once('connect', () => resolve(true));
        socket.once('error', () => resolve(false));
      });
      if (ok) return new Client(socket, protocol);
      if (attempt >= 200) throw new Error(`cannot connect to the proxy on ${port}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** HTTP requests with `body` > 0 are POSTs with that many body bytes (a head frame and a body frame). */
  send(ids: readonly string[], body = 0): void {
    const wire = ids.map((id) =>
      this.#protocol === 'redis'
        ? `*2\r\n$4\r\nECHO\r\n$${id.length}\r\n${id}\r\n`
        : body > 0
          ? `POST /${id} HTTP/1.1\r\nHost: t\r\nContent-Length: ${body}\r\n\r\n${'b'.repeat(body)}`
          : `GET /${id} HTTP/1.1\r\nHost: t\r\n\r\n`,
    );
    this.sent.push(...ids);
    if (!this.#socket.destroyed) this.#socket.write(wire.join(''));
  }

  /** Resolves once `done()` holds (checked on every answer and on close); rejects after the deadline (epoch ms). */
  async until(done: () => boolean, what: string, deadline = Date.now() + DEADLINE_MS): Promise<void> {
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}: sent ${JSON.stringify(this.sent)}, answers ${JSON.stringify(this.answers)}, closed ${this.closed}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** Half-close: FIN toward the proxy. */
  endWrite(): void {
    if (!this.#socket.destroyed) this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #parse(): void {
    while (!this.garbled) {
      const r = this.#protocol === 'http' ? parseHttp(this.#buf) : parseResp(this.#buf);
      if (r === undefined) return;
      if (r === 'garbled') {
        this.garbled = true;
        return;
      }
      this.answers.push(r.answer);
      this.#buf = this.#buf.subarray(r.used);
    }
  }
}

function parseHttp(buf: Buffer): { answer: Answer; used: number } | undefined | 'garbled' {
  if (buf.length === 0) return undefined;
  if (!buf.subarray(0, 5).toString('latin1').startsWith('HTTP/'.slice(0, Math.min(5, buf.length)))) return 'garbled';
  const at = buf.indexOf('\r\n\r\n');
  if (at < 0) return buf.length > 8192 ? 'garbled' : undefined;
  const head = buf.toString('latin1', 0, at);
  const status = /^HTTP\/1\.[01] (\d{3}) /.exec(head);
  const len = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (!status || !len) return 'garbled';
  const end = at + 4 + Number(len[1]);
  if (buf.length < end) return undefined;
  const body = buf.toString('latin1', at + 4, end);
  return { answer: status[1] === '200' ? { kind: 'echo', id: body } : { kind: 'injected', text: `${status[1]} ${body.trim()}` }, used: end };
}

function parseResp(buf: Buffer): { answer: Answer; used: number } | undefined | 'garbled' {
  if (buf.length === 0) return undefined;
  const at = buf.indexOf('\r\n');
  if (at < 0) return buf.length > 8192 ? 'garbled' : undefined;
  const line = buf.toString('latin1', 0, at);
  if (line.startsWith('-')) return { answer: { kind: 'injected', text: line }, used: at + 2 };
  if (!/^\$\d+$/.test(line)) return 'garbled';
  const end = at + 2 + Number(line.slice(1));
  if (buf.length < end + 2) return undefined;
  if (buf.toString('latin1', end, end + 2) !== '\r\n') return 'garbled';
  return { answer: { kind: 'echo', id: buf.toString('latin1', at + 2, end) }, used: end + 2 };
}

/** Answer i is request i's own echo or an injected error; never more answers than requests. */
function assertInOrder(c: Client): void {
  assert.ok(!c.garbled, `answers could not be parsed (sent ${JSON.stringify(c.sent)}, answers ${JSON.stringify(c.answers)})`);
  assert.ok(c.answers.length <= c.sent.length, `more answers than requests: ${JSON.stringify(c.answers)} for ${JSON.stringify(c.sent)}`);
  c.answers.forEach((a, i) => {
    if (a.kind === 'echo') assert.equal(a.id, c.sent[i], `answer ${i} is ${JSON.stringify(a)} (sent ${JSON.stringify(c.sent)}, answers ${JSON.stringify(c.answers)})`);
  });
}

// ---- one run -------------------------------------------------------------------------------------------------

interface Stack {
  yard: Switchyard;
  ports: Record<Protocol, number>;
  sets: Record<Protocol, FaultSet>;
}

let runNo = 0;

/** How many runs ended under each contract (FC_STATS=1 prints it). */
const tally: Record<Contract, number> = { keep: 0, close: 0, damage: 0 };

async function run(stack: Stack, protocol: Protocol, steps: readonly Action[], clearFirst: boolean, finFirst: boolean): Promise<void> {
  const set = stack.sets[protocol];
  const port = stack.ports[protocol];
  const run = ++runNo;
  set.clear();
  const client = await Client.open(port, protocol);
  const slots: ({ name: string; type: string; stream: Stream; scope: Scope | undefined } | undefined)[] = [];
  /** Every fault type and attributes the run used: the answers' declared upper bound comes from them. */
  const used: { type: string; attributes: Record<string, unknown> }[] = [];
  let paused = 0;
  let bytes = 0;
  const started = Date.now();
  let worst: Contract = 'keep';
  const note = (c: Contract): void => {
    if (c === 'damage' || (c === 'close' && worst === 'keep')) worst = c;
  };
  let n = 0;
  try {
    for (const step of steps) {
      switch (step.kind) {
        case 'send': {
          const ids = Array.from({ length: step.n }, () => `r${run}-${n++}`);
          client.send(ids, step.body);
          // request (≤ 60 bytes of head) + body + answer (≤ 60 bytes of head) + the id echoed
          bytes += ids.reduce((sum, id) => sum + 120 + step.body + 2 * id.length, 0);
          break;
        }
        case 'tick':
          await new Promise((r) => setImmediate(r));
          break;
        case 'pause':
          await new Promise((r) => setTimeout(r, step.ms));
          paused += step.ms;
          break;
        case 'settle':
          // only where every request is owed an answer (no fault so far may end or damage the connection)
          if (worst === 'keep') await client.until(() => client.answers.length === client.sent.length || client.closed || client.garbled, 'every answer so far');
          break;
        case 'add': {
          if (slots[step.slot] !== undefined) break;
          const name = `f${step.slot}`;
          set.add({ name, type: step.type, stream: step.stream, toxicity: step.toxicity, ...(step.scope ? { scope: step.scope } : {}), attributes: step.attributes });
          slots[step.slot] = { name, type: step.type, stream: step.stream, scope: step.scope };
          used.push({ type: step.type, attributes: step.attributes });
          note(contract(step.type, step.stream, step.attributes, step.scope));
          break;
        }
        case 'update': {
          const s = slots[step.slot];
          if (s === undefined) break;
          const attributes = fc.sample(ATTRIBUTES[s.type]!, { numRuns: 1, seed: step.seed })[0]!;
          set.update(s.name, { toxicity: step.toxicity, scope: step.scope, attributes });
          s.scope = step.scope ?? s.scope;
          used.push({ type: s.type, attributes });
          note(contract(s.type, s.stream, attributes, s.scope));
          break;
        }
        case 'remove': {
          const s = slots[step.slot];
          if (s === undefined) break;
          set.remove(s.name);
          slots[step.slot] = undefined;
          break;
        }
      }
    }
    tally[worst]++;
    // the end of the run: faults go (a removed `timeout` closes, `down` listens again), answers come; answer-keeping
    // faults may also stay while the answers come
    if (clearFirst || worst !== 'keep') set.clear();
    if (worst === 'keep') {
      // within the faults' declared delays: every answer by then (plus the run's own pauses, plus a large slack)
      const traffic: Traffic = { requests: client.sent.length, frames: 4 * client.sent.length, bytes };
      const declared = used.reduce((sum, f) => sum + declaredDelayMs(f.type, f.attributes, traffic), 0);
      const bound = declared + paused + SLACK_MS;
      await client.until(
        () => client.answers.length === client.sent.length || client.closed || client.garbled,
        `every answer within the faults' declared delays (${Math.round(declared)} ms) + ${paused} ms paused + ${SLACK_MS} ms slack`,
        started + bound,
      );
      assertInOrder(client);
      assert.equal(client.answers.length, client.sent.length, `unanswered requests: sent ${JSON.stringify(client.sent)}, answers ${JSON.stringify(client.answers)}`);
      assert.ok(!client.closed, 'the connection closed although no fault ends connections');
      // nothing waits inside the fault stage any more
      await eventually(() => {
        const p = faultStagePending(set);
        return p.sessions === 1 && p.busyLinks === 0 && p.queuedFrames === 0 && p.queuedBytes === 0 && p.heldSenders === 0 && p.awaitingResponses === 0 && p.owedResponses === 0 && p.waitingReplies === 0;
      }, `pending state back to zero: ${JSON.stringify(faultStagePending(set))}`);
    } else if (worst === 'close') {
      await client.until(() => client.answers.length === client.sent.length || client.closed || client.garbled, 'every answer or the close');
      assertInOrder(client);
    }
    // The client half-closes: its FIN passes every fault (slow_close delays it, hang holds it until removed), the
    // server ends too, and so does the connection — whatever happened before.
    if (finFirst) client.endWrite();
    set.clear();
    if (!finFirst) client.endWrite();
    await client.until(() => client.closed, "the connection's end after the client's FIN");
  } finally {
    client.destroy();
  }
  await eventually(() => faultStagePending(set).sessions === 0, `the session released: ${JSON.stringify(faultStagePending(set))}`);
  // other connections are unaffected: a fresh one is served exactly
  const fresh = await Client.open(port, protocol);
  try {
    const ids = [`r${run}-fresh-a`, `r${run}-fresh-b`];
    fresh.send(ids);
    await fresh.until(() => fresh.answers.length === 2 || fresh.closed, 'a fresh connection');
    assert.deepEqual(fresh.answers, ids.map((id) => ({ kind: 'echo', id })));
  } finally {
    fresh.destroy();
  }
  await eventually(() => faultStagePending(set).sessions === 0, 'the fresh session released');
}

test('live fault changes never lose or mis-pair a request (fast-check, HTTP and Redis)', async () => {
  const registry = createFaultRegistry();
  assert.deepEqual([...registry.types()].sort(), [...TYPES].sort(), 'every fault type of the registry has small attributes here');
  const http = await startHttpEcho();
  const redis = await startRedisEcho();
  const yard = await startYard({
    seed: 7,
    listeners: [
      { id: 'h', listen: '127.0.0.1:0', protocol: 'http', faults: [] },
      { id: 'r', listen: '127.0.0.1:0', protocol: 'redis', faults: [] },
    ],
    clusters: [
      { id: 'hc', endpoints: [`127.0.0.1:${http.port}`] },
      { id: 'rc', endpoints: [`127.0.0.1:${redis.port}`] },
    ],
    routes: [
      { id: 'hr', listener: 'h', cluster: 'hc' },
      { id: 'rr', listener: 'r', cluster: 'rc' },
    ],
  });
  const port = (id: string): number => {
    const a = yard.listeners.get(id)!.address!;
    return a.kind === 'tcp' ? a.port : 0;
  };
  const stack: Stack = { yard, ports: { http: port('h'), redis: port('r') }, sets: { http: yard.faultSet('h'), redis: yard.faultSet('r') } };
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Protocol>('http', 'redis'),
        fc.oneof(actions(TYPES), actions(TYPES.filter((t) => contract(t, 'upstream', {}, undefined) === 'keep'))),
        fc.boolean(),
        fc.boolean(),
        (protocol, steps, clearFirst, finFirst) => run(stack, protocol, steps, clearFirst, finFirst),
      ),
      { numRuns: RUNS, seed: SEED, endOnFailure: true, includeErrorInReport: true },
    );
    if (process.env.FC_STATS) console.log('runs per contract', tally);
  } finally {
    await yard.close();
    await http.close();
    await redis.close();
  }
});
