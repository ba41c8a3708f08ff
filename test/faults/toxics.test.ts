import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { startYard } from '../helpers/yard.js';
import { closeOutcome, connect, eventually, hashAll, pseudoRandomChunks, readAll, startEchoServer, startServer, writeChunks } from '../helpers/net.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import type { TcpListener } from '../../src/listeners/tcp.js';

/** An echo upstream and a proxy in front of it whose listener runs the fault stage. */
async function chaosProxy(faults: unknown[] = [], extra: Record<string, unknown> = {}): Promise<{ yard: Switchyard; port: number; close(): Promise<void> }> {
  const echo = await startEchoServer();
  const yard = await startYard({
    ...extra,
    listeners: [{ id: 'l1', listen: '127.0.0.1:0', faults }],
    clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${echo.port}`] }],
    routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
  });
  const a = yard.listeners.get('l1')!.address!;
  return {
    yard,
    port: a.kind === 'tcp' ? a.port : 0,
    close: async () => {
      await yard.close();
      await echo.close();
    },
  };
}

async function roundTrip(port: number, payload = 'ping'): Promise<{ ms: number; data: string }> {
  const s = await connect(port);
  const t0 = performance.now();
  s.write(payload);
  let got = '';
  for await (const chunk of s) {
    got += (chunk as Buffer).toString();
    if (got.length >= payload.length) break;
  }
  const ms = performance.now() - t0;
  s.destroy();
  return { ms, data: got };
}

test('latency delays each frame by at least `latency` ms, and a burst is not delayed once per frame', async () => {
  const p = await chaosProxy([{ type: 'latency', attributes: { latency: 1000 } }]);
  try {
    const rt = await roundTrip(p.port);
    assert.equal(rt.data, 'ping');
    assert.ok(rt.ms >= 995, `round trip took ${rt.ms.toFixed(0)} ms, expected ≥ 1000`);
    // 10 writes 10 ms apart: each is delayed from its own arrival, so the last arrives ~1000 ms after the last write
    // (a delay per frame measured from when the previous one left would take ≥ 10 s).
    const s = await connect(p.port);
    const t0 = performance.now();
    let got = 0;
    const done = new Promise<number>((resolve) => {
      s.on('data', (c: Buffer) => {
        got += c.length;
        if (got >= 10) resolve(performance.now() - t0);
      });
    });
    let lastWrite = 0;
    for (let i = 0; i < 10; i++) {
      s.write('x');
      lastWrite = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 10));
    }
    const ms = await done;
    s.destroy();
    assert.ok(ms >= 995, `burst took ${ms.toFixed(0)} ms, expected ≥ 1000`);
    assert.ok(ms - lastWrite < 5000, `the last byte arrived ${(ms - lastWrite).toFixed(0)} ms after it was written, not ~1000`);
  } finally {
    await p.close();
  }
});

test('two latency faults add up (one per direction)', async () => {
  const p = await chaosProxy([
    { type: 'latency', stream: 'downstream', attributes: { latency: 100 } },
    { type: 'latency', stream: 'upstream', attributes: { latency: 100 } },
  ]);
  try {
    const rt = await roundTrip(p.port);
    assert.ok(rt.ms >= 195, `round trip ${rt.ms.toFixed(0)} ms, expected ≥ 200`);
  } finally {
    await p.close();
  }
});

test('bandwidth limits throughput to rate KB/s (KB = 1000 bytes)', async () => {
  const p = await chaosProxy([{ type: 'bandwidth', attributes: { rate: 1000 } }]);
  try {
    const s = await connect(p.port);
    const t0 = performance.now();
    const sent = writeChunks(s, pseudoRandomChunks(300_000, 5, 16 * 1024));
    const got = await hashAll(s);
    const ms = performance.now() - t0;
    assert.equal(got.bytes, 300_000);
    assert.equal(got.sha256, await sent);
    assert.ok(ms >= 280, `300 000 bytes at 1000 KB/s took ${ms.toFixed(0)} ms, expected ≥ 300`);
  } finally {
    await p.close();
  }
});

test('slow_close holds the FIN for `delay` ms while data passes at once', async () => {
  const p = await chaosProxy([{ type: 'slow_close', attributes: { delay: 300 } }]);
  try {
    const s = await connect(p.port);
    const t0 = performance.now();
    let firstData = 0;
    s.once('data', () => (firstData = performance.now() - t0));
    s.end('bye');
    const data = await readAll(s);
    const ms = performance.now() - t0;
    assert.equal(data.toString(), 'bye');
    assert.ok(ms >= 290, `FIN after ${ms.toFixed(0)} ms, expected ≥ 300`);
    assert.ok(firstData < ms, 'data arrived before the delayed FIN');
  } finally {
    await p.close();
  }
});

test('timeout drops all data and closes after `timeout` ms of silence', async () => {
  const p = await chaosProxy([{ type: 'timeout', stream: 'upstream', attributes: { timeout: 300 } }]);
  try {
    const s = await connect(p.port);
    const t0 = performance.now();
    s.write('hello');
    const data = await readAll(s);
    const ms = performance.now() - t0;
    assert.equal(data.length, 0, 'no data passes a timeout fault');
    assert.ok(ms >= 290, `closed after ${ms.toFixed(0)} ms, expected ≥ 300`);
  } finally {
    await p.close();
  }
});

test('timeout 0 keeps the connection open with no data; removing it closes the connection', async () => {
  const p = await chaosProxy([{ type: 'timeout', attributes: { timeout: 0 } }]);
  try {
    const s = await connect(p.port);
    let ended = false;
    const closed = readAll(s).then((b) => ((ended = true), b));
    s.write('hello');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(ended, false, 'still open');
    p.yard.faultSet('l1').remove('timeout_downstream');
    assert.equal((await closed).length, 0, 'no data, then the close');
  } finally {
    await p.close();
  }
});

test('reset_peer resets with a real RST; with toxicity 0 nothing is reset (Toxiproxy resets regardless)', async () => {
  const p = await chaosProxy([{ type: 'reset_peer', stream: 'upstream', attributes: { timeout: 50 } }]);
  try {
    const s = await connect(p.port);
    const outcome = closeOutcome(s);
    s.write('data');
    const err = await outcome;
    assert.equal(err?.code, 'ECONNRESET');
    p.yard.faultSet('l1').update('reset_peer_upstream', { toxicity: 0 });
    for (let i = 0; i < 5; i++) {
      const rt = await roundTrip(p.port, 'fine');
      assert.equal(rt.data, 'fine');
    }
  } finally {
    await p.close();
  }
});

test('reset_peer added to an already open connection still sends an RST', async () => {
  const p = await chaosProxy([]);
  try {
    const s = await connect(p.port);
    s.write('a');
    await once(s, 'data');
    p.yard.faultSet('l1').add({ type: 'reset_peer', stream: 'upstream', attributes: { timeout: 0 } });
    const outcome = closeOutcome(s);
    s.write('b');
    assert.equal((await outcome)?.code, 'ECONNRESET');
  } finally {
    await p.close();
  }
});

test('slicer cuts data into small pieces, bytes intact', async () => {
  const p = await chaosProxy([{ type: 'slicer', attributes: { average_size: 10, size_variation: 5, delay: 2000 } }]);
  try {
    const s = await connect(p.port);
    const payload = Buffer.alloc(1000, 'abcdefghij');
    let events = 0;
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => {
      events++;
      chunks.push(c);
    });
    s.end(payload);
    await once(s, 'end');
    assert.deepEqual(Buffer.concat(chunks), payload);
    assert.ok(events >= 20, `expected the 1000 bytes in many pieces, got ${events} reads`);
  } finally {
    await p.close();
  }
});

test('limit_data forwards exactly `bytes` then closes', async () => {
  const p = await chaosProxy([{ type: 'limit_data', attributes: { bytes: 10 } }]);
  try {
    const s = await connect(p.port);
    s.write(Buffer.alloc(100, 'z'));
    const data = await readAll(s);
    assert.equal(data.length, 10);
  } finally {
    await p.close();
  }
});

test('down refuses new connections, closes live ones, and listens again on the same port when removed', async () => {
  const p = await chaosProxy([]);
  try {
    const live = await connect(p.port);
    const liveClosed = readAll(live);
    p.yard.faultSet('l1').add({ type: 'down' });
    await (p.yard.listeners.get('l1') as TcpListener).settled();
    await liveClosed;
    const refused = net.connect({ port: p.port, host: '127.0.0.1' });
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');
    p.yard.faultSet('l1').remove('down_downstream');
    await (p.yard.listeners.get('l1') as TcpListener).settled();
    assert.equal((await roundTrip(p.port, 'back')).data, 'back');
  } finally {
    await p.close();
  }
});

test('toxicity 0 changes nothing, for every data fault', async () => {
  const types = ['latency', 'bandwidth', 'slow_close', 'timeout', 'reset_peer', 'slicer', 'limit_data', 'error', 'hang', 'blackout', 'abort', 'drop', 'corrupt', 'duplicate', 'delay'];
  const p = await chaosProxy(types.map((type) => ({ type, toxicity: 0, ...(type === 'latency' ? { attributes: { latency: 1000 } } : {}) })));
  try {
    const s = await connect(p.port);
    const sent = writeChunks(s, pseudoRandomChunks(2 * 1024 * 1024, 9));
    const got = await hashAll(s);
    assert.equal(got.sha256, await sent);
    assert.equal(got.bytes, 2 * 1024 * 1024);
  } finally {
    await p.close();
  }
});

test('faults added, updated and removed mid-stream lose no bytes', async () => {
  const p = await chaosProxy([]);
  try {
    const s = await connect(p.port);
    const set = p.yard.faultSet('l1');
    const total = 8 * 1024 * 1024;
    let got = 0;
    const result = hashAll(s);
    s.on('data', (c: Buffer) => (got += c.length));
    const chunks = pseudoRandomChunks(total, 21, 32 * 1024);
    const sending = (async () => {
      let i = 0;
      const hashSent = await writeChunks(
        s,
        (function* () {
          for (const c of chunks) {
            i++;
            if (i === 20) set.add({ name: 'lat', type: 'latency', attributes: { latency: 20, jitter: 5 } });
            if (i === 60) set.add({ name: 'slice', type: 'slicer', stream: 'upstream', attributes: { average_size: 4096, size_variation: 1000 } });
            if (i === 100) set.update('lat', { attributes: { latency: 5 } });
            if (i === 140) set.add({ name: 'bw', type: 'bandwidth', attributes: { rate: 50_000 } });
            if (i === 180) set.remove('lat');
            if (i === 200) set.remove('slice');
            if (i === 220) set.remove('bw');
            yield c;
          }
        })(),
      );
      return hashSent;
    })();
    const [sent, received] = await Promise.all([sending, result]);
    assert.equal(received.bytes, total);
    assert.equal(received.sha256, sent);
    await eventually(() => got === total, 'all bytes counted');
  } finally {
    await p.close();
  }
});

test('a seed makes per-connection toxicity draws reproducible', async () => {
  const pattern = async (seed: number): Promise<boolean[]> => {
    const p = await chaosProxy([{ type: 'limit_data', toxicity: 0.5, attributes: { bytes: 1 } }], { seed });
    try {
      const out: boolean[] = [];
      for (let i = 0; i < 16; i++) {
        const s = await connect(p.port);
        s.end('abc');
        out.push((await readAll(s)).length === 1);
      }
      return out;
    } finally {
      await p.close();
    }
  };
  const a = await pattern(42);
  const b = await pattern(42);
  assert.deepEqual(a, b);
  assert.ok(a.includes(true) && a.includes(false), `toxicity 0.5 over 16 connections: ${a.join(',')}`);
});

test('half-close survives the fault stage: the reply to a FIN still arrives', async () => {
  const upstream = await startServer((sock) => {
    const parts: Buffer[] = [];
    sock.on('data', (c: Buffer) => parts.push(c));
    sock.on('end', () => sock.end(`got ${Buffer.concat(parts).length}`));
  });
  const yard = await startYard({
    listeners: [{ id: 'l1', listen: '127.0.0.1:0', faults: [{ type: 'latency', attributes: { latency: 20 } }] }],
    clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${upstream.port}`] }],
    routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
  });
  try {
    const a = yard.listeners.get('l1')!.address!;
    const s = await connect(a.kind === 'tcp' ? a.port : 0);
    s.end('abc');
    assert.equal((await readAll(s)).toString(), 'got 3');
  } finally {
    await yard.close();
    await upstream.close();
  }
});
