import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { BufferedFramer, READ_HEADROOM } from '../../framing/buffered-framer.js';
import type { Frame } from '../../framing/framer.js';
import type { Attributes, ErrorReply, ErrorReplyRequest, MessageInfo, ProtocolCodec, ProtocolFramer, RefusalReason } from '../protocol.js';

export interface SmtpCodecOptions {
  maxFrame: number;
  maxLine: number;
  maxBufferedBytes?: number | undefined;
}

const CR = 0x0d;
const LF = 0x0a;
const MID: MessageInfo = { start: false, end: false };
const END: MessageInfo = { start: false, end: true };
const WHOLE: MessageInfo = { start: true, end: true };
const START: MessageInfo = { start: true, end: false };
const UNSOLICITED_WHOLE: MessageInfo = { start: true, end: true, unsolicited: true };
const UNSOLICITED_START: MessageInfo = { start: true, end: false, unsolicited: true };
const OPAQUE: MessageInfo = { start: true, end: true, opaque: true };
/** Connection setup (`MessageInfo.setup`): the greeting exchange, TLS upgrade and authentication. */
const SETUP = new Set(['EHLO', 'HELO', 'LHLO', 'STARTTLS', 'AUTH', 'AUTH-DATA']);
/** The module's declared list (docs, `GET /api/v1/protocols`). */
export const SMTP_SETUP: readonly string[] = ['EHLO', 'HELO', 'LHLO', 'STARTTLS', 'AUTH (and its continuation lines, AUTH-DATA)'];
/** End of a DATA body: CRLF . CRLF (the first CRLF may be the one ending the DATA command). */
const TERMINATOR = Buffer.from('\r\n.\r\n', 'latin1');
const BODY_ATTRIBUTES: Attributes = { command: 'DATA-BODY' };

function malformed(message: string): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_MALFORMED, `smtp: ${message}`, { details: { protocol: 'smtp' } });
}

function tooLarge(what: string, limitName: string, limit: number): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_TOO_LARGE, `smtp: ${what} exceeds ${limitName} (${limit})`, {
    details: { protocol: 'smtp', limit, limitName },
  });
}

interface Pending {
  readonly command: string;
}

class SmtpState {
  readonly queue: Pending[] = [];
  last: { entry: Pending; replaced: boolean } | undefined;
  /** Request start attributes → their record: a fault stage may answer a request after later pipelined ones were framed. */
  readonly byAttributes = new WeakMap<Attributes, { entry: Pending; replaced: boolean }>();
  /** The first reply of a session is the greeting. */
  greeted = false;
  /** DATA was answered 354: the client's next bytes are the message body. */
  bodyNext = false;
  /** A 334 challenge was sent: the client's next line answers it (AUTH). */
  authContinue = false;
  /** STARTTLS was answered 220: both directions are TLS from now on. */
  opaque = false;
}

abstract class SmtpFramerBase extends BufferedFramer implements ProtocolFramer {
  readonly name = 'smtp';
  readonly passthrough = false;
  info: MessageInfo | undefined;
  protected readonly maxFrame: number;
  protected readonly maxLine: number;
  protected scan = 0;
  protected started = false;
  protected inMessage = false;

  constructor(
    protected readonly state: SmtpState,
    options: SmtpCodecOptions,
  ) {
    super(options.maxBufferedBytes ?? options.maxFrame + options.maxLine + 2 * READ_HEADROOM);
    this.maxFrame = options.maxFrame;
    this.maxLine = options.maxLine;
  }

  encode(frame: Frame): Buffer {
    return frame;
  }

  encodeTo(frame: Frame, out: Buffer[]): void {
    out.push(frame);
  }

  protected override resetDecodeState(): void {
    this.scan = 0;
    this.started = false;
    this.inMessage = false;
  }

  /** The line at `scan`: its text without line end and the position after it; undefined when incomplete. */
  protected readLine(what: string): { text: string; next: number } | undefined {
    const buf = this.buf;
    const from = this.scan;
    const lf = buf.indexOf(LF, from);
    if (lf < 0) {
      if (buf.length - from > this.maxLine + 1) throw tooLarge(`${what} line of ${buf.length - from}+ bytes`, 'maxLine', this.maxLine);
      return undefined;
    }
    const end = lf > from && buf.byteAt(lf - 1) === CR ? lf - 1 : lf;
    if (end - from > this.maxLine) throw tooLarge(`${what} line of ${end - from} bytes`, 'maxLine', this.maxLine);
    return { text: buf.peek(from, Math.min(end, from + 1024)).toString('latin1'), next: lf + 1 };
  }

  protected opaqueChunk(): Frame | null {
    if (this.buf.length === 0) return null;
    this.info = OPAQUE;
    return this.buf.consumeChunk();
  }

