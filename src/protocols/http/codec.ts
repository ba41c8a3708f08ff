/**
 * The HTTP/1.1 codec: a request framer (client → server) and a response framer (server → client) sharing one
 * per-connection state (FIFO of pending requests, keep-alive, tunnel switch). Frames are wire-exact slices:
 * - a message head is one frame (`start`; `end` too when the message has no body);
 * - body bytes follow as frames of at most `maxBodyFrame` bytes (and never more than what has arrived), chunked
 *   bodies including their chunk framing and trailers; `end` on the last;
 * - after a 101 Switching Protocols or a 2xx answer to CONNECT, both directions are opaque: one frame per chunk.
 */
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { BufferedFramer, READ_HEADROOM } from '../../framing/buffered-framer.js';
import type { Frame } from '../../framing/framer.js';
import type { Attributes, ErrorReply, ErrorReplyRequest, MessageInfo, ProtocolCodec, ProtocolFramer } from '../protocol.js';
import { buildErrorReply, randomErrorStatuses } from './error-reply.js';
import { CR, CRLFCRLF, HT, LF, SP, TCHAR, checkTrailerLine, malformed, parseRequestHead, parseResponseHead } from './head.js';

export interface HttpCodecOptions {
  /** Largest message head (request line / status line + header fields + blank line), and largest trailer section. */
  maxHeaderSize: number;
  /** Largest body frame emitted (chunk-size lines and trailers may add a few bytes to a chunked body frame). */
  maxBodyFrame: number;
}

/** One request the server has yet to answer (pushed when its head is framed). */
export interface PendingRequest {
  /** Method exactly as sent. */
  readonly method: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly minor: number;
  /** The client allows the connection to persist after this exchange. */
  readonly keepAlive: boolean;
  /** Upgrade request (Connection: upgrade + Upgrade) or CONNECT: a 101 / 2xx turns the connection into a tunnel. */
  readonly switching: boolean;
  readonly expectContinue: boolean;
  /** The request's last frame has been framed. */
  bodyDone: boolean;
}

/** Shared per-connection state. */
export class HttpConnectionState {
  /** Requests framed but not yet answered by a final response, oldest first. */
  readonly pending: PendingRequest[] = [];
  /** The request whose start frame the request framer returned last. */
  last: PendingRequest | undefined;
  /**
   * Request start attributes → their request: a fault stage may answer a request after the framer has moved on to
   * later pipelined ones, and names it by the attributes object its start frame carried.
   */
  readonly byAttributes = new WeakMap<Attributes, PendingRequest>();
  /** An Upgrade/CONNECT request waiting for its answer: the request framer holds later bytes until it arrives. */
  switchWait: PendingRequest | undefined;
  /** Both directions are an opaque tunnel now. */
  opaque = false;
  /** The connection persists after the current exchanges (false once either side asked to close). */
  keepAlive = true;
  /** The server asked to close (or sent a close-delimited body): no exchange after the current one. */
  serverClose = false;

  /** Forget a request the server will never see (answered by the proxy's error reply). */
  drop(req: PendingRequest): void {
    const i = this.pending.lastIndexOf(req);
    if (i >= 0) this.pending.splice(i, 1);
    if (this.switchWait === req) this.switchWait = undefined;
  }
}

const enum Mode {
  Head,
  Length,
  Chunked,
  /** Response body delimited by the end of the connection. */
  Close,
  /** A close-delimited body ended: nothing can follow. */
  Done,
}

const enum Chunk {
  Size,
  Data,
  DataEnd,
  Trailer,
}

const OPAQUE: MessageInfo = { start: true, end: true, opaque: true };
const BODY: MessageInfo = { start: false, end: false };
const BODY_END: MessageInfo = { start: false, end: true };
const RESP_HEAD: MessageInfo = { start: true, end: false };
const RESP_WHOLE: MessageInfo = { start: true, end: true };
const UNSOL_HEAD: MessageInfo = { start: true, end: false, unsolicited: true };
const UNSOL_WHOLE: MessageInfo = { start: true, end: true, unsolicited: true };
const UNSOL_BODY: MessageInfo = { start: false, end: false, unsolicited: true };
const UNSOL_BODY_END: MessageInfo = { start: false, end: true, unsolicited: true };
const EMPTY = Buffer.alloc(0);

