/**
 * The WAMP step of `switchyard demo`: a `protocol: wamp` listener in front of a fox-wamp router (when the
 * `fox-wamp` package is installed; the step says how to get it otherwise), a callee and a caller joining through
 * the proxy, and the sessions API.
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import type { Switchyard } from '../../runtime/switchyard.js';
import { formatAddress } from '../../core/address.js';
import { validateConfig } from '../../runtime/config.js';
import { createFramerRegistry } from '../../framing/builtins.js';

interface WsServer {
  address(): AddressInfo | string | null;
  once(event: 'listening', cb: () => void): void;
  close(cb: () => void): void;
  clients: Set<{ terminate(): void }>;
}

/** A minimal JSON WAMP peer: join, then send and await messages. */
class Peer {
  readonly #ws: WebSocket;
  readonly #waiting: Array<{ code: number; resolve: (m: unknown[]) => void }> = [];
  onInvocation: ((m: unknown[]) => void) | undefined;

  constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as unknown[];
      if (m[0] === 68 && this.onInvocation) return this.onInvocation(m);
      const i = this.#waiting.findIndex((w) => w.code === m[0] || m[0] === 3 || m[0] === 8);
      if (i >= 0) this.#waiting.splice(i, 1)[0]!.resolve(m);
    });
  }

  static open(url: string): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, ['wamp.2.json']);
      ws.once('open', () => resolve(new Peer(ws)));
      ws.once('error', reject);
    });
  }

  send(m: unknown[]): void {
    this.#ws.send(JSON.stringify(m));
  }

  next(code: number, timeoutMs = 5_000): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no WAMP message ${code} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiting.push({ code, resolve: (m) => (clearTimeout(t), resolve(m)) });
    });
  }

  close(): void {
    this.#ws.close();
  }
}

export interface DemoWampResult {
  ok: boolean;
  /** Stop what the step started (the router; the listener goes with the yard). */
  close(): Promise<void>;
}

/** Add the WAMP step to a running demo yard; writes its lines to `out` (a curl line when `adminUrl` is given: the demo keeps running). */
export async function demoWamp(yard: Switchyard, out: NodeJS.WritableStream, adminUrl: string | undefined): Promise<DemoWampResult> {
  const require = createRequire(import.meta.url);
  let FoxRouter: new () => { listenWAMP(o: Record<string, unknown>): WsServer };
  try {
    FoxRouter = require('fox-wamp') as typeof FoxRouter;
  } catch {
    out.write(`\nWAMP step skipped: it needs a WAMP router; 'npm install fox-wamp' next to switchyard to see it (docs/wamp.md).\n`);
    return { ok: true, close: () => Promise.resolve() };
  }
  const router = new FoxRouter().listenWAMP({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => (router.address() ? r() : router.once('listening', () => r())));
  const routerPort = (router.address() as AddressInfo).port;
  const close = () =>
    new Promise<void>((r) => {
      for (const c of router.clients) c.terminate();
      router.close(() => r());
    });
  let ok = false;
  try {
    const parsed = validateConfig(
      {
        listeners: [{ id: 'wamp', listen: '127.0.0.1:0', protocol: { type: 'wamp', auth: { anonymous: { role: 'anonymous' } } } }],
        clusters: [{ id: 'wamp-router', endpoints: [`127.0.0.1:${routerPort}`], wamp: { path: '/' } }],
        routes: [{ id: 'wamp-realm1', listener: 'wamp', match: { realm: 'realm1' }, cluster: 'wamp-router' }],
      },
      createFramerRegistry(),
    );
    if (!parsed.ok) throw new Error(parsed.errors.map((e) => `${e.path}: ${e.message}`).join('; '));
    await yard.addCluster(parsed.config.clusters[0]!);
    const listener = await yard.addListener(parsed.config.listeners[0]!);
    await yard.addRoute(parsed.config.routes[0]!);
    const url = `ws://${formatAddress(listener.address!)}/ws`;
    const hello = [1, 'realm1', { roles: { caller: {}, callee: {} } }];
    const callee = await Peer.open(url);
    callee.send(hello);
    const w1 = await callee.next(2);
    callee.send([64, 1, {}, 'demo.upper']);
    await callee.next(65);
    const onInvocation: typeof callee.onInvocation = (m) => callee.send([70, m[1], {}, [String((m[4] as unknown[])[0]).toUpperCase()]]);
    callee.onInvocation = onInvocation;
    const caller = await Peer.open(url);
    caller.send(hello);
    await caller.next(2);
    caller.send([48, 1, {}, 'demo.upper', ['hello wamp']]);
    const result = await caller.next(50);
    const answer = (result[3] as unknown[] | undefined)?.[0];
    ok = result[0] === 50 && answer === 'HELLO WAMP';
    out.write(`\nWAMP self-check: a fox-wamp router at 127.0.0.1:${routerPort}, the proxy at ${url} (listener "wamp", realm1 -> cluster "wamp-router")\n`);
    out.write(`  callee joined as session ${String(w1[1])} (authmethod ${String((w1[2] as Record<string, unknown>)['authmethod'])}), registered demo.upper\n`);
    out.write(`  caller CALL demo.upper("hello wamp") -> ${JSON.stringify(answer)}  ${ok ? '(ok)' : '(UNEXPECTED)'}\n`);
    if (adminUrl !== undefined) out.write(`  sessions: curl -s ${adminUrl}/api/v1/wamp/sessions\n`);
    caller.close();
    callee.close();
  } catch (err) {
    out.write(`\nWAMP self-check failed: ${(err as Error).message}\n`);
  }
  return { ok, close };
}
