/**
 * A WAMP transport carrying decoded messages: WebSocket (the `ws` package) or RawSocket (4-octet handshake,
 * 4-octet frame headers, PING/PONG), on either side (the proxy's frontend accepts them, its backend side opens
 * them). Limits are checked on headers, before a payload is buffered.
 */
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { frameBatched, type Serializer, splitBatched, type Subprotocol, type WampMessage } from './serializers.js';

export type TransportKind = 'websocket' | 'rawsocket';

export interface ChannelEvents {
  /** One decoded message (not checked beyond the serializer), with its bytes as received. */
  message(msg: unknown, raw: Buffer): void;
  /** Bytes that do not decode, or a frame breaking the transport's rules: the channel is failed after this. */
  invalid(reason: string): void;
  /** The transport is gone (once). */
  close(reason: string): void;
}

export abstract class WampChannel {
  abstract readonly transport: TransportKind;
  abstract readonly serializer: Serializer;
  /** `wamp.2.json`, `wamp.2.cbor.batched`, `rawsocket.cbor`, ... */
  abstract readonly protocolName: string;
  /** Messages dropped because they exceeded the peer's announced limit. */
  oversized = 0;
  #closed = false;
  #events: ChannelEvents = { message: () => undefined, invalid: () => undefined, close: () => undefined };

  on(events: ChannelEvents): void {
    this.#events = events;
  }

  protected emitMessage(data: Buffer): void {
    let msg: unknown;
    try {
      msg = this.serializer.decode(data);
    } catch (err) {
      this.emitInvalid(`undecodable ${this.serializer.name} message: ${(err as Error).message}`);
      return;
    }
    this.#events.message(msg, data);
  }

  protected emitInvalid(reason: string): void {
    if (this.#closed) return;
    this.#events.invalid(reason);
    this.destroy();
  }

  protected emitClose(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#events.close(reason);
  }

  get closed(): boolean {
    return this.#closed;
  }

  abstract send(msg: WampMessage): void;
  /**
   * Relay a message another channel decoded: its bytes as they are when both sides use the same encoding (no
   * re-encoding), else re-encoded.
   */
  abstract relay(msg: WampMessage, raw: Buffer, from: WampChannel): void;
  /** Close after what was sent has been flushed. */
  abstract close(): void;
  abstract destroy(): void;
  /** Bytes queued toward the peer. */
  abstract get buffered(): number;
  /** Stop reading from the peer (flow control); messages already received may still be delivered. */
  abstract pause(): void;
  /** Read from the peer again. */
  abstract resume(): void;
  abstract get remote(): string;
}

export class WsChannel extends WampChannel {
  readonly transport = 'websocket' as const;
  readonly serializer: Serializer;
  readonly protocolName: string;
  readonly #ws: WebSocket;
  readonly #batched: boolean;
  readonly #remote: string;

  constructor(ws: WebSocket, sub: Subprotocol, remote: string) {
    super();
    this.#ws = ws;
    this.serializer = sub.serializer;
    this.protocolName = sub.id;
    this.#batched = sub.batched;
    this.#remote = remote;
    ws.on('message', (data: Buffer | Buffer[] | ArrayBuffer, isBinary: boolean) => {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      if (isBinary !== this.serializer.binary) {
        this.emitInvalid(`${isBinary ? 'binary' : 'text'} WebSocket message on ${sub.id}`);
        return;
      }
      if (!this.#batched) {
        this.emitMessage(buf);
        return;
      }
      let parts: Buffer[];
      try {
        parts = splitBatched(this.serializer, buf);
      } catch (err) {
        this.emitInvalid((err as Error).message);
        return;
      }
      for (const p of parts) if (!this.closed) this.emitMessage(p);
    });
    ws.on('error', () => undefined);
    ws.on('close', (code: number, reason: Buffer) => this.emitClose(`WebSocket closed (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`));
  }

  send(msg: WampMessage): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    let data = this.serializer.encode(msg);
    if (this.#batched) data = frameBatched(this.serializer, data);
    this.#ws.send(data, { binary: this.serializer.binary });
  }

  relay(msg: WampMessage, raw: Buffer, from: WampChannel): void {
    if (from.serializer !== this.serializer || this.#batched || this.#ws.readyState !== WebSocket.OPEN) return this.send(msg);
    this.#ws.send(raw, { binary: this.serializer.binary });
  }

  close(): void {
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) this.#ws.close(1000);
    else this.destroy();
    // A peer that never answers the close handshake.
    setTimeout(() => this.destroy(), 2_000).unref();
  }

  destroy(): void {
    this.#ws.terminate();
  }

  get buffered(): number {
    return this.#ws.bufferedAmount;
  }

  pause(): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.pause();
  }