/** Upper case without a new string when already upper case (the common case). */
function upper(method: string): string {
  for (let i = 0; i < method.length; i++) {
    const c = method.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) return method.toUpperCase();
  }
  return method;
}

/** Shared decoding of heads and bodies; subclasses parse their own head and choose the body mode. */
abstract class HttpFramer extends BufferedFramer implements ProtocolFramer {
  readonly name = 'http';
  readonly passthrough = false;
  info: MessageInfo | undefined;
  protected mode: Mode = Mode.Head;
  /** Length mode: body bytes left; Chunked/Data: bytes left in the current chunk. */
  protected remaining = 0;
  private chunk: Chunk = Chunk.Size;
  private trailerBytes = 0;
  /** Bytes at the head of the buffer already known to hold no CRLFCRLF. */
  private scanned = 0;
  /** The current message answers no request (response framer only). */
  protected unsolicitedMessage = false;

  protected constructor(
    protected readonly state: HttpConnectionState,
    protected readonly options: HttpCodecOptions,
    private readonly what: 'request' | 'response',
  ) {
    super(Math.max(options.maxHeaderSize, options.maxBodyFrame) + READ_HEADROOM);
  }

  encode(frame: Frame): Buffer {
    return frame;
  }

  protected override resetDecodeState(): void {
    this.scanned = 0;
  }

  /** One chunk per frame once the connection is a tunnel. */
  protected opaqueFrame(): Frame | null {
    const f = this.buf.consumeChunk();
    if (f.length === 0) return null;
    this.info = OPAQUE;
    return f;
  }

