/** The client side of a frame-level HTTP/2 connection toward an upstream (h2c with prior knowledge). */
import type { Socket } from 'node:net';
import { ErrorCode, H2Error, PREFACE } from './codec.js';
import { H2Connection, type ConnectionOptions, type H2Stream, type StreamSink } from './connection.js';

export interface ClientEvents {
  /** The peer's first SETTINGS arrived (its SETTINGS_MAX_CONCURRENT_STREAMS is known). */
  onReady(): void;
  /** GOAWAY received or sent: no new streams on it. */
  onDraining(): void;
  onClose(): void;
}

export class ClientConnection extends H2Connection {
  #nextId = 1;
  readonly #events: ClientEvents;
  #ready = false;

  constructor(socket: Socket, options: ConnectionOptions, events: ClientEvents) {
    super(socket, false, options);
    this.#events = events;
    this.push(PREFACE);
    this.sendSettings();
  }

  /** Room for another stream: the peer's limit, stream ids left, no GOAWAY. */
  get available(): boolean {
    return !this.destroyed && !this.goawaySent && this.goawayReceived === undefined && this.streams.size < this.peerMaxStreams && this.#nextId < 0x7fff_fff0;
  }

  /** Open a stream with its request header block (pseudo-headers first). */
  request(fields: readonly string[], endStream: boolean, sink: StreamSink): H2Stream {
    if (this.destroyed) throw new H2Error(ErrorCode.INTERNAL_ERROR, 'the connection is closed');
    const id = this.#nextId;
    this.#nextId += 2;
    const s = this.addStream(id);
    s.sink = sink;
    this.sendHeaders(s, fields, endStream);
    return s;
  }

  protected ownsStream(id: number): boolean {
    return id % 2 === 1;
  }

  protected nextOwnStream(): number {
    return this.#nextId;
  }

  protected newStreamHeaders(id: number, _fields: string[], _endStream: boolean): void {
    if (id % 2 === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `HEADERS on server-initiated stream ${id}`);
    if (id >= this.#nextId) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `HEADERS on idle stream ${id}`);
    // a stream we closed already: ignored
  }

  protected override onSettings(): void {
    if (this.#ready) return;
    this.#ready = true;
    this.#events.onReady();
  }

  protected override onDraining(): void {
    this.#events.onDraining();
  }

  protected override onGone(): void {
    this.#events.onClose();
  }
}