  resume(): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.resume();
  }

  get remote(): string {
    return this.#remote;
  }
}

/** RawSocket frame types (octet 0, low 3 bits). */
const FRAME_MESSAGE = 0;
const FRAME_PING = 1;
const FRAME_PONG = 2;

/** The RawSocket length exponent (0..15) announcing a receive limit ≤ `max` bytes. */
export function lengthExponent(max: number): number {
  return Math.max(0, Math.min(15, Math.floor(Math.log2(Math.max(512, max))) - 9));
}

/** Error reply codes of the RawSocket handshake. */
export const RAWSOCKET_ERRORS: Readonly<Record<number, string>> = {
  1: 'serializer unsupported',
  2: 'maximum message length unacceptable',
  3: 'use of reserved bits (unsupported feature)',
  4: 'maximum connection count reached',
};

/** A RawSocket connection after the handshake. */
export class RawSocketChannel extends WampChannel {
  readonly transport = 'rawsocket' as const;
  readonly serializer: Serializer;
  readonly protocolName: string;
  readonly #socket: Socket;
  /** What we accept per message. */
  readonly #maxIn: number;
  /** What the peer accepts per message. */
  readonly #maxOut: number;
  #chunks: Buffer[] = [];
  #have = 0;
  /** Header of the frame being read (undefined: waiting for a header). */
  #frame: { type: number; length: number } | undefined;
  readonly #remote: string;

  constructor(socket: Socket, serializer: Serializer, limits: { maxIn: number; maxOut: number }, initial?: Buffer) {
    super();
    this.#socket = socket;
    this.serializer = serializer;
    this.protocolName = `rawsocket.${serializer.name}`;
    this.#maxIn = limits.maxIn;
    this.#maxOut = limits.maxOut;
    this.#remote = socket.remoteAddress === undefined ? 'unix' : `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('data', (d: Buffer) => this.#data(d));
    socket.on('error', () => undefined);
    socket.on('close', () => this.emitClose('connection closed'));
    if (initial && initial.length > 0) this.#data(initial);
  }

  #data(d: Buffer): void {
    this.#chunks.push(d);
    this.#have += d.length;
    for (;;) {
      if (this.closed || this.#socket.destroyed) return;
      if (this.#frame === undefined) {
        if (this.#have < 4) return;
        const head = this.#take(4);
        const b0 = head[0]!;
        if (b0 >> 4 !== 0) return this.emitInvalid('RawSocket frame with reserved bits set');
        const type = b0 & 0x07;
        const length = (b0 & 0x08 ? 0x1000000 : 0) + head.readUIntBE(1, 3);
        if (type > FRAME_PONG) return this.emitInvalid(`RawSocket frame of reserved type ${type}`);
        if (length > this.#maxIn) return this.emitInvalid(`RawSocket message of ${length} bytes exceeds the limit of ${this.#maxIn}`);
        this.#frame = { type, length };
      }
      const f = this.#frame;
      if (this.#have < f.length) return;
      const payload = this.#take(f.length);
      this.#frame = undefined;
      if (f.type === FRAME_MESSAGE) this.emitMessage(payload);
      else if (f.type === FRAME_PING) this.#write(FRAME_PONG, payload);
    }
  }

  #take(n: number): Buffer {
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#have);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#have = rest.length;
    return out;
  }

  #write(type: number, payload: Buffer): void {
    const head = Buffer.alloc(4);
    head[0] = type | (payload.length === 0x1000000 ? 0x08 : 0);
    head.writeUIntBE(payload.length & 0xffffff, 1, 3);
    this.#socket.cork();
    this.#socket.write(head);
    this.#socket.write(payload);
    process.nextTick(() => this.#socket.uncork());
  }

  send(msg: WampMessage): void {
    if (this.#socket.destroyed || !this.#socket.writable) return;
    const data = this.serializer.encode(msg);
    if (data.length > this.#maxOut) {
      this.oversized++;
      return;
    }
    this.#write(FRAME_MESSAGE, data);
  }

  relay(msg: WampMessage, raw: Buffer, from: WampChannel): void {
    if (from.serializer !== this.serializer) return this.send(msg);
    if (this.#socket.destroyed || !this.#socket.writable) return;
    if (raw.length > this.#maxOut) {
      this.oversized++;
      return;
    }
    this.#write(FRAME_MESSAGE, raw);
  }

  close(): void {
    this.#socket.end();
    setTimeout(() => this.destroy(), 2_000).unref();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  get buffered(): number {
    return this.#socket.writableLength;
  }

  pause(): void {
    if (!this.#socket.destroyed) this.#socket.pause();
  }

  resume(): void {
    if (!this.#socket.destroyed) this.#socket.resume();
  }

  get remote(): string {
    return this.#remote;
  }
}
