/**
 * One HTTP/2 connection of the frame-level engine (RFC 9113), either side: the frame reader, SETTINGS, PING,
 * GOAWAY, header blocks (HEADERS + CONTINUATION, HPACK), stream states, and flow control both ways. DATA is passed
 * on as the frames' payloads; a stream's receive window is given back (WINDOW_UPDATE) only for bytes its owner
 * reports consumed (written onward), so a stalled reader holds its sender back. The connection window is given
 * back as DATA arrives (each stream's own window bounds what it may hold).
 */
import type { Socket } from 'node:net';
import { HpackDecoder, HpackEncoder } from './hpack.js';
import {
  DEFAULT_MAX_FRAME, DEFAULT_WINDOW, ErrorCode, Flag, FrameReader, FrameType, H2Error, MAX_WINDOW, PREFACE, Setting,
  frameHeader, goawayFrame, headersFrames, pingFrame, rstFrame, settingsFrame, unpad, windowUpdateFrame, type Frame,
} from './codec.js';

/** What a stream's owner hears from the peer. */
export interface StreamSink {
  /** A header block (`fields`: flat name, value pairs). */
  onHeaders(fields: string[], endStream: boolean): void;
  /** DATA payload (without padding); the owner calls {@link H2Stream.consumed} once it is written onward. */
  onData(data: Buffer, endStream: boolean): void;
  /** The stream was reset by the peer (`lost` false) or its connection went away (`lost` true). */
  onReset(code: number, lost: boolean): void;
}

export interface ConnectionOptions {
  /** Our SETTINGS_INITIAL_WINDOW_SIZE (each stream's receive window). */
  readonly streamWindow: number;
  /** Our connection receive window. */
  readonly connectionWindow: number;
  /** Our SETTINGS_MAX_CONCURRENT_STREAMS (server side). */
  readonly maxConcurrentStreams?: number;
  readonly maxHeaderListSize?: number;
  /**
   * Give the connection window back only for DATA consumed (written onward), like each stream's: bounds what one
   * peer may make us hold to the connection window (the server side). Else it is given back as DATA arrives (the
   * upstream side: one slow client must not hold an upstream connection shared by others).
   */
  readonly connectionAckOnConsume?: boolean;
}

/** Socket bytes waiting to be written past which queued DATA waits for 'drain'. */
const SOCKET_HIGH_WATER = 256 * 1024;
/** A header block larger than this (HEADERS + CONTINUATION) is refused: ENHANCE_YOUR_CALM. */
const MAX_HEADER_BLOCK = 256 * 1024;

export class H2Stream {
  readonly id: number;
  readonly conn: H2Connection;
  sink: StreamSink | undefined;
  /** What we may send on it (the peer's window). */
  sendWindow: number;
  /** Receive bytes the peer may still send before our WINDOW_UPDATE. */
  recvWindow: number;
  /** Received bytes consumed but not yet given back. */
  unacked = 0;
  /** END_STREAM received / sent; reset (either way). */
  remoteEnded = false;
  localEnded = false;
  reset = false;
  /** Our response/request headers went out; the peer's arrived. */
  headersSent = false;
  headersReceived = false;
  /** DATA waiting for window or socket room, then the end: trailers, or END_STREAM on the last DATA. */
  readonly queue: Buffer[] = [];
  queuedBytes = 0;
  endQueued = false;
  trailersQueued: string[] | undefined;
  /** Called with the byte count of each DATA payload written to the socket (the source then consumes them). */
  onSent: ((n: number) => void) | undefined;
  /** The peer's RST_STREAM code, when it reset the stream. */
  rstCode: number | undefined;