  /**
   * Take a complete head off the buffer, or null when more bytes are needed. `lead` leading CRLFs (ignored before a
   * request line) are part of the head frame.
   */
  protected takeHead(lead: number): Buffer | null {
    const buf = this.buf;
    const from = this.scanned > lead + 3 ? this.scanned - 3 : lead;
    const at = buf.indexOf(CRLFCRLF, from);
    const limit = this.options.maxHeaderSize;
    if (at < 0) {
      const held = buf.length - lead;
      if (held > limit) throw this.tooLarge(held);
      this.scanned = buf.length;
      if (this.ended && buf.length > 0) {
        throw new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `http: input ended inside a ${this.what} head (${buf.length} bytes without the blank line)`, {
          details: { protocol: 'http', buffered: buf.length },
        });
      }
      return null;
    }
    const size = at + 4 - lead;
    if (size > limit) throw this.tooLarge(size);
    this.scanned = 0;
    return buf.consume(at + 4);
  }

  private tooLarge(size: number): SwitchyardError {
    return new SwitchyardError(
      ErrorCodes.FRAME_TOO_LARGE,
      `http: ${this.what} head of ${size}+ bytes exceeds maxHeaderSize (${this.options.maxHeaderSize} bytes)`,
      { details: { protocol: 'http', size, limit: this.options.maxHeaderSize } },
    );
  }

  protected truncated(message: string): SwitchyardError {
    return new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `http: input ended inside a ${this.what} ${message}`, { details: { protocol: 'http' } });
  }

  /** Enter the body mode chosen by a head; `chunked` or a positive length. */
  protected startBody(chunked: boolean, length: number): void {
    if (chunked) {
      this.mode = Mode.Chunked;
      this.chunk = Chunk.Size;
      this.trailerBytes = 0;
    } else {
      this.mode = Mode.Length;
      this.remaining = length;
    }
  }

  /** Called when a body's last frame is returned. */
  protected bodyDone(): void {
    this.mode = Mode.Head;
  }

  private bodyInfo(end: boolean): MessageInfo {
    if (this.unsolicitedMessage) return end ? UNSOL_BODY_END : UNSOL_BODY;
    return end ? BODY_END : BODY;
  }

  protected lengthFrame(): Frame | null {
    const held = this.buf.length;
    if (held === 0) {
      if (this.ended) throw this.truncated(`body (${this.remaining} bytes of Content-Length missing)`);
      return null;
    }
    const take = Math.min(held, this.remaining, this.options.maxBodyFrame);
    const f = this.buf.consume(take);
    this.remaining -= take;
    const end = this.remaining === 0;
    this.info = this.bodyInfo(end);
    if (end) this.bodyDone();
    return f;
  }

  /** Close-delimited response body: everything up to EOF; on EOF a final (possibly empty) frame with `end`. */
  protected closeFrame(): Frame | null {
    const held = this.buf.length;
    if (held === 0) {
      if (!this.ended) return null;
      this.mode = Mode.Done;
      this.info = this.bodyInfo(true);
      return EMPTY;
    }
    const f = this.buf.consume(Math.min(held, this.options.maxBodyFrame));
    const end = this.ended && this.buf.length === 0;
    this.info = this.bodyInfo(end);
    if (end) this.mode = Mode.Done;
    return f;
  }

  /**
   * Chunked body: walk the chunk structure over the held bytes (size lines, data, CRLFs, last chunk, trailers) and
   * return the walked bytes as one frame, stopping at `maxBodyFrame` bytes or where more input is needed.
   */
  protected chunkedFrame(): Frame | null {
    const buf = this.buf;
    const len = buf.length;
    const max = this.options.maxBodyFrame;
    const lineLimit = this.options.maxHeaderSize;
    let pos = 0;
    let done = false;
    scan: while (pos < len && pos < max) {
      switch (this.chunk) {
        case Chunk.Size: {
          const lf = buf.indexOf(LF, pos);
          if (lf < 0) {
            if (len - pos > lineLimit) throw malformed(`${this.what} body: chunk-size line longer than ${lineLimit} bytes`);
            break scan;
          }
          if (lf === pos || buf.byteAt(lf - 1) !== CR) throw malformed(`${this.what} body: chunk-size line ends in a bare LF (CRLF required)`);
          if (lf - pos > lineLimit) throw malformed(`${this.what} body: chunk-size line longer than ${lineLimit} bytes`);
          const size = this.chunkSize(pos, lf - 1);
          pos = lf + 1;
          if (size === 0) {
            this.chunk = Chunk.Trailer;
          } else {
            this.remaining = size;
            this.chunk = Chunk.Data;
          }
          break;
        }
        case Chunk.Data: {
          const take = Math.min(this.remaining, len - pos, max - pos);
          pos += take;
          this.remaining -= take;
          if (this.remaining === 0) this.chunk = Chunk.DataEnd;
          break;
        }
        case Chunk.DataEnd: {
          if (len - pos < 2) {
            if (buf.byteAt(pos) !== CR) throw malformed(`${this.what} body: chunk data not followed by CRLF`);
            break scan;
          }
          if (buf.byteAt(pos) !== CR || buf.byteAt(pos + 1) !== LF) throw malformed(`${this.what} body: chunk data not followed by CRLF`);
          pos += 2;
          this.chunk = Chunk.Size;
          break;
        }
        case Chunk.Trailer: {
          const lf = buf.indexOf(LF, pos);
          if (lf < 0) {
            if (this.trailerBytes + len - pos > lineLimit) throw malformed(`${this.what} body: trailer section larger than maxHeaderSize (${lineLimit} bytes)`);
            break scan;
          }
          if (lf === pos || buf.byteAt(lf - 1) !== CR) throw malformed(`${this.what} body: trailer line ends in a bare LF (CRLF required)`);
          this.trailerBytes += lf + 1 - pos;
          if (this.trailerBytes > lineLimit) throw malformed(`${this.what} body: trailer section larger than maxHeaderSize (${lineLimit} bytes)`);
          if (lf === pos + 1) {
            pos = lf + 1;
            done = true;
            break scan;
          }
          checkTrailerLine(buf.peek(pos, lf - 1), this.what);
          pos = lf + 1;
          break;
        }
      }
    }
    if (pos === 0) {
      if (this.ended) throw this.truncated('chunked body');
      return null;
    }
    const f = buf.consume(pos);
    this.info = this.bodyInfo(done);
    if (done) this.bodyDone();
    return f;
  }

  /** The chunk size of the size line at [from, cr): hex digits, then optional BWS and chunk extensions. */
  private chunkSize(from: number, cr: number): number {
    const buf = this.buf;
    let size = 0;
    let i = from;
    for (; i < cr; i++) {
      const c = buf.byteAt(i);
      let d: number;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
      else break;
      size = size * 16 + d;
      if (size > Number.MAX_SAFE_INTEGER) throw malformed(`${this.what} body: chunk size too large`);
    }
    if (i === from) throw malformed(`${this.what} body: invalid chunk size ${JSON.stringify(buf.peek(from, Math.min(cr, from + 40)).toString('latin1'))}`);
    let j = i;
    while (j < cr && (buf.byteAt(j) === SP || buf.byteAt(j) === HT)) j++;
    if (j < cr) {
      if (buf.byteAt(j) !== 0x3b) throw malformed(`${this.what} body: invalid chunk size ${JSON.stringify(buf.peek(from, Math.min(cr, from + 40)).toString('latin1'))}`);
      for (let k = j; k < cr; k++) {
        const c = buf.byteAt(k);
        if ((c < SP && c !== HT) || c === 0x7f) throw malformed(`${this.what} body: control character in chunk extension`);
      }
    }
    return size;
  }
}

