/**
 * FramedConnection: a stream socket (TCP, Unix, TLS) seen as frames, in the spirit of Tendril's connection API.
 *
 * Receive path (frame-receiver.ts): pull-based and bounded; the socket is paused while `readHighWaterMark` bytes
 * wait, so a slow consumer stalls the peer through TCP flow control instead of growing a queue. A framer switch
 * (`setFramers`) moves the bytes read but not framed into the new framer (takeBuffered), so frames after the
 * switch point in the same chunk go to the new framer.
 *
 * Send path: `send()` encodes and writes, returning false when the socket's send buffer is full (then
 * `await drained()`); `write()` does both.
 */
import net from 'node:net';
import tls from 'node:tls';
import { formatAddress } from '../core/address.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { Frame, Framer } from '../framing/framer.js';
import { FrameReceiver } from './frame-receiver.js';
import { clientHandshake, serverHandshake } from './tls-handshake.js';
import {
  applySocketOptions,
  resolveFramer,
  socketAddress,
  streamError,
  withSocketDefaults,
  type Address,
  type ConnectionSide,
  type ConnectionStats,
  type FramedConnectionOptions,
  type FramedSocketOptions,
  type FramerPair,
  type StartTlsOptions,
} from './types.js';

const DEFAULT_READ_HWM = 64 * 1024;
const DEFAULT_TLS_TIMEOUT = 30_000;
const DEFAULT_CLOSE_TIMEOUT = 30_000;

interface Waiter<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** How a FramedConnection is created around an existing, connected socket. */
export interface FramedConnectionInit extends FramedConnectionOptions {
  side: ConnectionSide;
  /** The TCP/Unix socket under `socket` when `socket` is already a TLSSocket (for resetAndDestroy). */
  raw?: net.Socket | undefined;
  /** Unix sockets: the path (the one listened on or connected to); TCP: leave undefined. */
  unixPath?: string | undefined;
  /** Host name or IP connected to (client side): the default certificate identity for startTls. */
  host?: string | undefined;
}

export class FramedConnection implements AsyncIterable<Frame> {
  readonly side: ConnectionSide;
  readonly localAddress: Address;
  readonly remoteAddress: Address;
  /** Resolves (never rejects) once the socket is fully closed, with the error that closed it, if any. */
  readonly closed: Promise<Error | undefined>;