  constructor(conn: H2Connection, id: number, sendWindow: number, recvWindow: number) {
    this.conn = conn;
    this.id = id;
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  get closed(): boolean {
    return this.reset || (this.localEnded && this.remoteEnded);
  }

  /** `n` received DATA bytes were written onward: give the window back (in batches). */
  consumed(n: number): void {
    this.conn.consume(this, n);
  }
}

export abstract class H2Connection {
  readonly socket: Socket;
  readonly streams = new Map<number, H2Stream>();
  protected readonly options: ConnectionOptions;
  readonly #reader = new FrameReader();
  protected readonly decoder: HpackDecoder;
  protected readonly encoder = new HpackEncoder({ maxTableSize: 4096 });
  /** The peer's settings. */
  peerMaxStreams = 0x7fff_ffff;
  peerInitialWindow = DEFAULT_WINDOW;
  peerMaxFrame = DEFAULT_MAX_FRAME;
  /** Connection windows: ours toward the peer, and what the peer may still send us. */
  #sendWindow = DEFAULT_WINDOW;
  #connUnacked = 0;
  /** DATA octets received and not yet given back on the connection (checked against our connection window). */
  #connRecv = 0;
  /** The peer's SETTINGS arrived at least once. */
  peerSettingsSeen = false;
  /** The highest stream id the peer opened (GOAWAY's last-stream-id on our side). */
  lastPeerStream = 0;
  /** We sent or got GOAWAY: no new streams. */
  goawaySent = false;
  goawayReceived: number | undefined;
  destroyed = false;
  /** A header block in progress (HEADERS without END_HEADERS). */
  #block: { stream: number; flags: number; parts: Buffer[]; size: number } | undefined;
  readonly #out: Buffer[] = [];
  #flushScheduled = false;
  readonly #blocked = new Set<H2Stream>();
  #prefaceLeft: number;
  readonly #isServer: boolean;

