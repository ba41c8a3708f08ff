/**
 * Types shared by the framed connection library (connectFramed, listenFramed, FramedConnection).
 */
import type net from 'node:net';
import type tls from 'node:tls';
import type { Address } from '../core/address.js';
import type { Framer, FramerFactory } from '../framing/framer.js';
import { PassthroughFramer } from '../framing/passthrough.js';

export type { Address };

/** A framer for one direction: a factory (a fresh framer is created) or a framer instance used as is. */
export type FramerSource = Framer | FramerFactory;

/** Framers per direction: `send` encodes outgoing frames, `recv` decodes incoming bytes. Default: passthrough. */
export interface FramerPair<T = FramerSource> {
  send?: T | undefined;
  recv?: T | undefined;
}

/** Socket tuning, applied at connect/accept time and by `setSocketOptions`. */
export interface FramedSocketOptions {
  /** Disable Nagle's algorithm (default true: framed protocols are latency-sensitive). */
  noDelay?: boolean | undefined;
  /** TCP keep-alive: initial delay in ms, `true` = OS default delay, 0 / false = off (default off). */
  keepAlive?: number | boolean | undefined;
}

/** Options every framed connection takes. */
export interface FramedConnectionOptions {
  framers?: FramerPair | undefined;
  socket?: FramedSocketOptions | undefined;
  /**
   * Read-ahead bound: the socket is paused while this many received bytes (default 64 KiB) wait for the consumer,
   * so a connection holds at most this plus one socket read plus the framer's partial frame.
   */
  readHighWaterMark?: number | undefined;
}

/** Which end of the connection this is: 'client' connected out, 'server' was accepted. Also the default TLS role. */
export type ConnectionSide = 'client' | 'server';

/** Byte and frame counters of one connection (bytes are application bytes, i.e. after TLS decryption). */
export interface ConnectionStats {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly framesIn: number;
  readonly framesOut: number;
}

/** What to do with bytes received after the switch point but not yet read when `startTls` is called. */
export type UnreadBytesPolicy = 'tls' | 'error';

export interface StartTlsOptions {
  /**
   * TLS options: client role → `tls.connect()` options (e.g. from `buildClientTlsOptions`; `ca`, `servername`,
   * `cert`/`key`, ...); server role → server options (e.g. from `buildServerTlsOptions`; `cert`, `key`, SNI, ...).
   * Reuse one object for many connections: server-side state is cached per object.
   */
  tls: tls.ConnectionOptions | tls.TlsOptions;
  /** TLS role; default: the connection's side ('client' for connectFramed, 'server' for accepted connections). */
  role?: ConnectionSide | undefined;
  /**
   * Bytes already received but not yet read when the upgrade starts (e.g. a ClientHello that arrived while the
   * server was still sending "OK"): 'tls' (default) hands them to TLS as the first ciphertext, so plaintext
   * injected before the switch point can never be read as application data (the handshake fails instead);
   * 'error' rejects the upgrade if there are any (connection left as it was: the caller decides).
   */
  unread?: UnreadBytesPolicy | undefined;
  /** Handshake time limit in ms (default 30 s; 0 = none). */
  timeout?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** Default framer when none is given: raw bytes, one frame per received chunk. */
export function defaultFramer(): Framer {
  return new PassthroughFramer();
}

/** A fresh framer from a factory, or the given instance. */
export function resolveFramer(source: FramerSource | undefined): Framer {
  if (source === undefined) return defaultFramer();
  if ('create' in source && typeof source.create === 'function') return source.create();
  return source as Framer;
}

/** The socket's local or remote address as an `Address` (host '' / port 0 when unknown). */
export function socketAddress(socket: net.Socket, which: 'local' | 'remote', unixPath: string | undefined): Address {
  if (unixPath !== undefined) return { kind: 'unix', path: unixPath };
  if (which === 'local') return { kind: 'tcp', host: socket.localAddress ?? '', port: socket.localPort ?? 0 };
  return { kind: 'tcp', host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
}

/** Apply socket options to a connected socket (no-ops on Unix sockets). */
export function applySocketOptions(socket: net.Socket, opts: FramedSocketOptions | undefined): void {
  if (opts?.noDelay !== undefined) socket.setNoDelay(opts.noDelay);
  if (opts?.keepAlive !== undefined) {
    const ka = opts.keepAlive;
    if (ka === true) socket.setKeepAlive(true);
    else if (ka === false || ka === 0) socket.setKeepAlive(false);
    else socket.setKeepAlive(true, ka);
  }
}

/** `{ noDelay: true }` unless given: the defaults applied to new connections. */
export function withSocketDefaults(opts: FramedSocketOptions | undefined): FramedSocketOptions {
  return { noDelay: opts?.noDelay ?? true, keepAlive: opts?.keepAlive };
}

/** An AbortError as Node's own APIs raise it (code ABORT_ERR), carrying the signal's reason as its cause. */
export function abortError(signal: AbortSignal): Error {
  const err = new Error('The operation was aborted', { cause: signal.reason }) as Error & { code: string };
  err.name = 'AbortError';
  err.code = 'ABORT_ERR';
  return err;
}

/** Node-style error for using a connection that can no longer be written. */
export function streamError(code: 'ERR_STREAM_WRITE_AFTER_END' | 'ERR_STREAM_DESTROYED' | 'ERR_INVALID_STATE', message: string): Error {
  const err = new Error(message) as Error & { code: string };
  err.code = code;
  return err;
}
