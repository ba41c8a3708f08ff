import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { startProxy } from '../helpers/yard.js';
import { eventually } from '../helpers/net.js';

/** An HTTP upstream answering 200 "ok" once a request's body is read. */
async function okServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))) };
}

/** One real request through the proxy (a fresh connection): the status, or the error code. */
function realRequest(port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/real', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

interface Loris {
  socket: net.Socket;
  received: string;
  closed: boolean;
}

/** `n` connections that each send an HTTP head one byte per second (bounded: at most `maxBytes` each). */
async function slowloris(port: number, n: number, maxBytes = 30): Promise<{ all: Loris[]; stop(): void }> {
  const head = 'GET /slow HTTP/1.1\r\nHost: x\r\nX-A: b\r\n';
  const all: Loris[] = [];
  for (let i = 0; i < n; i++) {
    const socket = net.connect({ host: '127.0.0.1', port });
    const l: Loris = { socket, received: '', closed: false };
    socket.on('data', (d: Buffer) => (l.received += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => (l.closed = true));
    all.push(l);
  }
  await Promise.all(all.map((l) => (l.socket.connecting ? once(l.socket, 'connect').catch(() => undefined) : Promise.resolve(undefined))));
  let sent = 0;
  const tick = (): void => {
    if (sent >= maxBytes) return;
    const byte = head[sent % head.length]!;
    sent++;
    for (const l of all) if (!l.closed && l.socket.writable) l.socket.write(byte);
  };
  tick();
  const timer = setInterval(tick, 1000);
  return {
    all,
    stop: () => {
      clearInterval(timer);
      for (const l of all) l.socket.destroy();
    },
  };
}

test('slowloris: 500 connections sending a head at 1 byte/s are answered 408 and closed after requestHeaderTimeout; a real client is served meanwhile', async () => {
  const up = await okServer();
  const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${up.port}`], listener: { protocol: 'http', requestHeaderTimeout: '1s' } });
  const probe = await slowloris(port, 500);
  try {
    // while the 500 are connected and dripping, a real client is served
    assert.equal(await realRequest(port), 200);
    // safety deadline only (the machine is shared): every slow connection is closed, each with a 408
    await eventually(() => probe.all.every((l) => l.closed), 'every slowloris connection closed', 60_000);
    const with408 = probe.all.filter((l) => /^HTTP\/1\.1 408 Request Timeout\r\n[\s\S]*Connection: close\r\n/.test(l.received)).length;
    assert.equal(with408, 500);
    const errors = yard.listeners.get('l1')!.stats.errors;
    assert.equal(errors.get('SWY_REQUEST_HEADER_TIMEOUT'), 500);
    assert.equal(errors.get('SWY_REFUSED_HEADER_TIMEOUT'), 500);
    assert.equal(await realRequest(port), 200);
  } finally {
    probe.stop();
    await yard.close();
    await up.close();
  }
});

test('slowloris with maxConnections 20: the slots free up after requestHeaderTimeout, so a real client gets in', async () => {
  const up = await okServer();
  const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${up.port}`], listener: { protocol: 'http', requestHeaderTimeout: '1s', maxConnections: 20 } });
  const probe = await slowloris(port, 20);
  try {
    await eventually(() => yard.listeners.get('l1')!.stats.active === 20, 'the probe holds every slot', 30_000);
    // the real client retries (bounded) until a slot is free: before this change it never was
    let status: number | string = 0;
    for (let i = 0; i < 200 && status !== 200; i++) {
      status = await realRequest(port);
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 200);
    await eventually(() => probe.all.every((l) => l.closed), 'every slowloris connection closed', 60_000);
  } finally {
    probe.stop();
    await yard.close();
    await up.close();
  }
});