  constructor(socket: Socket, isServer: boolean, options: ConnectionOptions) {
    this.socket = socket;
    this.#isServer = isServer;
    this.options = options;
    this.#prefaceLeft = isServer ? PREFACE.length : 0;
    this.decoder = new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: options.maxHeaderListSize ?? 64 * 1024 });
    socket.on('data', (chunk: Buffer) => this.#onBytes(chunk));
    socket.on('drain', () => this.#pump());
    socket.on('error', () => undefined);
    socket.on('close', () => this.#lost());
    socket.on('end', () => this.#lost());
  }

  /** Our SETTINGS and connection WINDOW_UPDATE (the client side sends the preface before them). */
  protected sendSettings(): void {
    const pairs: [number, number][] = [
      [Setting.ENABLE_PUSH, 0],
      [Setting.INITIAL_WINDOW_SIZE, this.options.streamWindow],
    ];
    if (this.options.maxConcurrentStreams !== undefined) pairs.push([Setting.MAX_CONCURRENT_STREAMS, this.options.maxConcurrentStreams]);
    if (this.options.maxHeaderListSize !== undefined) pairs.push([Setting.MAX_HEADER_LIST_SIZE, this.options.maxHeaderListSize]);
    this.push(settingsFrame(pairs));
    if (this.options.connectionWindow > DEFAULT_WINDOW) this.push(windowUpdateFrame(0, this.options.connectionWindow - DEFAULT_WINDOW));
  }

  // ---- writing ----

  protected push(...bufs: Buffer[]): void {
    for (const b of bufs) this.#out.push(b);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  flush(): void {
    this.#flushScheduled = false;
    const out = this.#out;
    if (out.length === 0 || this.destroyed) {
      out.length = 0;
      return;
    }
    const s = this.socket;
    if (out.length === 1) s.write(out[0]!);
    else {
      s.cork();
      for (const b of out) s.write(b);
      s.uncork();
    }
    out.length = 0;
  }

  /** Send a header block on a stream (response/request headers, or trailers with `endStream`). */
  sendHeaders(stream: H2Stream, fields: readonly string[], endStream: boolean): void {
    if (stream.closed || stream.localEnded || this.destroyed) return;
    if (endStream && stream.headersSent && (stream.queue.length > 0 || this.#blocked.has(stream))) {
      // trailers after queued DATA
      stream.trailersQueued = [...fields];
      stream.endQueued = true;
      return;
    }
    stream.headersSent = true;
    const block = this.encoder.encode(fields);
    const frames: Buffer[] = [];
    headersFrames(stream.id, block, endStream, this.peerMaxFrame, frames);
    this.push(...frames);
    if (endStream) this.#endLocal(stream);
  }

  /** Send DATA now when the windows and the socket allow, else queue it (in order). */
  sendData(stream: H2Stream, data: Buffer, endStream: boolean): void {
    if (stream.closed || stream.localEnded || stream.endQueued || this.destroyed) return;
    if (stream.queue.length === 0 && data.length <= stream.sendWindow && data.length <= this.#sendWindow && this.socket.writableLength < SOCKET_HIGH_WATER) {
      this.#writeData(stream, data, endStream);
      return;
    }
    if (data.length > 0) {
      stream.queue.push(data);
      stream.queuedBytes += data.length;
    }
    if (endStream) stream.endQueued = true;
    this.#blocked.add(stream);
    this.#pump();
  }

  /** DATA frames for `data` (split at the peer's max frame size); windows already checked. */
  #writeData(stream: H2Stream, data: Buffer, endStream: boolean): void {
    const n = data.length;
    stream.sendWindow -= n;
    this.#sendWindow -= n;
    const max = this.peerMaxFrame;
    if (n <= max) this.push(frameHeader(n, FrameType.DATA, endStream ? Flag.END_STREAM : 0, stream.id), data);
    else {
      for (let off = 0; off < n; off += max) {
        const part = data.subarray(off, Math.min(n, off + max));
        const last = off + max >= n;
        this.push(frameHeader(part.length, FrameType.DATA, last && endStream ? Flag.END_STREAM : 0, stream.id), part);
      }
    }
    if (n > 0) stream.onSent?.(n);
    if (endStream) this.#endLocal(stream);
  }

  /** Send what queued streams' windows allow, round robin, until the socket is full. */
  #pump(): void {
    if (this.#blocked.size === 0 || this.destroyed) return;
    let progress = true;
    while (progress && this.#blocked.size > 0 && this.socket.writableLength < SOCKET_HIGH_WATER) {
      progress = false;
      for (const s of this.#blocked) {
        if (s.closed || this.destroyed) {
          this.#blocked.delete(s);
          continue;
        }
        if (s.queue.length > 0) {
          const room = Math.min(s.sendWindow, this.#sendWindow, 4 * this.peerMaxFrame);
          if (room <= 0) continue;
          let head = s.queue[0]!;
          if (head.length > room) {
            s.queue[0] = head.subarray(room);
            head = head.subarray(0, room);
          } else s.queue.shift();
          s.queuedBytes -= head.length;
          const end = s.queue.length === 0 && s.endQueued && s.trailersQueued === undefined;
          this.#writeData(s, head, end);
          progress = true;
          if (this.socket.writableLength >= SOCKET_HIGH_WATER) break;
        }
        if (s.queue.length === 0) {
          this.#blocked.delete(s);
          if (s.endQueued && !s.localEnded) {
            const t = s.trailersQueued;
            s.trailersQueued = undefined;
            s.endQueued = false;
            if (t) this.sendHeaders(s, t, true);
            else this.#writeData(s, Buffer.alloc(0), true);
          }
        }
      }
    }
    this.flush();
  }

  /** Reset a stream (RST_STREAM `code`); its sink hears nothing more. */
  resetStream(stream: H2Stream, code: number): void {
    if (stream.reset || this.destroyed) return;
    const wasClosed = stream.closed;
    stream.reset = true;
    stream.sink = undefined;
    this.#dropQueue(stream);
    if (!wasClosed) this.push(rstFrame(stream.id, code));
    this.#close(stream);
  }

  consume(stream: H2Stream, n: number): void {
    if (this.destroyed) return;
    if (this.options.connectionAckOnConsume) this.#ackConnection(n);
    if (stream.reset || stream.remoteEnded) return;
    stream.unacked += n;
    if (stream.unacked >= this.options.streamWindow >>> 2) {
      this.push(windowUpdateFrame(stream.id, stream.unacked));
      stream.recvWindow += stream.unacked;
      stream.unacked = 0;
    }
  }

  /** `n` octets of the connection window given back (in batches of a quarter window). */
  #ackConnection(n: number): void {
    this.#connUnacked += n;
    if (this.#connUnacked >= this.options.connectionWindow >>> 2) {
      this.push(windowUpdateFrame(0, this.#connUnacked));
      this.#connRecv -= this.#connUnacked;
      this.#connUnacked = 0;
    }
  }

  /** Graceful GOAWAY (NO_ERROR): streams in flight finish, no new ones; the socket closes when the last ends. */
  goaway(code: number = ErrorCode.NO_ERROR, debug = ''): void {
    if (this.destroyed) return;
    if (!this.goawaySent) {
      this.goawaySent = true;
      this.push(goawayFrame(this.lastPeerStream, code, debug));
    }
    this.onDraining();
    this.#maybeEnd();
  }

  /** Close now: every stream's sink hears `lost`. */
  destroy(): void {
    if (this.destroyed) return;
    this.flush();
    this.destroyed = true;
    this.#reader.stop();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.#lost();
  }

  /** DATA queued on a stream that will never be sent: its source gets the window back (its reader moves on). */
  #dropQueue(stream: H2Stream): void {
    const n = stream.queuedBytes;
    stream.queue.length = 0;
    stream.queuedBytes = 0;
    stream.endQueued = false;
    stream.trailersQueued = undefined;
    this.#blocked.delete(stream);
    if (n > 0) stream.onSent?.(n);
    stream.onSent = undefined;
  }

  #endLocal(stream: H2Stream): void {
    stream.localEnded = true;
    if (stream.closed) this.#close(stream);
  }

  #close(stream: H2Stream): void {
    if (this.streams.get(stream.id) === stream) {
      this.streams.delete(stream.id);
      this.#blocked.delete(stream);
      this.onStreamClosed(stream);
      this.#maybeEnd();
    }
  }

  #maybeEnd(): void {
    if ((this.goawaySent || this.goawayReceived !== undefined) && this.streams.size === 0 && !this.destroyed) {
      this.flush();
      this.destroyed = true;
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
      this.#lost();
    }
  }

  #gone = false;

  #lost(): void {
    this.destroyed = true;
    if (this.#gone) return;
    this.#gone = true;
    this.#blocked.clear();
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const s of streams) {
      const sink = s.sink;
      s.sink = undefined;
      s.reset = true;
      this.#dropQueue(s);
      this.onStreamClosed(s);
      sink?.onReset(ErrorCode.CANCEL, true);
    }
    this.onGone();
  }