  protected needMore(what: string): null {
    if (this.ended && (this.buf.length > 0 || this.inMessage)) {
      throw new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `smtp: input ended inside ${what} (${this.buf.length} bytes held)`, {
        details: { protocol: 'smtp', buffered: this.buf.length },
      });
    }
    return null;
  }

  protected emit(len: number, end: boolean, startInfo: MessageInfo): Frame {
    const frame = this.buf.consume(len);
    this.scan = 0;
    if (!this.started) {
      this.started = true;
      this.info = end && !startInfo.end ? { ...startInfo, end: true } : startInfo;
    } else this.info = end ? END : MID;
    if (end) this.inMessage = false;
    return frame;
  }
}

// ------------------------------------------------------------------------------------------------------------------
// client → server

class SmtpRequestFramer extends SmtpFramerBase {
  #mode: 'line' | 'body' | 'bdat' = 'line';
  #startInfo: MessageInfo = START;
  /** body: the previous frame ended where a terminator may start; position from which to search again. */
  #searchFrom = 0;
  #bodyFresh = false;
  /** bdat: chunk bytes still to come, and the chunk size. */
  #dataLeft = 0;
  #bdatSize = 0;

  protected override resetDecodeState(): void {
    super.resetDecodeState();
    this.#searchFrom = 0;
  }

