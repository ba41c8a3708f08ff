/** UdpListener / UdpFlow (the library API) over real loopback sockets; every wait is for an event. */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import type { UdpOptions } from '../../src/config/types.js';
import { ErrorCodes, hasCode } from '../../src/core/errors.js';
import { UdpListener, type UdpListenerOptions } from '../../src/listeners/udp-flow-listener.js';
import type { UdpFlow } from '../../src/listeners/udp-flow.js';
import type { FlowCloseReason } from '../../src/listeners/udp-flow-table.js';

const V4 = '127.0.0.1';

function withTimeout<T>(p: Promise<T>, what: string, ms = 3000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]);
}

/** A promise with its resolver, for one-off events. */
function signal<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A client socket on 127.0.0.1 whose received datagrams are read in order with recv(). */
async function client(t: TestContext): Promise<{ socket: dgram.Socket; port: number; send(b: Buffer | string, port: number): Promise<void>; recv(): Promise<Buffer> }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, V4, () => resolve()));
  t.after(() => new Promise<void>((resolve) => socket.close(() => setImmediate(() => setImmediate(resolve)))));
  const queue: Buffer[] = [];
  const waiters: Array<(b: Buffer) => void> = [];
  socket.on('message', (msg) => {
    const w = waiters.shift();
    if (w) w(msg);
    else queue.push(msg);
  });
  return {
    socket,
    port: socket.address().port,
    send: (b, port) => new Promise((resolve, reject) => socket.send(typeof b === 'string' ? Buffer.from(b) : b, port, V4, (e) => (e ? reject(e) : resolve()))),
    recv: () => {
      const b = queue.shift();
      return withTimeout(b ? Promise.resolve(b) : new Promise<Buffer>((r) => waiters.push(r)), 'a reply');
    },
  };
}

function udp(overrides: Partial<UdpOptions> = {}): UdpOptions {
  return { flowIdleTimeout: 10_000, maxFlows: 100, maxDatagramSize: 65507, ...overrides };
}

async function bind(t: TestContext, options: Partial<UdpListenerOptions> & Pick<UdpListenerOptions, 'onFlow'>): Promise<UdpListener> {
  const listener = await UdpListener.bind({ listen: { kind: 'tcp', host: V4, port: 0 }, udp: udp(), ...options });
  t.after(() => listener.close());
  return listener;
}

/** An onFlow that echoes every datagram back on its flow. */
function echoFlows(flows: UdpFlow[] = []): (flow: UdpFlow) => Promise<void> {
  return async (flow) => {
    flows.push(flow);
    for await (const d of flow) await flow.send(d);
  };
}