  /** A connection error: GOAWAY with its code, then close. */
  protected fail(err: H2Error): void {
    if (this.destroyed) return;
    this.push(goawayFrame(this.lastPeerStream, err.code, err.message.slice(0, 200)));
    this.goawaySent = true;
    this.onProtocolError(err);
    this.destroy();
  }

  // ---- reading ----

  #onBytes(chunk: Buffer): void {
    if (this.destroyed) return;
    if (this.#prefaceLeft > 0) {
      const n = Math.min(this.#prefaceLeft, chunk.length);
      const at = PREFACE.length - this.#prefaceLeft;
      if (!chunk.subarray(0, n).equals(PREFACE.subarray(at, at + n))) {
        this.fail(new H2Error(ErrorCode.PROTOCOL_ERROR, 'bad connection preface: not HTTP/2 prior knowledge (PRI * HTTP/2.0)'));
        return;
      }
      this.#prefaceLeft -= n;
      if (n === chunk.length) return;
      chunk = chunk.subarray(n);
    }
    try {
      this.#reader.push(chunk, (f) => this.#frame(f));
    } catch (err) {
      if (err instanceof H2Error) this.fail(err);
      else this.fail(new H2Error(ErrorCode.INTERNAL_ERROR, (err as Error).message));
    }
    this.flush();
  }