  protected decodeOne(): Frame | null {
    const st = this.state;
    if (st.opaque && !this.inMessage) return this.opaqueChunk();
    if (!this.inMessage) {
      if (st.bodyNext) {
        st.bodyNext = false;
        this.inMessage = true;
        this.started = false;
        this.#mode = 'body';
        this.#bodyFresh = true;
        this.#searchFrom = 0;
        this.#startInfo = this.#startRequest('DATA-BODY', BODY_ATTRIBUTES);
      } else {
        const line = this.readLine('command');
        if (!line) return this.needMore('a command line');
        this.inMessage = true;
        this.started = false;
        this.scan = line.next;
        return this.#command(line.text);
      }
    }
    if (this.#mode === 'body') return this.#body();
    return this.#bdat();
  }

  #command(text: string): Frame | null {
    const st = this.state;
    if (st.authContinue) {
      st.authContinue = false;
      this.#startInfo = this.#startRequest('AUTH-DATA', { command: 'AUTH-DATA' });
      return this.emit(this.scan, true, this.#startInfo);
    }
    const sp = text.indexOf(' ');
    const verb = (sp < 0 ? text : text.slice(0, sp)).toUpperCase();
    const attributes: Record<string, string | number> = { command: verb };
    if (verb === 'MAIL' || verb === 'RCPT') {
      const m = /^(?:MAIL\s+FROM|RCPT\s+TO):\s*<([^>]*)>/i.exec(text);
      if (m) attributes['address'] = m[1] ?? '';
    }
    if (verb === 'BDAT') {
      const size = /^BDAT\s+(\d{1,15})(?:\s|$)/i.exec(text);
      if (!size) throw malformed(`BDAT without a valid chunk size: ${JSON.stringify(text.slice(0, 60))}`);
      this.#dataLeft = Number(size[1]);
      this.#bdatSize = this.#dataLeft;
      this.#mode = 'bdat';
      this.#startInfo = this.#startRequest(verb, attributes);
      return this.#bdat();
    }
    this.#mode = 'line';
    this.#startInfo = this.#startRequest(verb, attributes);
    return this.emit(this.scan, true, this.#startInfo);
  }

  #startRequest(command: string, attributes: Attributes): MessageInfo {
    const entry: Pending = { command };
    this.state.queue.push(entry);
    this.state.last = { entry, replaced: false };
    this.state.byAttributes.set(attributes, this.state.last);
    return SETUP.has(command) ? { start: true, end: false, responses: 1, attributes, setup: true } : { start: true, end: false, responses: 1, attributes };
  }

  /** BDAT: the command line then exactly `size` bytes, forwarded in frames of at most maxFrame bytes. */
  #bdat(): Frame | null {
    const avail = this.buf.length - this.scan;
    if (avail >= this.#dataLeft && this.scan + this.#dataLeft <= Math.max(this.maxFrame, this.scan)) {
      const len = this.scan + this.#dataLeft;
      this.#dataLeft = 0;
      return this.emit(len, true, this.#startInfo);
    }
    if (this.#bdatSize <= this.maxFrame && avail < this.#dataLeft) return this.needMore('a BDAT chunk');
    const len = Math.max(this.scan, Math.min(this.scan + Math.min(avail, this.#dataLeft), this.maxFrame));
    if (len === 0) return this.needMore('a BDAT chunk');
    this.#dataLeft -= len - this.scan;
    return this.emit(len, this.#dataLeft === 0, this.#startInfo);
  }

  /** The DATA body up to and including CRLF.CRLF, forwarded as it arrives (the last 4 bytes held back). */
  #body(): Frame | null {
    const buf = this.buf;
    if (this.#bodyFresh) {
      // an empty body: "." right after the DATA command's CRLF
      const n = Math.min(buf.length, 3);
      if (n > 0 && buf.matchesAt(0, TERMINATOR.subarray(2, 2 + n))) {
        if (n === 3) {
          this.#bodyFresh = false;
          return this.emit(3, true, this.#startInfo);
        }
        return this.needMore('a message body');
      }
    }
    const at = buf.indexOf(TERMINATOR, this.#searchFrom);
    if (at >= 0) {
      const end = at + TERMINATOR.length;
      if (end <= this.maxFrame) {
        this.#bodyFresh = false;
        this.#searchFrom = 0;
        return this.emit(end, true, this.#startInfo);
      }
      return this.#bodyPiece(this.maxFrame);
    }
    this.#searchFrom = Math.max(0, buf.length - (TERMINATOR.length - 1));
    const len = Math.min(buf.length - (TERMINATOR.length - 1), this.maxFrame);
    if (len <= 0) return this.needMore('a message body');
    return this.#bodyPiece(len);
  }

  #bodyPiece(len: number): Frame {
    this.#bodyFresh = false;
    this.#searchFrom = Math.max(0, this.#searchFrom - len);
    return this.emit(len, false, this.#startInfo);
  }
}

// ------------------------------------------------------------------------------------------------------------------
// server → client

class SmtpResponseFramer extends SmtpFramerBase {
  #entry: Pending | undefined;
  #unsolicited = false;
  #code = 0;

  protected decodeOne(): Frame | null {
    const st = this.state;
    for (;;) {
      if (st.opaque && !this.inMessage) return this.opaqueChunk();
      const line = this.readLine('reply');
      if (!line) return this.needMore('a reply');
      const text = line.text;
      if (!/^[2-5]\d\d(?:[ -]|$)/.test(text)) throw malformed(`invalid reply line ${JSON.stringify(text.slice(0, 60))}`);
      const code = Number(text.slice(0, 3));
      if (!this.inMessage) {
        this.inMessage = true;
        this.started = false;
        this.#code = code;
        if (!st.greeted) {
          this.#entry = undefined;
          this.#unsolicited = true;
        } else {
          this.#entry = st.queue.shift();
          this.#unsolicited = this.#entry === undefined;
        }
      } else if (code !== this.#code) throw malformed(`reply code changed inside a multi-line reply (${this.#code} then ${code})`);
      this.scan = line.next;
      if (text.charCodeAt(3) === 0x2d /* '-' */) {
        if (this.scan >= this.maxFrame) return this.emit(this.scan, false, this.#startInfo());
        continue;
      }
      this.#finish();
      return this.emit(this.scan, true, this.#startInfo(true));
    }
  }

  #startInfo(end = false): MessageInfo {
    return this.#unsolicited ? (end ? UNSOLICITED_WHOLE : UNSOLICITED_START) : end ? WHOLE : START;
  }

  #finish(): void {
    const st = this.state;
    st.greeted = true;
    const command = this.#entry?.command;
    if (command === undefined) return;
    if (command === 'DATA' && this.#code === 354) st.bodyNext = true;
    else if (command === 'STARTTLS' && this.#code === 220) st.opaque = true;
    else if (this.#code === 334 && (command === 'AUTH' || command === 'AUTH-DATA')) st.authContinue = true;
  }
}

// ------------------------------------------------------------------------------------------------------------------

/** The enhanced status code (RFC 3463) subject.detail of a refusal by the proxy itself (always reply code 421). */
const REFUSAL_DETAIL: Readonly<Record<RefusalReason, string>> = {
  malformed: '5.2', // syntax error
  too_large: '5.2',
  upstream_refused: '4.1', // no answer from host
  upstream_timeout: '4.1',
  upstream_lost: '4.2', // bad connection
  header_timeout: '4.2',
  request_timeout: '4.2',
  too_slow: '4.2',
  no_route: '4.0', // with code 421: service not available here
};

export class SmtpCodec implements ProtocolCodec {
  readonly toUpstream: SmtpRequestFramer;
  readonly toDownstream: SmtpResponseFramer;
  readonly #state = new SmtpState();
  readonly serverSpeaksFirst = true;

  constructor(options: SmtpCodecOptions) {
    this.toUpstream = new SmtpRequestFramer(this.#state, options);
    this.toDownstream = new SmtpResponseFramer(this.#state, options);
  }

  errorReply(request: ErrorReplyRequest): ErrorReply {
    const st = this.#state;
    // the request named by its start attributes (later ones may have been framed since), else the last one
    const last = (request.request !== undefined ? st.byAttributes.get(request.request) : undefined) ?? st.last;
    if (last !== undefined && !last.replaced) {
      last.replaced = true;
      const i = st.queue.lastIndexOf(last.entry);
      if (i >= 0) st.queue.splice(i, 1);
    }
    const status = typeof request.status === 'string' ? Number(request.status) : request.status;
    const code = status !== undefined && Number.isInteger(status) && status >= 400 && status <= 599 ? status : request.close ? 421 : 451;
    const message = request.message.replace(/[\r\n]+/g, ' ');
    const detail = request.status === undefined && request.reason !== undefined ? REFUSAL_DETAIL[request.reason] : '3.0';
    const line = `${code} ${Math.floor(code / 100)}.${detail} ${message}\r\n`;
    return { frames: [Buffer.from(line, 'utf8')], close: code === 421 || request.close === true };
  }
}
