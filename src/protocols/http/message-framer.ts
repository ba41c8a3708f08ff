/** What both HTTP framers share: taking a head off the buffer and decoding bodies (Content-Length, chunked, close-delimited). */
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { BufferedFramer, READ_HEADROOM } from '../../framing/buffered-framer.js';
import type { Frame } from '../../framing/framer.js';
import type { MessageInfo, ProtocolFramer } from '../protocol.js';
import type { HttpConnectionState } from './connection-state.js';
import { CR, CRLFCRLF, HT, LF, SP, checkTrailerLine, malformed } from './head.js';

export interface HttpCodecOptions {
  /** Largest message head (request line / status line + header fields + blank line), and largest trailer section. */
  maxHeaderSize: number;
  /** Largest body frame emitted (chunk-size lines and trailers may add a few bytes to a chunked body frame). */
  maxBodyFrame: number;
}

export const enum Mode {
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

export const OPAQUE: MessageInfo = { start: true, end: true, opaque: true };
const BODY: MessageInfo = { start: false, end: false };
const BODY_END: MessageInfo = { start: false, end: true };

const UNSOL_BODY: MessageInfo = { start: false, end: false, unsolicited: true };
const UNSOL_BODY_END: MessageInfo = { start: false, end: true, unsolicited: true };
const EMPTY = Buffer.alloc(0);

/** Shared decoding of heads and bodies; subclasses parse their own head and choose the body mode. */
export abstract class HttpFramer extends BufferedFramer implements ProtocolFramer {
  readonly name = 'http';
  readonly passthrough = false;
  info: MessageInfo | undefined;
  protected mode: Mode = Mode.Head;

  /** True while the next bytes belong to a message head (not a body). */
  get readingHead(): boolean {
    return this.mode === Mode.Head;
  }
  /** Length mode: body bytes left; Chunked/Data: bytes left in the current chunk. */
  protected remaining = 0;
  #chunk: Chunk = Chunk.Size;
  #trailerBytes = 0;
  /** Bytes at the head of the buffer already known to hold no CRLFCRLF. */
  #scanned = 0;
  /** The current message answers no request (response framer only). */
  protected unsolicitedMessage = false;
  readonly #what: 'request' | 'response';

  protected constructor(
    protected readonly state: HttpConnectionState,
    protected readonly options: HttpCodecOptions,
    what: 'request' | 'response',
  ) {
    super(Math.max(options.maxHeaderSize, options.maxBodyFrame) + READ_HEADROOM);
    this.#what = what;
  }

  encode(frame: Frame): Buffer {
    return frame;
  }

  protected override resetDecodeState(): void {
    this.#scanned = 0;
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
    const from = this.#scanned > lead + 3 ? this.#scanned - 3 : lead;
    const at = buf.indexOf(CRLFCRLF, from);
    const limit = this.options.maxHeaderSize;
    if (at < 0) {
      const held = buf.length - lead;
      if (held > limit) throw this.#tooLarge(held);
      this.#scanned = buf.length;
      if (this.ended && buf.length > 0) {
        throw new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `http: input ended inside a ${this.#what} head (${buf.length} bytes without the blank line)`, {
          details: { protocol: 'http', buffered: buf.length },
        });
      }
      return null;
    }
    const size = at + 4 - lead;
    if (size > limit) throw this.#tooLarge(size);
    this.#scanned = 0;
    return buf.consume(at + 4);
  }

  /**
   * Take a head byte for byte equal to `known` off the buffer when the buffered bytes start with it, or null. `known` is
   * a head that parsed (its only CRLFCRLF is its end: every CRLF of a head that parses ends a line, and an empty line
   * ends the head), so this is the head {@link takeHead} would find, without searching for its end.
   */
  protected takeKnownHead(known: Buffer): Buffer | null {
    const n = known.length;
    const buf = this.buf;
    if (n > this.options.maxHeaderSize || n > buf.length) return null;
    // a head of another length rarely has its blank line's LF exactly where the known one has: no view, no compare
    if (buf.byteAt(n - 1) !== LF || buf.byteAt(0) !== known[0]) return null;
    const h = buf.headView(n);
    if (h === undefined || !h.equals(known)) return null;
    this.buf.skip(n);
    this.#scanned = 0;
    return h;
  }

  #tooLarge(size: number): SwitchyardError {
    return new SwitchyardError(
      ErrorCodes.FRAME_TOO_LARGE,
      `http: ${this.#what} head of ${size}+ bytes exceeds maxHeaderSize (${this.options.maxHeaderSize} bytes)`,
      { details: { protocol: 'http', size, limit: this.options.maxHeaderSize } },
    );
  }

  protected truncated(message: string): SwitchyardError {
    return new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `http: input ended inside a ${this.#what} ${message}`, { details: { protocol: 'http' } });
  }

  /** Enter the body mode chosen by a head; `chunked` or a positive length. */
  protected startBody(chunked: boolean, length: number): void {
    if (chunked) {
      this.mode = Mode.Chunked;
      this.#chunk = Chunk.Size;
      this.#trailerBytes = 0;
    } else {
      this.mode = Mode.Length;
      this.remaining = length;
    }
  }

  /** Called when a body's last frame is returned. */
  protected bodyDone(): void {
    this.mode = Mode.Head;
  }

  #bodyInfo(end: boolean): MessageInfo {
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
    this.info = this.#bodyInfo(end);
    if (end) this.bodyDone();
    return f;
  }

  /** Close-delimited response body: everything up to EOF; on EOF a final (possibly empty) frame with `end`. */
  protected closeFrame(): Frame | null {
    const held = this.buf.length;
    if (held === 0) {
      if (!this.ended) return null;
      this.mode = Mode.Done;
      this.info = this.#bodyInfo(true);
      return EMPTY;
    }
    const f = this.buf.consume(Math.min(held, this.options.maxBodyFrame));
    const end = this.ended && this.buf.length === 0;
    this.info = this.#bodyInfo(end);
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
      switch (this.#chunk) {
        case Chunk.Size: {
          const lf = buf.indexOf(LF, pos);
          if (lf < 0) {
            if (len - pos > lineLimit) throw malformed(`${this.#what} body: chunk-size line longer than ${lineLimit} bytes`);
            break scan;
          }
          if (lf === pos || buf.byteAt(lf - 1) !== CR) throw malformed(`${this.#what} body: chunk-size line ends in a bare LF (CRLF required)`);
          if (lf - pos > lineLimit) throw malformed(`${this.#what} body: chunk-size line longer than ${lineLimit} bytes`);
          const size = this.#chunkSize(pos, lf - 1);
          pos = lf + 1;
          if (size === 0) {
            this.#chunk = Chunk.Trailer;
          } else {
            this.remaining = size;
            this.#chunk = Chunk.Data;
          }
          break;
        }
        case Chunk.Data: {
          const take = Math.min(this.remaining, len - pos, max - pos);
          pos += take;
          this.remaining -= take;
          if (this.remaining === 0) this.#chunk = Chunk.DataEnd;
          break;
        }
        case Chunk.DataEnd: {
          if (len - pos < 2) {
            if (buf.byteAt(pos) !== CR) throw malformed(`${this.#what} body: chunk data not followed by CRLF`);
            break scan;
          }
          if (buf.byteAt(pos) !== CR || buf.byteAt(pos + 1) !== LF) throw malformed(`${this.#what} body: chunk data not followed by CRLF`);
          pos += 2;
          this.#chunk = Chunk.Size;
          break;
        }
        case Chunk.Trailer: {
          const lf = buf.indexOf(LF, pos);
          if (lf < 0) {
            if (this.#trailerBytes + len - pos > lineLimit) throw malformed(`${this.#what} body: trailer section larger than maxHeaderSize (${lineLimit} bytes)`);
            break scan;
          }
          if (lf === pos || buf.byteAt(lf - 1) !== CR) throw malformed(`${this.#what} body: trailer line ends in a bare LF (CRLF required)`);
          this.#trailerBytes += lf + 1 - pos;
          if (this.#trailerBytes > lineLimit) throw malformed(`${this.#what} body: trailer section larger than maxHeaderSize (${lineLimit} bytes)`);
          if (lf === pos + 1) {
            pos = lf + 1;
            done = true;
            break scan;
          }
          checkTrailerLine(buf.peek(pos, lf - 1), this.#what);
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
    this.info = this.#bodyInfo(done);
    if (done) this.bodyDone();
    return f;
  }

  /** The chunk size of the size line at [from, cr): hex digits, then optional BWS and chunk extensions. */
  #chunkSize(from: number, cr: number): number {
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
      if (size > Number.MAX_SAFE_INTEGER) throw malformed(`${this.#what} body: chunk size too large`);
    }
    if (i === from) throw malformed(`${this.#what} body: invalid chunk size ${JSON.stringify(buf.peek(from, Math.min(cr, from + 40)).toString('latin1'))}`);
    let j = i;
    while (j < cr && (buf.byteAt(j) === SP || buf.byteAt(j) === HT)) j++;
    if (j < cr) {
      if (buf.byteAt(j) !== 0x3b) throw malformed(`${this.#what} body: invalid chunk size ${JSON.stringify(buf.peek(from, Math.min(cr, from + 40)).toString('latin1'))}`);
      for (let k = j; k < cr; k++) {
        const c = buf.byteAt(k);
        if ((c < SP && c !== HT) || c === 0x7f) throw malformed(`${this.#what} body: control character in chunk extension`);
      }
    }
    return size;
  }
}