  #frame(f: Frame): void {
    if (this.destroyed) return;
    if (!this.peerSettingsSeen && f.type !== FrameType.SETTINGS) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'the first frame after the preface must be SETTINGS');
    if (this.#block && f.type !== FrameType.CONTINUATION) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'a header block was interrupted by another frame before END_HEADERS');
    switch (f.type) {
      case FrameType.DATA:
        return this.#data(f);
      case FrameType.HEADERS:
        return this.#headers(f);
      case FrameType.CONTINUATION:
        return this.#continuation(f);
      case FrameType.PRIORITY:
        if (f.stream === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (f.payload.length !== 5) this.#streamError(f.stream, ErrorCode.FRAME_SIZE_ERROR);
        return;
      case FrameType.RST_STREAM:
        return this.#rst(f);
      case FrameType.SETTINGS:
        return this.#settings(f);
      case FrameType.PUSH_PROMISE:
        throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE is not allowed (SETTINGS_ENABLE_PUSH is 0)');
      case FrameType.PING:
        if (f.stream !== 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'PING on a stream other than 0');
        if (f.payload.length !== 8) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, `PING of ${f.payload.length} octets (must be 8)`);
        if (!(f.flags & Flag.ACK)) this.push(pingFrame(Buffer.from(f.payload), true));
        return;
      case FrameType.GOAWAY:
        return this.#goaway(f);
      case FrameType.WINDOW_UPDATE:
        return this.#windowUpdate(f);
      default:
        return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  #settings(f: Frame): void {
    if (f.stream !== 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream other than 0');
    if (f.flags & Flag.ACK) {
      if (f.payload.length !== 0) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ack with a payload');
      return;
    }
    if (f.payload.length % 6 !== 0) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, `SETTINGS of ${f.payload.length} octets (not a multiple of 6)`);
    this.peerSettingsSeen = true;
    let windowDelta = 0;
    for (let off = 0; off < f.payload.length; off += 6) {
      const id = f.payload.readUInt16BE(off);
      const v = f.payload.readUInt32BE(off + 2);
      switch (id) {
        case Setting.HEADER_TABLE_SIZE:
          this.encoder.setMaxTableSize(Math.min(v, 4096));
          break;
        case Setting.ENABLE_PUSH:
          if (v > 1) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${v} (must be 0 or 1)`);
          if (v === 1 && !this.#isServer) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'a server sent SETTINGS_ENABLE_PUSH 1');
          break;
        case Setting.MAX_CONCURRENT_STREAMS:
          this.peerMaxStreams = v;
          break;
        case Setting.INITIAL_WINDOW_SIZE:
          if (v > MAX_WINDOW) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${v} is over 2^31-1`);
          windowDelta += v - this.peerInitialWindow;
          this.peerInitialWindow = v;
          break;
        case Setting.MAX_FRAME_SIZE:
          if (v < DEFAULT_MAX_FRAME || v > 0xff_ffff) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${v} out of range`);
          this.peerMaxFrame = v;
          break;
        default:
          break; // unknown settings are ignored
      }
    }
    if (windowDelta !== 0) {
      // RFC 9113 §6.9.2: every open stream's send window moves by the difference (it may go negative).
      for (const s of this.streams.values()) {
        s.sendWindow += windowDelta;
        if (s.sendWindow > MAX_WINDOW) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE overflowed a stream window');
      }
    }
    this.push(settingsFrame([], true));
    this.onSettings();
    if (windowDelta > 0) this.#pump();
  }

  #windowUpdate(f: Frame): void {
    if (f.payload.length !== 4) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, `WINDOW_UPDATE of ${f.payload.length} octets (must be 4)`);
    const inc = f.payload.readUInt32BE(0) & MAX_WINDOW;
    if (f.stream === 0) {
      if (inc === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE with an increment of 0');
      this.#sendWindow += inc;
      if (this.#sendWindow > MAX_WINDOW) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, 'the connection window went over 2^31-1');
      this.#pump();
      return;
    }
    this.#checkKnown(f.stream, 'WINDOW_UPDATE');
    const s = this.streams.get(f.stream);
    if (inc === 0) {
      this.#streamError(f.stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (!s) return;
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) {
      this.#streamError(f.stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    if (s.queue.length > 0 || s.endQueued) this.#pump();
  }

  #rst(f: Frame): void {
    if (f.stream === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (f.payload.length !== 4) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, `RST_STREAM of ${f.payload.length} octets (must be 4)`);
    this.#checkKnown(f.stream, 'RST_STREAM');
    const s = this.streams.get(f.stream);
    if (!s) return;
    const code = f.payload.readUInt32BE(0);
    s.rstCode = code;
    s.reset = true;
    this.#dropQueue(s);
    const sink = s.sink;
    s.sink = undefined;
    this.#close(s);
    sink?.onReset(code, false);
  }

  #goaway(f: Frame): void {
    if (f.stream !== 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream other than 0');
    if (f.payload.length < 8) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY shorter than 8 octets');
    const last = f.payload.readUInt32BE(0) & MAX_WINDOW;
    this.goawayReceived = last;
    this.onDraining();
    // Our streams above last-stream-id were not processed: they fail as refused (safe to retry).
    for (const s of [...this.streams.values()]) {
      if (s.id > last && this.ownsStream(s.id)) {
        const sink = s.sink;
        s.sink = undefined;
        s.reset = true;
        this.#dropQueue(s);
        this.#close(s);
        sink?.onReset(ErrorCode.REFUSED_STREAM, true);
      }
    }
    this.#maybeEnd();
  }

  #data(f: Frame): void {
    if (f.stream === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    const len = f.payload.length;
    // Every DATA frame counts against the connection window: given back at once, or (connectionAckOnConsume) as
    // its payload is consumed, padding and frames of closed streams at once.
    this.#connRecv += len;
    if (this.#connRecv > this.options.connectionWindow) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, 'DATA over the connection window');
    const ackNow = (n: number): void => this.#ackConnection(n);
    if (!this.options.connectionAckOnConsume) ackNow(len);
    this.#checkKnown(f.stream, 'DATA');
    const s = this.streams.get(f.stream);
    const dropped = (): void => {
      if (this.options.connectionAckOnConsume) ackNow(len);
    };
    if (!s) return dropped(); // a closed stream (we reset it, or it ended): ignored (RFC 9113 §5.1)
    if (s.remoteEnded) {
      dropped();
      this.#streamError(f.stream, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (!s.headersReceived) {
      dropped();
      this.#streamError(f.stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (len > s.recvWindow) {
      dropped();
      this.#streamError(f.stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    s.recvWindow -= len;
    const data = unpad(f);
    const padding = len - data.length;
    if (padding > 0) {
      s.unacked += padding;
      if (this.options.connectionAckOnConsume) ackNow(padding);
    }
    const end = (f.flags & Flag.END_STREAM) !== 0;
    if (end) {
      s.remoteEnded = true;
      if (s.closed) this.#close(s);
    }
    s.sink?.onData(data, end);
  }

  #headers(f: Frame): void {
    if (f.stream === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let p = unpad(f);
    if (f.flags & Flag.PRIORITY) {
      if (p.length < 5) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS with PRIORITY shorter than 5 octets');
      if ((p.readUInt32BE(0) & MAX_WINDOW) === f.stream) this.#streamError(f.stream, ErrorCode.PROTOCOL_ERROR);
      p = p.subarray(5);
    }
    if (f.flags & Flag.END_HEADERS) this.#fieldBlock(f.stream, f.flags, [p]);
    else this.#block = { stream: f.stream, flags: f.flags, parts: [Buffer.from(p)], size: p.length };
  }

  #continuation(f: Frame): void {
    const b = this.#block;
    if (!b || b.stream !== f.stream) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without a header block in progress on its stream');
    b.parts.push(Buffer.from(f.payload));
    b.size += f.payload.length;
    if (b.size > MAX_HEADER_BLOCK) throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, `header block over ${MAX_HEADER_BLOCK} octets`);
    if (f.flags & Flag.END_HEADERS) {
      this.#block = undefined;
      this.#fieldBlock(b.stream, b.flags, b.parts);
    }
  }

  #fieldBlock(id: number, flags: number, parts: Buffer[]): void {
    let fields: string[];
    try {
      fields = this.decoder.decode(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    } catch (err) {
      throw new H2Error(ErrorCode.COMPRESSION_ERROR, `bad HPACK header block: ${(err as Error).message}`);
    }
    const end = (flags & Flag.END_STREAM) !== 0;
    const s = this.streams.get(id);
    if (s) {
      if (s.remoteEnded) {
        this.#streamError(id, ErrorCode.STREAM_CLOSED);
        return;
      }
      s.headersReceived = true;
      if (end) {
        s.remoteEnded = true;
        if (s.closed) this.#close(s);
      }
      s.sink?.onHeaders(fields, end);
      return;
    }
    this.newStreamHeaders(id, fields, end);
  }

  /** A stream id we have not seen (open): connection error when it is one of ours never opened or an idle one of the peer's. */
  #checkKnown(id: number, what: string): void {
    if (this.ownsStream(id) ? id >= this.nextOwnStream() : id > this.lastPeerStream) {
      throw new H2Error(ErrorCode.PROTOCOL_ERROR, `${what} on idle stream ${id}`);
    }
  }

  #streamError(id: number, code: number): void {
    const s = this.streams.get(id);
    if (s) {
      const sink = s.sink;
      this.resetStream(s, code);
      sink?.onReset(code, false);
    } else this.push(rstFrame(id, code));
  }

  /** Register a stream (its windows from the settings in force). */
  protected addStream(id: number): H2Stream {
    const s = new H2Stream(this, id, this.peerInitialWindow, this.options.streamWindow);
    this.streams.set(id, s);
    return s;
  }

  // ---- hooks ----
  protected abstract ownsStream(id: number): boolean;
  protected abstract nextOwnStream(): number;
  protected abstract newStreamHeaders(id: number, fields: string[], endStream: boolean): void;
  protected onSettings(): void {}
  protected onDraining(): void {}
  protected onStreamClosed(_s: H2Stream): void {}
  protected onProtocolError(_err: H2Error): void {}
  protected onGone(): void {}
}
