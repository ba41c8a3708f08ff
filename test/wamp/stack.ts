/** Test stack for the WAMP proxy: fox-wamp routers, autobahn-js clients (Node 20 needs a global WebSocket). */
import { createRequire } from 'node:module';
import { WebSocket, type WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';

const require = createRequire(import.meta.url);
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

/** The parts of an autobahn-js session the tests use. */
export interface WampSession {
  readonly id: number;
  register(procedure: string, endpoint: (args: unknown[], kwargs: Record<string, unknown>) => unknown): Promise<unknown>;
  call(procedure: string, args?: unknown[], kwargs?: Record<string, unknown>, options?: Record<string, unknown>): Promise<unknown>;
  subscribe(topic: string, handler: (args: unknown[], kwargs: Record<string, unknown>) => void): Promise<unknown>;
  publish(topic: string, args?: unknown[], kwargs?: Record<string, unknown>, options?: Record<string, unknown>): Promise<unknown>;
}

/** WELCOME details as autobahn-js hands them to onopen. */
export interface WelcomeDetails {
  authid?: string;
  authrole?: string;
  authmethod?: string;
  authextra?: Record<string, unknown>;
}

type CloseHandler = (reason: string, details: { reason?: string; message?: string } | undefined) => boolean;

interface AutobahnConnection {
  onopen: (session: WampSession, details: WelcomeDetails) => void;
  onclose: CloseHandler;
  readonly isOpen: boolean;
  open(): void;
  close(): void;
}

interface AutobahnModule {
  Connection: new (options: Record<string, unknown>) => AutobahnConnection;
  auth_cra: { sign(key: string, challenge: string): string; derive_key(secret: string, salt: string, iterations: number, keylen: number): string };
}

export const autobahn = require('autobahn') as AutobahnModule;
const FoxRouter = require('fox-wamp') as new () => { listenWAMP(options: Record<string, unknown>): WebSocketServer };

export interface Fox {
  port: number;
  close(): Promise<void>;
}

/** A real fox-wamp router (WebSocket + JSON) on 127.0.0.1, port 0. */
export async function startFox(): Promise<Fox> {
  const server = new FoxRouter().listenWAMP({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => (server.address() ? r() : server.once('listening', () => r())));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((r) => {
        for (const c of server.clients) c.terminate();
        server.close(() => r());
      }),
  };
}

export interface Joined {
  session: WampSession;
  details: WelcomeDetails;
  connection: AutobahnConnection;
  close(): Promise<void>;
}

export interface Refused {
  reason: string;
  message: string | undefined;
}

/**
 * Open an autobahn-js connection; resolves with the session on join, or with {reason, message} when the router
 * (the proxy) refuses the join.
 */
export function join(options: Record<string, unknown>): Promise<Joined | Refused> {
  return new Promise((resolve, reject) => {
    const connection = new autobahn.Connection({ max_retries: 0, retry_if_unreachable: false, ...options });
    const timer = setTimeout(() => reject(new Error('join timed out')), 10_000);
    connection.onopen = (session, details) => {
      clearTimeout(timer);
      resolve({
        session,
        details,
        connection,
        close: () =>
          new Promise<void>((r) => {
            if (!connection.isOpen) return r();
            connection.onclose = () => (r(), true);
            connection.close();
          }),
      });
    };
    connection.onclose = (reason, details) => {
      clearTimeout(timer);
      resolve({ reason: details?.reason ?? reason, message: details?.message });
      return true;
    };
    connection.open();
  });
}

export function isJoined(j: Joined | Refused): j is Joined {
  return 'session' in j;
}

/** Join or fail the test with the refusal. */
export async function joined(options: Record<string, unknown>): Promise<Joined> {
  const j = await join(options);
  if (!isJoined(j)) throw new Error(`join refused: ${j.reason} ${j.message ?? ''}`);
  return j;
}