/** Client → server. */
export class HttpRequestFramer extends HttpFramer {
  private current: PendingRequest | undefined;

  constructor(state: HttpConnectionState, options: HttpCodecOptions) {
    super(state, options, 'request');
  }

  protected decodeOne(): Frame | null {
    if (this.state.opaque) return this.opaqueFrame();
    switch (this.mode) {
      case Mode.Head:
        return this.head();
      case Mode.Length:
        return this.lengthFrame();
      case Mode.Chunked:
        return this.chunkedFrame();
      default:
        return null;
    }
  }

  protected override bodyDone(): void {
    super.bodyDone();
    if (this.current) this.current.bodyDone = true;
  }

  private head(): Frame | null {
    const buf = this.buf;
    if (buf.length === 0) return null;
    if (this.state.switchWait) {
      // bytes after an Upgrade/CONNECT request: tunnel data or the next request, known once the answer arrives
      if (this.ended) throw this.truncated('exchange: bytes after an Upgrade/CONNECT request that was not answered yet');
      return null;
    }
    // empty lines before a request line are ignored (RFC 9112 §2.2); they travel in the head frame
    let lead = 0;
    while (lead + 1 < buf.length && buf.byteAt(lead) === CR && buf.byteAt(lead + 1) === LF) lead += 2;
    if (lead < buf.length && TCHAR[buf.byteAt(lead)] !== 1 && buf.byteAt(lead) !== CR) {
      throw malformed(`request does not start with a method (first byte 0x${buf.byteAt(lead).toString(16).padStart(2, '0')})`);
    }
    const h = this.takeHead(lead);
    if (h === null) return null;
    const r = parseRequestHead(h, lead);
    const f = r.fields;
    if (f.hasTransferEncoding && !f.chunked) throw malformed('request Transfer-Encoding does not end in chunked (body length unknown)');
    const method = r.method;
    const connect = method === 'CONNECT';
    const keepAlive = r.minor === 1 ? !f.close : f.keepAlive && !f.close;
    const req: PendingRequest = {
      method,
      minor: r.minor,
      keepAlive,
      switching: connect || (f.upgrade && f.connectionUpgrade),
      expectContinue: f.expectContinue,
      bodyDone: false,
    };
    if (!keepAlive) this.state.keepAlive = false;
    this.state.pending.push(req);
    this.state.last = req;
    if (req.switching) this.state.switchWait = req;
    this.current = req;
    let end = true;
    if (f.chunked) end = false;
    else if (f.contentLength > 0) end = false;
    if (!end) this.startBody(f.chunked, f.contentLength);
    else req.bodyDone = true;
    const attributes: Attributes = { method: upper(method), path: r.path, query: r.query, host: f.host, version: r.minor === 1 ? '1.1' : '1.0' };
    this.state.byAttributes.set(attributes, req);
    this.info = { start: true, end, attributes };
    return h;
  }
}

