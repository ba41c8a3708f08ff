import net from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Switchyard } from '../../src/runtime/switchyard.js';
import { ToxiproxyApi } from '../../src/compat/toxiproxy.js';

/** An empty yard (what `switchyard toxiproxy` starts) with the Toxiproxy API on a free loopback port. */
export async function startApi(seed = 1): Promise<{ yard: Switchyard; api: ToxiproxyApi; url: string; close(): Promise<void> }> {
  const yard = new Switchyard({ seed, defaultMetrics: false });
  const api = await ToxiproxyApi.start(yard, { listen: { kind: 'tcp', host: '127.0.0.1', port: 0 } });
  return {
    yard,
    api,
    url: api.url,
    close: async () => {
      await api.close();
      await yard.close({ drainTimeout: 0 });
    },
  };
}

export function portOf(listen: string): number {
  return Number(listen.slice(listen.lastIndexOf(':') + 1));
}

/** Write `payload` and wait until as many bytes came back; resolves with the elapsed ms. */
export async function roundTrip(port: number, payload = 'ping'): Promise<number> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  try {
    return await roundTripOn(socket, payload);
  } finally {
    socket.destroy();
  }
}

export function roundTripOn(socket: net.Socket, payload = 'ping'): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (c: Buffer): void => {
      got += c.length;
      if (got >= Buffer.byteLength(payload)) {
        socket.off('data', onData);
        socket.off('close', onClose);
        resolve(performance.now() - start);
      }
    };
    const onClose = (): void => reject(new Error(`closed after ${got} bytes`));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(payload);
  });
}

/** The error code a connect attempt ends with (undefined when it connects). */
export function connectError(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(undefined);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
  });
}

/** A raw HTTP call (fetch) returning status, headers and body text. */
export async function call(url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string; json(): unknown }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as unknown };
}