  #socket: net.Socket;
  #raw: net.Socket;
  readonly #host: string | undefined;
  readonly #rx: FrameReceiver;
  #send: Framer;
  readonly #drainWaiters: Waiter<void>[] = [];
  #flushWaiters: (() => void)[] = [];
  #writesInFlight = 0;
  #socketClosed = false;
  #ended = false;
  #upgrading = false;
  #closeError: Error | undefined;
  #resolveClosed!: (err: Error | undefined) => void;
  readonly #stats = { bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0 };
  // socket event handlers, bound once per connection
  readonly #onData = (chunk: Buffer): void => {
    this.#stats.bytesIn += chunk.length;
    this.#rx.data(chunk);
  };

  readonly #onEnd = (): void => this.#rx.end();

  readonly #onError = (err: Error): void => {
    this.#closeError ??= err;
    this.#rx.error(err);
  };

  readonly #onClose = (): void => {
    this.#socketClosed = true;
    this.#rx.closed();
    const err = this.#closedError();
    for (const w of this.#drainWaiters.splice(0)) w.reject(err);
    this.#resolveFlush();
    this.#resolveClosed(this.#closeError);
  };

  readonly #onDrain = (): void => {
    for (const w of this.#drainWaiters.splice(0)) w.resolve();
  };

  readonly #onWritten = (): void => {
    this.#writesInFlight--;
    if (this.#writesInFlight === 0) this.#resolveFlush();
  };

  constructor(socket: net.Socket, init: FramedConnectionInit) {
    this.side = init.side;
    this.#socket = socket;
    const parent = (socket as unknown as { _parent?: unknown })._parent;
    this.#raw = init.raw ?? (parent instanceof net.Socket ? parent : socket);
    this.#host = init.host;
    this.#rx = new FrameReceiver(resolveFramer(init.framers?.recv), init.readHighWaterMark ?? DEFAULT_READ_HWM, {
      pause: () => this.#socket.pause(),
      resume: () => this.#socket.resume(),
      isPaused: () => this.#socket.isPaused(),
    });
    this.#send = resolveFramer(init.framers?.send);
    this.localAddress = socketAddress(this.#raw, 'local', init.unixPath === undefined ? undefined : init.side === 'server' ? init.unixPath : '');
    this.remoteAddress = socketAddress(this.#raw, 'remote', init.unixPath === undefined ? undefined : init.side === 'client' ? init.unixPath : '');
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    applySocketOptions(this.#raw, withSocketDefaults(init.socket));
    if (socket.destroyed) {
      this.#socketClosed = true;
      this.#resolveClosed(undefined);
    } else {
      this.#attach(socket);
    }
  }

  // ---- receiving -------------------------------------------------------------------------------------------------

  /** The next frame, or `null` at the end of input. Rejects with a typed framing error or the socket error. */
  read(): Promise<Frame | null> {
    return this.#rx.read();
  }

  /**
   * Frames until the peer's FIN. Leaving the loop early (`break`) does not close the connection: iterate again
   * to continue with the next frame.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Frame> {
    const it: AsyncIterableIterator<Frame> = {
      next: async () => {
        const frame = await this.read();
        return frame === null ? { done: true, value: undefined } : { done: false, value: frame };
      },
      return: () => Promise.resolve({ done: true, value: undefined }),
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  /** The current framers. */
  get framers(): { send: Framer; recv: Framer } {
    return { send: this.#send, recv: this.#rx.framer };
  }

  /**
   * Replace the send and/or receive framer (Tendril's FrameSwitch). The new receive framer gets every byte the old
   * one held but had not returned as a frame, so the next `read()` continues exactly after the last frame read.
   */
  setFramers(framers: FramerPair): void {
    if (framers.send !== undefined) this.#send = resolveFramer(framers.send);
    if (framers.recv !== undefined) this.#rx.setFramer(resolveFramer(framers.recv));
  }

  /** Bytes received but not yet returned as frames (read-ahead plus the receive framer's buffer). */
  get bufferedBytes(): number {
    return this.#rx.bufferedBytes;
  }

  // ---- sending ---------------------------------------------------------------------------------------------------

  /**
   * Encode and write one frame (a string is sent as UTF-8). Returns false when the send buffer is full: stop
   * sending and `await drained()`. Throws when the connection was ended/closed, during startTls, or when the send
   * framer cannot encode the frame.
   */
  send(frame: Frame | string): boolean {
    if (this.#socketClosed || this.#socket.destroyed) throw streamError('ERR_STREAM_DESTROYED', 'send() on a closed connection');
    if (this.#ended) throw streamError('ERR_STREAM_WRITE_AFTER_END', 'send() after end()');
    if (this.#upgrading) throw streamError('ERR_INVALID_STATE', 'send() while startTls() is in progress');
    const bytes = this.#send.encode(typeof frame === 'string' ? Buffer.from(frame) : frame);
    this.#stats.framesOut++;
    this.#stats.bytesOut += bytes.length;
    this.#writesInFlight++;
    return this.#socket.write(bytes, this.#onWritten);
  }

  /** Resolves when the send buffer has drained (at once if it is not full); rejects if the connection closes first. */
  drained(): Promise<void> {
    if (!this.#socket.writableNeedDrain) return Promise.resolve();
    if (this.#socketClosed) return Promise.reject(this.#closedError());
    return new Promise((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
  }

  /** `send()` and, if the buffer is full, wait for it to drain. */
  async write(frame: Frame | string): Promise<void> {
    if (!this.send(frame)) await this.drained();
  }

  /** Bytes written but not yet handed to the OS. */
  get sendBufferedBytes(): number {
    return this.#socket.writableLength;
  }

  // ---- lifecycle -------------------------------------------------------------------------------------------------

  /** Half-close: send FIN (TLS: close_notify + FIN) after the queued bytes; frames can still be received. */
  end(): void {
    if (this.#ended || this.#socketClosed || this.#socket.destroyed) return;
    this.#ended = true;
    this.#socket.end();
  }

  /**
   * Graceful close: stop reading (pending readers get the end of input; unread input is discarded), send FIN after
   * the queued bytes, and wait for the peer's FIN. After `timeout` ms (default 30 s, 0 = wait forever) destroy.
   */
  async close(options: { timeout?: number } = {}): Promise<void> {
    if (!this.#socketClosed && !this.#socket.destroyed) {
      this.#rx.stop();
      if (this.#upgrading) {
        this.destroy();
      } else {
        this.end();
        this.#socket.resume();
        const ms = options.timeout ?? DEFAULT_CLOSE_TIMEOUT;
        if (ms > 0) {
          const timer = setTimeout(() => this.destroy(), ms);
          void this.closed.then(() => clearTimeout(timer));
        }
      }
    }
    await this.closed;
  }

  /** Close at once (queued outgoing bytes are dropped). Readers get `err`, or the end of input without one. */
  destroy(err?: Error): void {
    if (err !== undefined) {
      this.#closeError ??= err;
      this.#rx.fail(err);
    }
    this.#rx.stop();
    this.#socket.destroy();
    if (this.#raw !== this.#socket) this.#raw.destroy();
  }

  /** Abort with a TCP RST (the peer sees ECONNRESET). Unix sockets have no RST: they are simply destroyed. */
  resetAndDestroy(): void {
    this.#rx.stop();
    const raw = this.#raw;
    if (!raw.destroyed) {
      try {
        raw.resetAndDestroy();
      } catch {
        raw.destroy(); // not a TCP handle (Unix socket)
      }
    }
    if (this.#socket !== raw) this.#socket.destroy();
  }

  /** Change Nagle / keep-alive on the live socket. */
  setSocketOptions(options: FramedSocketOptions): void {
    applySocketOptions(this.#raw, options);
  }

  get stats(): ConnectionStats {
    this.#stats.framesIn = this.#rx.framesIn;
    return this.#stats;
  }

  /** True once the connection runs over TLS (from the start, or after startTls). */
  get encrypted(): boolean {
    return this.#socket instanceof tls.TLSSocket;
  }

  /** The TLS socket (peer certificate, ALPN, cipher...) when encrypted. Do not read or write it directly. */
  get tlsSocket(): tls.TLSSocket | undefined {
    return this.#socket instanceof tls.TLSSocket ? this.#socket : undefined;
  }

  // ---- STARTTLS --------------------------------------------------------------------------------------------------

  /**
   * Upgrade this plaintext connection to TLS in place (STARTTLS). Call it at the switch point: after the last
   * plaintext frame was read and the last plaintext frame sent (typically `await conn.write('OK')`). Queued
   * plaintext is flushed first; bytes already received but not read are handled per `options.unread` (default:
   * fed to TLS as ciphertext). Framers and stats are kept. On failure the connection is destroyed.
   */
  async startTls(options: StartTlsOptions): Promise<void> {
    const role = options.role ?? this.side;
    if (this.encrypted) throw streamError('ERR_INVALID_STATE', 'startTls(): the connection is already TLS');
    if (this.#upgrading) throw streamError('ERR_INVALID_STATE', 'startTls() is already in progress');
    if (this.#rx.fatal !== undefined) throw this.#rx.fatal;
    if (this.#socketClosed || this.#rx.stopped || this.#socket.destroyed) throw streamError('ERR_STREAM_DESTROYED', 'startTls() on a closed connection');
    if (this.#ended) throw streamError('ERR_STREAM_WRITE_AFTER_END', 'startTls() after end()');
    if (this.#rx.eof || this.#rx.readError) throw streamError('ERR_INVALID_STATE', 'startTls(): the peer has already closed its side');
    const unread = this.bufferedBytes;
    if (unread > 0 && options.unread === 'error') {
      throw new SwitchyardError(
        ErrorCodes.FRAME_MALFORMED,
        `startTls(): ${unread} bytes were received after the switch point, before the TLS handshake (plaintext injection?)`,
        { details: { unread } },
      );
    }
    const raw = this.#socket;
    this.#upgrading = true;
    this.#rx.hold(true);
    raw.pause();
    // Keep 'error' and 'close' on the raw socket until TLS takes over; stop taking data from it.
    raw.off('data', this.#onData);
    raw.off('end', this.#onEnd);
    raw.off('drain', this.#onDrain);
    try {
      // Plaintext already written (e.g. "OK") must leave before the first TLS byte.
      await this.#flushed();
      if (this.#socketClosed || raw.destroyed) throw this.#closedError();
      this.#onDrain(); // the send buffer is empty now
      // Unread bytes were sent by the peer after the switch point: they are TLS bytes (or an injection TLS rejects).
      const rest = this.#rx.takeUnread();
      if (rest.length > 0) raw.unshift(rest);
      const ctx = {
        host: this.#host,
        timeout: options.timeout ?? DEFAULT_TLS_TIMEOUT,
        signal: options.signal,
        target: formatAddress(this.remoteAddress),
      };
      const sock =
        role === 'client'
          ? await clientHandshake(raw, options.tls as tls.ConnectionOptions, ctx)
          : await serverHandshake(raw, options.tls as tls.TlsOptions, ctx);
      raw.off('error', this.#onError);
      raw.off('close', this.#onClose);
      this.#socket = sock;
      this.#upgrading = false;
      this.#attach(sock);
      this.#rx.hold(false);
    } catch (err) {
      this.#upgrading = false;
      this.#closeError ??= err as Error;
      this.#rx.fail(err);
      this.#rx.stop();
      this.#rx.hold(false);
      raw.destroy();
      throw err;
    }
  }

  // ---- internals -------------------------------------------------------------------------------------------------

  #attach(socket: net.Socket): void {
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    socket.on('drain', this.#onDrain);
  }

  #resolveFlush(): void {
    for (const f of this.#flushWaiters.splice(0)) f();
  }

  #flushed(): Promise<void> {
    if (this.#writesInFlight === 0 || this.#socketClosed) return Promise.resolve();
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  #closedError(): Error {
    return this.#closeError ?? streamError('ERR_STREAM_DESTROYED', 'the connection is closed');
  }
}
