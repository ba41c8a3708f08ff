/** The server side of a frame-level HTTP/2 connection: a client's streams (odd ids, increasing), handed to `onStream`. */
import type { Socket } from 'node:net';
import { ErrorCode, H2Error, rstFrame } from './codec.js';
import { H2Connection, type ConnectionOptions, type H2Stream } from './connection.js';

export interface ServerHandler {
  /** A new request stream: its header block (flat name, value pairs, validated) and whether it ended the stream. */
  onStream(conn: ServerConnection, stream: H2Stream, fields: string[], endStream: boolean): void;
  /** The connection is gone (closed, or failed). */
  onClose(conn: ServerConnection): void;
  /** A connection error we answered with GOAWAY (logged by the owner). */
  onError?(conn: ServerConnection, err: H2Error): void;
}

/** Connection-specific header fields HTTP/2 forbids in requests (RFC 9113 §8.2.2). */
const CONNECTION_FIELDS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** Why a request header block is malformed (RFC 9113 §8.3.1), or undefined when it is well formed. */
export function malformedRequest(fields: readonly string[]): string | undefined {
  let regular = false;
  let method = false;
  let path = false;
  let scheme = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.length === 0) return 'an empty field name';
    if (name !== name.toLowerCase()) return `an upper-case field name "${name}"`;
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return `pseudo-header ${name} after a regular field`;
      if (name === ':method') method = true;
      else if (name === ':path') path = fields[i + 1]!.length > 0;
      else if (name === ':scheme') scheme = true;
      else if (name !== ':authority') return `unknown pseudo-header ${name}`;
      continue;
    }
    regular = true;
    if (CONNECTION_FIELDS.has(name)) return `connection-specific field "${name}"`;
    if (name === 'te' && fields[i + 1] !== 'trailers') return 'te other than "trailers"';
  }
  if (!method || !path || !scheme) return 'missing :method, :scheme or :path';
  return undefined;
}

export class ServerConnection extends H2Connection {
  readonly #handler: ServerHandler;
  readonly #maxStreams: number;

  constructor(socket: Socket, options: ConnectionOptions, handler: ServerHandler) {
    super(socket, true, options);
    this.#handler = handler;
    this.#maxStreams = options.maxConcurrentStreams ?? 100;
    this.sendSettings();
  }

  protected ownsStream(id: number): boolean {
    return id % 2 === 0;
  }

  protected nextOwnStream(): number {
    return 2;
  }

  protected newStreamHeaders(id: number, fields: string[], endStream: boolean): void {
    if (id % 2 === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `HEADERS on even stream id ${id} (a client's streams are odd)`);
    if (id <= this.lastPeerStream) return; // a stream we closed already: ignored
    this.lastPeerStream = id;
    if (this.goawaySent || this.streams.size >= this.#maxStreams) {
      this.push(rstFrame(id, ErrorCode.REFUSED_STREAM));
      return;
    }
    if (malformedRequest(fields) !== undefined) {
      this.push(rstFrame(id, ErrorCode.PROTOCOL_ERROR));
      return;
    }
    const s = this.addStream(id);
    s.headersReceived = true;
    if (endStream) s.remoteEnded = true;
    this.#handler.onStream(this, s, fields, endStream);
  }

  protected override onProtocolError(err: H2Error): void {
    this.#handler.onError?.(this, err);
  }

  protected override onGone(): void {
    this.#handler.onClose(this);
  }
}
