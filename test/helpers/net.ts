import net from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface TestServer {
  server: net.Server;
  port: number;
  host: string;
  close(): Promise<void>;
}

/** A TCP server on loopback (port 0) that runs `onConnection` per socket; close() also destroys live sockets. */
export async function startServer(onConnection: (socket: net.Socket) => unknown, options: { host?: string; allowHalfOpen?: boolean } = {}): Promise<TestServer> {
  const host = options.host ?? '127.0.0.1';
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: options.allowHalfOpen ?? true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    void onConnection(socket);
  });
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    host,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A line service: each received line (without its "\n") is answered with `answer(line)` + "\n" (undefined = no answer); ends its side after the client's FIN. */
export function startLineServer(answer: (line: string) => string | undefined): Promise<TestServer> {
  return startServer((socket) => {
    let pending = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      pending += d;
      let i: number;
      while ((i = pending.indexOf('\n')) >= 0) {
        const out = answer(pending.slice(0, i));
        pending = pending.slice(i + 1);
        if (out !== undefined) socket.write(`${out}\n`);
      }
    });
    socket.on('end', () => socket.end());
  });
}

/** Echo server (half-close aware: ends its side after the client's FIN). */
export function startEchoServer(host = '127.0.0.1'): Promise<TestServer> {
  return startServer((socket) => socket.pipe(socket), { host });
}

export async function connect(port: number, host = '127.0.0.1', allowHalfOpen = true): Promise<net.Socket> {
  const socket = net.connect({ port, host, allowHalfOpen });
  await once(socket, 'connect');
  return socket;
}

/**
 * Read until EOF without destroying the socket (a `for await` over a socket destroys it at the end, which
 * would kill the other, still open direction of a half-closed connection).
 */
export function readAll(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    socket.once('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** Resolves with the error a socket ends with (or undefined on a clean close). */
export function closeOutcome(socket: net.Socket): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    let error: NodeJS.ErrnoException | undefined;
    socket.on('error', (err) => (error = err));
    socket.on('close', () => resolve(error));
    socket.resume();
  });
}

/** Deterministic pseudo-random bytes, produced in chunks: same seed → same stream. */
export function* pseudoRandomChunks(total: number, seed: number, chunkSize = 64 * 1024): Generator<Buffer> {
  let x = seed >>> 0 || 1;
  let left = total;
  while (left > 0) {
    const n = Math.min(chunkSize, left);
    const buf = Buffer.allocUnsafe(n);
    for (let i = 0; i + 4 <= n; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      buf.writeUInt32LE(x >>> 0, i);
    }
    for (let i = n - (n % 4); i < n; i++) buf[i] = i & 0xff;
    left -= n;
    yield buf;
  }
}

/** Write a generator's chunks with backpressure, then optionally FIN. Returns the sha256 of what was sent. */
export async function writeChunks(socket: net.Socket, chunks: Iterable<Buffer>, end = true): Promise<string> {
  const hash = createHash('sha256');
  for (const chunk of chunks) {
    hash.update(chunk);
    if (!socket.write(chunk)) await once(socket, 'drain');
  }
  if (end) socket.end();
  return hash.digest('hex');
}

/** Consume a socket to EOF, returning sha256 and byte count. */
export async function hashAll(socket: net.Socket): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  return new Promise((resolve, reject) => {
    socket.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    socket.once('end', () => resolve({ sha256: hash.digest('hex'), bytes }));
    socket.once('error', reject);
  });
}

/**
 * The ports the kernel hands out by itself (listen(0), the local end of an outgoing connection): Linux's
 * ip_local_port_range, 32768–60999 unless changed.
 */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi)) return [lo!, hi!];
  } catch {
    // not Linux: assume its default
  }
  return [32768, 60999];
}

async function canListen(port: number, host: string): Promise<boolean> {
  const server = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => resolve(true));
  });
  if (ok) await new Promise<void>((r) => server.close(() => r()));
  return ok;
}

/**
 * A port nothing listens on, for a test to bind later (often in a child process) or to keep as one that refuses.
 * It is picked outside the kernel's ephemeral range: a port from listen(0) could be taken, between this check and its
 * use, by the local end of any outgoing connection of the test running alongside, which would make the later bind
 * fail with EADDRINUSE (or a "dead" port answer). Falls back to listen(0) when the range leaves no room.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [lo, hi] = ephemeralRange();
  // above the range (61000–65535 by default), else below it; each needs room enough for random picks not to meet
  const span = ([[Math.max(hi + 1, 1024), 65535], [20000, Math.min(lo - 1, 32767)]] as Array<[number, number]>).find(([a, b]) => b - a >= 500);
  for (let attempt = 0; span !== undefined && attempt < 100; attempt++) {
    const port = span[0] + Math.floor(Math.random() * (span[1] - span[0] + 1));
    if (await canListen(port, host)) return port;
  }
  const server = net.createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Poll a condition (for counters updated by socket events); fails after `timeout` ms with `what`. */
export async function eventually(cond: () => boolean, what: string, timeout = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeout) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