/** Server → client. */
export class HttpResponseFramer extends HttpFramer {
  constructor(state: HttpConnectionState, options: HttpCodecOptions) {
    super(state, options, 'response');
  }

  protected decodeOne(): Frame | null {
    if (this.state.opaque) return this.opaqueFrame();
    switch (this.mode) {
      case Mode.Head:
        return this.head();
      case Mode.Length:
        return this.lengthFrame();
      case Mode.Chunked:
        return this.chunkedFrame();
      case Mode.Close:
        return this.closeFrame();
      default:
        return null;
    }
  }

  private head(): Frame | null {
    const buf = this.buf;
    if (buf.length === 0) return null;
    if (buf.byteAt(0) !== 0x48) throw malformed(`response does not start with "HTTP/" (first byte 0x${buf.byteAt(0).toString(16).padStart(2, '0')})`);
    const h = this.takeHead(0);
    if (h === null) return null;
    const r = parseResponseHead(h);
    const f = r.fields;
    const state = this.state;
    const status = r.status;
    if (status < 200) {
      if (status === 101) {
        // Switching Protocols: the final answer to an Upgrade request; a tunnel from here on
        const req = state.pending.shift();
        state.switchWait = undefined;
        state.opaque = true;
        this.info = req ? RESP_WHOLE : UNSOL_WHOLE;
        return h;
      }
      this.info = UNSOL_WHOLE; // 100 Continue, 102, 103 Early Hints: interim, the request still waits
      return h;
    }
    const req = state.pending.shift();
    if (req !== undefined && req === state.switchWait) state.switchWait = undefined;
    const unsolicited = req === undefined;
    this.unsolicitedMessage = unsolicited;
    if (req?.method === 'CONNECT' && status < 300) {
      state.opaque = true;
      this.info = RESP_WHOLE;
      return h;
    }
    if (f.close || (r.minor === 0 && !f.keepAlive) || (req !== undefined && req.minor === 0 && !f.keepAlive)) {
      state.keepAlive = false;
      state.serverClose = true;
    }
    let end = false;
    if (req?.method === 'HEAD' || status === 204 || status === 304) end = true;
    else if (f.hasTransferEncoding) {
      if (f.chunked) this.startBody(true, 0);
      else this.closeDelimited();
    } else if (f.contentLength >= 0) {
      if (f.contentLength === 0) end = true;
      else this.startBody(false, f.contentLength);
    } else this.closeDelimited();
    this.info = unsolicited ? (end ? UNSOL_WHOLE : UNSOL_HEAD) : end ? RESP_WHOLE : RESP_HEAD;
    return h;
  }

  private closeDelimited(): void {
    this.mode = Mode.Close;
    this.state.keepAlive = false;
    this.state.serverClose = true;
  }
}

/** One connection's HTTP/1.x codec. */
export class HttpCodec implements ProtocolCodec {
  readonly state = new HttpConnectionState();
  readonly toUpstream: HttpRequestFramer;
  readonly toDownstream: HttpResponseFramer;

  constructor(options: HttpCodecOptions) {
    this.toUpstream = new HttpRequestFramer(this.state, options);
    this.toDownstream = new HttpResponseFramer(this.state, options);
  }

  /** True while the connection may persist after the current exchanges. */
  get keepAlive(): boolean {
    return this.state.keepAlive;
  }

  errorReply(request: ErrorReplyRequest): ErrorReply {
    return buildErrorReply(this.state, request);
  }

  errorStatuses(request: Attributes | undefined): readonly number[] | undefined {
    return randomErrorStatuses(request);
  }
}