describe('UdpListener', () => {
  it('hands each client address to onFlow once and echoes through the flow API', async (t) => {
    const flows: UdpFlow[] = [];
    const listener = await bind(t, { onFlow: echoFlows(flows) });
    const port = listener.address().port;
    const c = await client(t);
    await c.send('ping', port);
    assert.equal((await c.recv()).toString(), 'ping');
    await c.send('pong', port);
    assert.equal((await c.recv()).toString(), 'pong');
    assert.equal(flows.length, 1);
    assert.deepEqual(flows[0]!.remote, { address: V4, port: c.port, family: 'IPv4' });
    assert.equal(listener.flow(flows[0]!.remote), flows[0]);
    assert.equal(flows[0]!.datagramsReceived, 2);
    assert.equal(flows[0]!.bytesSent, 8);
  });

  it('delivers a 60 000-byte datagram over IPv4 loopback whole, and sends one back whole', async (t) => {
    const listener = await bind(t, { onFlow: echoFlows() });
    const { recv } = listener.bufferSizes();
    assert.ok(recv >= 60_000 * 2, `receive buffer ${recv} holds at least two large datagrams`);
    const c = await client(t);
    const payload = randomBytes(60_000);
    await c.send(payload, listener.address().port);
    const back = await c.recv();
    assert.equal(back.length, 60_000);
    assert.ok(back.equals(payload));
  });

  it('drops datagrams over maxDatagramSize with SWY_FRAME_TOO_LARGE; no flow is created; send() rejects', async (t) => {
    const errors: string[] = [];
    const tooLarge = signal();
    const flows: UdpFlow[] = [];
    const listener = await bind(t, {
      udp: udp({ maxDatagramSize: 512 }),
      onFlow: echoFlows(flows),
      onError: (code) => {
        errors.push(code);
        if (code === ErrorCodes.FRAME_TOO_LARGE) tooLarge.resolve();
      },
    });
    const c = await client(t);
    await c.send(Buffer.alloc(513), listener.address().port);
    await withTimeout(tooLarge.promise, 'SWY_FRAME_TOO_LARGE');
    assert.equal(listener.flowStats().flowsTotal, 0);
    await c.send(Buffer.alloc(512), listener.address().port);
    assert.equal((await c.recv()).length, 512);
    await assert.rejects(flows[0]!.send(Buffer.alloc(513)), (err: unknown) => hasCode(err, ErrorCodes.FRAME_TOO_LARGE));
    assert.deepEqual(errors, [ErrorCodes.FRAME_TOO_LARGE, ErrorCodes.FRAME_TOO_LARGE]);
    assert.equal(listener.errors.get(ErrorCodes.FRAME_TOO_LARGE), 2);
  });

  it('bounds the per-flow queue: datagrams beyond it are dropped and counted, the rest read in order', async (t) => {
    let flow: UdpFlow | undefined;
    let overflows = 0;
    const sixDropped = signal();
    const listener = await bind(t, {
      queue: { maxQueuedDatagrams: 4 },
      onFlow: (f) => {
        flow = f; // nobody reads yet
      },
      onError: (code) => {
        if (code === ErrorCodes.BUFFER_OVERFLOW && ++overflows === 6) sixDropped.resolve();
      },
    });
    const c = await client(t);
    for (let i = 0; i < 10; i++) await c.send(`d${i}`, listener.address().port);
    await withTimeout(sixDropped.promise, '6 overflow drops');
    assert.equal(flow!.datagramsDropped, 6);
    assert.equal(flow!.datagramsReceived, 4);
    const got: string[] = [];
    for await (const d of flow!) {
      got.push(d.toString());
      if (got.length === 4) break; // leaving the loop closes the flow
    }
    assert.deepEqual(got, ['d0', 'd1', 'd2', 'd3']);
    assert.equal(flow!.closeReason, 'closed');
    assert.equal(listener.flowStats().flowsActive, 0);
  });

  it('ends the iterator when the flow expires; send() then rejects with SWY_IDLE_TIMEOUT', async (t) => {
    const ended = signal<FlowCloseReason>();
    let flow: UdpFlow | undefined;
    const listener = await bind(t, {
      udp: udp({ flowIdleTimeout: 100 }),
      onFlow: async (f) => {
        flow = f;
        for await (const d of f) await f.send(d);
        ended.resolve(f.closeReason!);
      },
    });
    const c = await client(t);
    await c.send('x', listener.address().port);
    await c.recv();
    assert.equal(await withTimeout(ended.promise, 'iterator end'), 'idle');
    assert.equal(await flow!.whenClosed(), 'idle');
    await assert.rejects(flow!.send(Buffer.from('late')), (err: unknown) => hasCode(err, ErrorCodes.IDLE_TIMEOUT));
    assert.equal(listener.flowStats().flowsExpired, 1);
  });

  it('send() on an evicted flow rejects with SWY_FLOW_EVICTED', async (t) => {
    const flows: UdpFlow[] = [];
    const evicted = signal<UdpFlow>();
    const listener = await bind(t, {
      udp: udp({ maxFlows: 1 }),
      onFlow: echoFlows(flows),
      onFlowClose: (f, reason) => {
        if (reason === 'evicted') evicted.resolve(f);
      },
    });
    const [a, b] = [await client(t), await client(t)];
    await a.send('a', listener.address().port);
    await a.recv();
    await b.send('b', listener.address().port);
    const gone = await withTimeout(evicted.promise, 'eviction');
    assert.equal(gone, flows[0]);
    await assert.rejects(gone.send(Buffer.from('x')), (err: unknown) => hasCode(err, ErrorCodes.FLOW_EVICTED));
    assert.equal((await b.recv()).toString(), 'b');
    assert.deepEqual(listener.flowStats(), { flowsActive: 1, flowsTotal: 2, flowsExpired: 0, flowsEvicted: 1 });
  });

  it('closes a flow whose onFlow throws or rejects, counting the error code', async (t) => {
    const closed = signal<FlowCloseReason>();
    const codes: string[] = [];
    const listener = await bind(t, {
      onFlow: () => Promise.reject(Object.assign(new Error('nope'), { code: 'SWY_BAD_REQUEST' })),
      onFlowClose: (_f, reason) => closed.resolve(reason),
      onError: (code) => codes.push(code),
    });
    const c = await client(t);
    await c.send('x', listener.address().port);
    assert.equal(await withTimeout(closed.promise, 'flow close'), 'closed');
    assert.deepEqual(codes, ['SWY_BAD_REQUEST']);
  });

  it('close() ends every flow with "shutdown" and frees the port', async (t) => {
    const ends: FlowCloseReason[] = [];
    const bothOpen = signal();
    const bothEnded = signal();
    let open = 0;
    const listener = await UdpListener.bind({
      listen: { kind: 'tcp', host: V4, port: 0 },
      udp: udp(),
      onFlow: async (f) => {
        if (++open === 2) bothOpen.resolve();
        for await (const _ of f) {
          // drain
        }
        ends.push(f.closeReason!);
        if (ends.length === 2) bothEnded.resolve();
      },
    });
    const port = listener.address().port;
    const [a, b] = [await client(t), await client(t)];
    await a.send('a', port);
    await b.send('b', port);
    await withTimeout(bothOpen.promise, 'two flows');
    await listener.close();
    await withTimeout(bothEnded.promise, 'both iterators to end');
    assert.deepEqual(ends, ['shutdown', 'shutdown']);
    assert.equal(listener.flowStats().flowsActive, 0);
    const again = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind({ port, address: V4, exclusive: true }, () => resolve());
    });
    await new Promise<void>((resolve) => again.close(() => resolve()));
  });
});
