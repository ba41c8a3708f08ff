/** The memcached text and meta protocol codec; at ~400 lines it stays one file: its two framers are small and share one pending-reply queue. */
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { BufferedFramer, READ_HEADROOM } from '../../framing/buffered-framer.js';
import type { Frame } from '../../framing/framer.js';
import type { Attributes, ErrorReply, ErrorReplyRequest, MessageInfo, ProtocolCodec, ProtocolFramer } from '../protocol.js';

export interface MemcacheCodecOptions {
  maxFrame: number;
  maxLine: number;
  maxValueLength: number;
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

/** How the server answers a request. */
type ReplyKind = 'line' | 'retrieval' | 'multiline' | 'meta' | 'watch';

interface Pending {
  readonly kind: ReplyKind;
  readonly command: string;
  /** Meta command with the `q` flag: its reply may be suppressed (responses: 0). */
  readonly quiet: boolean;
  /** `O<opaque>` flag of a meta request, echoed in its reply. */
  readonly opaque: string | undefined;
  /** multiline: the line that ends the reply and the prefixes of its data lines. */
  readonly terminator?: string;
  readonly dataPrefixes?: readonly string[];
}

const STORAGE = new Set(['set', 'add', 'replace', 'append', 'prepend', 'cas']);
const RETRIEVAL = new Set(['get', 'gets', 'gat', 'gats']);
const NOREPLY_CAPABLE = new Set([...STORAGE, 'delete', 'incr', 'decr', 'touch', 'flush_all', 'verbosity']);
const META = new Set(['mg', 'ms', 'md', 'ma', 'mn', 'me']);
/** Reply codes a quiet meta command never sends (so such a reply belongs to a later request). */
const QUIET_SUPPRESSED: Record<string, readonly string[]> = { mg: ['EN'], ms: ['HD'], md: ['HD', 'NF'], ma: ['HD', 'NF', 'EN'] };
const STATS_PREFIXES = ['STAT ', 'ITEM ', 'PREFIX '];

function malformed(message: string): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_MALFORMED, `memcache: ${message}`, { details: { protocol: 'memcache' } });
}

function tooLarge(what: string, limitName: string, limit: number): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_TOO_LARGE, `memcache: ${what} exceeds ${limitName} (${limit})`, {
    details: { protocol: 'memcache', limit, limitName },
  });
}

function isErrorLine(line: string): boolean {
  return line === 'ERROR' || line.startsWith('ERROR ') || line.startsWith('CLIENT_ERROR') || line.startsWith('SERVER_ERROR');
}

class MemcacheState {
  readonly queue: Pending[] = [];
  last: { entry: Pending | undefined; responses: number; replaced: boolean } | undefined;
  /** Request start attributes → their record: a fault stage may answer a request after later pipelined ones were framed. */
  readonly byAttributes = new WeakMap<Attributes, { entry: Pending | undefined; responses: number; replaced: boolean }>();
  /** `watch` was sent: the connection streams log lines from now on. */
  watchRequested = false;
  watchMode = false;
}

abstract class MemcacheFramerBase extends BufferedFramer implements ProtocolFramer {
  readonly name = 'memcache';
  readonly passthrough = false;
  info: MessageInfo | undefined;
  protected readonly maxFrame: number;
  protected readonly maxLine: number;
  protected readonly maxValue: number;
  /** Bytes of the current message held and parsed but not yet returned. */
  protected scan = 0;
  protected started = false;
  protected inMessage = false;
  /** Bytes left of the current data block, CRLF included (0 when none). */
  protected dataLeft = 0;
  protected dataLen = 0;

  constructor(
    protected readonly state: MemcacheState,
    options: MemcacheCodecOptions,
  ) {
    super(options.maxBufferedBytes ?? 2 * options.maxFrame + options.maxLine + 2 * READ_HEADROOM);
    this.maxFrame = options.maxFrame;
    this.maxLine = options.maxLine;
    this.maxValue = options.maxValueLength;
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
    this.dataLeft = 0;
  }

  /** The line starting at `scan`: its text (without line end) and the position after it, or undefined. */
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
    return { text: buf.peek(from, end).toString('latin1'), next: lf + 1 };
  }

  protected dataLength(token: string | undefined, what: string): number {
    if (token === undefined || !/^\d{1,15}$/.test(token)) throw malformed(`${what}: invalid data length ${JSON.stringify(token ?? '')}`);
    const n = Number(token);
    if (n > this.maxValue) throw tooLarge(`${what}: data block of ${n} bytes`, 'maxValueLength', this.maxValue);
    return n;
  }

  /**
   * Advance through the current data block. Returns 'done' when it was consumed (scan moved past it), 'wait' when
   * more bytes are needed, or a frame length to emit now (a large block forwarded as it arrives).
   */
  protected stepData(): 'done' | 'wait' | number {
    const avail = this.buf.length - this.scan;
    if (avail >= this.dataLeft && (this.dataLen + 2 <= this.maxFrame || this.scan + this.dataLeft <= this.maxFrame)) {
      const at = this.scan + this.dataLeft - 2;
      if (this.buf.byteAt(at) !== CR || this.buf.byteAt(at + 1) !== LF) throw malformed('data block is not followed by \\r\\n');
      this.scan += this.dataLeft;
      this.dataLeft = 0;
      return 'done';
    }
    if (this.dataLen + 2 <= this.maxFrame) return 'wait';
    const data = Math.min(avail, this.dataLeft - 2);
    const len = Math.max(this.scan, Math.min(this.scan + data, this.maxFrame));
    if (len === 0) return 'wait';
    this.dataLeft -= len - this.scan;
    return len;
  }

  protected needMore(what: string): null {
    if (this.ended && (this.buf.length > 0 || this.inMessage)) {
      throw new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `memcache: input ended inside ${what} (${this.buf.length} bytes held)`, {
        details: { protocol: 'memcache', buffered: this.buf.length },
      });
    }
    return null;
  }
}

// ------------------------------------------------------------------------------------------------------------------
// client → server

class MemcacheRequestFramer extends MemcacheFramerBase {
  #pendingInfo: MessageInfo | undefined;

  protected decodeOne(): Frame | null {
    for (;;) {
      if (!this.inMessage) {
        const line = this.readLine('command');
        if (!line) return this.needMore('a command line');
        this.inMessage = true;
        this.started = false;
        this.scan = line.next;
        const info = this.#startRequest(line.text);
        if (this.dataLeft === 0) return this.#emit(this.scan, true, info);
        const step = this.stepData();
        if (step === 'done') return this.#emit(this.scan, true, info);
        if (step === 'wait') {
          this.#pendingInfo = info;
          return this.needMore('a data block');
        }
        return this.#emit(step, false, info);
      }
      const step = this.stepData();
      if (step === 'done') return this.#emit(this.scan, true, this.#pendingInfo);
      if (step === 'wait') return this.needMore('a data block');
      return this.#emit(step, false, this.#pendingInfo);
    }
  }

  #emit(len: number, end: boolean, startInfo: MessageInfo | undefined): Frame {
    const frame = this.buf.consume(len);
    this.scan = 0;
    if (!this.started) {
      this.started = true;
      this.info = startInfo === undefined ? START : end ? { ...startInfo, end: true } : startInfo;
      this.#pendingInfo = undefined;
    } else this.info = end ? END : MID;
    if (end) this.inMessage = false;
    return frame;
  }

  #startRequest(text: string): MessageInfo {
    const st = this.state;
    const tokens = text.split(' ').filter((t) => t.length > 0);
    const command = tokens[0] ?? '';
    const attributes: Record<string, string | number> = { command };
    let key: string | undefined;
    let kind: ReplyKind = 'line';
    let quiet = false;
    let opaque: string | undefined;
    let responses = 1;
    let terminator: string | undefined;
    let dataPrefixes: readonly string[] | undefined;
    this.dataLeft = 0;
    if (STORAGE.has(command)) {
      key = tokens[1];
      // an invalid length gets `CLIENT_ERROR bad command line format` and memcached reads no data block
      if (tokens.length >= 5 && /^\d{1,15}$/.test(tokens[4] ?? '')) {
        this.dataLen = this.dataLength(tokens[4], `${command} command`);
        this.dataLeft = this.dataLen + 2;
      }
    } else if (RETRIEVAL.has(command)) {
      const keys = tokens.slice(command.startsWith('gat') ? 2 : 1);
      key = keys[0];
      attributes['keys'] = keys.length;
      kind = 'retrieval';
    } else if (META.has(command)) {
      key = command === 'mn' ? undefined : tokens[1];
      const flags = tokens.slice(command === 'ms' ? 3 : 2);
      quiet = command !== 'mn' && flags.includes('q');
      opaque = flags.find((f) => f.startsWith('O'));
      if (command === 'ms' && /^\d{1,15}$/.test(tokens[2] ?? '')) {
        this.dataLen = this.dataLength(tokens[2], 'ms command');
        this.dataLeft = this.dataLen + 2;
      }
      kind = command === 'mg' || command === 'ma' ? 'meta' : 'line';
    } else if (command === 'stats') {
      kind = 'multiline';
      terminator = 'END';
      dataPrefixes = STATS_PREFIXES;
    } else if (command === 'lru_crawler' && (tokens[1] === 'metadump' || tokens[1] === 'mgdump')) {
      kind = 'multiline';
      terminator = tokens[1] === 'mgdump' ? 'EN' : 'END';
      dataPrefixes = tokens[1] === 'mgdump' ? ['mg '] : ['key='];
    } else if (command === 'watch') kind = 'watch';
    else if (command !== '') key = tokens[1];
    if (key !== undefined) attributes['key'] = key;

    if (NOREPLY_CAPABLE.has(command) && tokens[tokens.length - 1] === 'noreply') responses = 0;
    if (command === 'quit' || quiet || st.watchRequested) responses = 0;
    if (command === 'watch') st.watchRequested = true;
    const entry: Pending | undefined =
      responses > 0 || quiet ? { kind, command, quiet, opaque, ...(terminator ? { terminator } : {}), ...(dataPrefixes ? { dataPrefixes } : {}) } : undefined;
    if (entry) st.queue.push(entry);
    st.last = { entry, responses, replaced: false };
    st.byAttributes.set(attributes, st.last);
    return { start: true, end: false, responses, attributes };
  }
}

// ------------------------------------------------------------------------------------------------------------------
// server → client

class MemcacheResponseFramer extends MemcacheFramerBase {
  #entry: Pending | undefined;
  #unsolicited = false;
  #lines = 0;
  #done = false;

  protected decodeOne(): Frame | null {
    for (;;) {
      if (this.#done) {
        this.#done = false;
        return this.#emit(this.scan, true);
      }
      if (this.dataLeft > 0) {
        const step = this.stepData();
        if (step === 'wait') return this.needMore('a data block');
        if (typeof step === 'number') return this.#emit(step, false);
        if (this.#entry?.kind === 'meta') this.#done = true; // VA <size>: one value, then the reply is complete
        else if (this.scan >= this.maxFrame) return this.#emit(this.scan, false);
        continue;
      }
      const line = this.readLine('reply');
      if (!line) return this.needMore('a reply line');
      this.scan = line.next;
      if (!this.inMessage) this.#begin(line.text);
      this.#onLine(line.text);
      this.#lines++;
      if (!this.#done && this.dataLeft === 0 && this.scan >= this.maxFrame) return this.#emit(this.scan, false);
    }
  }

  /** A reply starts: find the request it answers. */
  #begin(first: string): void {
    const st = this.state;
    this.inMessage = true;
    this.started = false;
    this.#lines = 0;
    if (st.watchMode) {
      this.#entry = undefined;
      this.#unsolicited = true;
      return;
    }
    const code = first.split(' ', 1)[0] ?? '';
    // replies of quiet meta commands are optional: skip the quiet requests this reply cannot belong to
    for (let head = st.queue[0]; head?.quiet; head = st.queue[0]) {
      const suppressed = QUIET_SUPPRESSED[head.command] ?? [];
      const otherOpaque = head.opaque !== undefined && !first.split(' ').includes(head.opaque);
      if (suppressed.includes(code) || code === 'MN' || code === 'ME' || otherOpaque) st.queue.shift();
      else break;
    }
    const head = st.queue.shift();
    this.#entry = head;
    this.#unsolicited = head === undefined || head.quiet;
  }

  #onLine(text: string): void {
    const entry = this.#entry;
    if (this.state.watchMode || entry === undefined) {
      this.#done = true;
      return;
    }
    if (isErrorLine(text)) {
      this.#done = true;
      return;
    }
    switch (entry.kind) {
      case 'retrieval': {
        if (text === 'END') {
          this.#done = true;
          return;
        }
        const t = text.split(' ');
        if (t[0] !== 'VALUE') throw malformed(`expected VALUE or END in the reply to ${entry.command}, got ${JSON.stringify(text.slice(0, 40))}`);
        this.dataLen = this.dataLength(t[3], 'VALUE line');
        this.dataLeft = this.dataLen + 2;
        return;
      }
      case 'multiline':
        if (text === entry.terminator || (this.#lines === 0 && !(entry.dataPrefixes ?? []).some((p) => text.startsWith(p)))) this.#done = true;
        return;
      case 'meta':
        if (text.startsWith('VA ')) {
          this.dataLen = this.dataLength(text.split(' ')[1], 'VA line');
          this.dataLeft = this.dataLen + 2;
        } else this.#done = true;
        return;
      case 'watch':
        if (text === 'OK') this.state.watchMode = true;
        this.#done = true;
        return;
      default:
        this.#done = true;
    }
  }

  #emit(len: number, end: boolean): Frame {
    const frame = this.buf.consume(len);
    this.scan = 0;
    if (!this.started) {
      this.started = true;
      this.info = this.#unsolicited ? (end ? UNSOLICITED_WHOLE : UNSOLICITED_START) : end ? WHOLE : START;
    } else this.info = end ? END : MID;
    if (end) this.inMessage = false;
    return frame;
  }
}

// ------------------------------------------------------------------------------------------------------------------

const ERROR_PREFIXES = new Set(['SERVER_ERROR', 'CLIENT_ERROR', 'ERROR']);

export class MemcacheCodec implements ProtocolCodec {
  readonly toUpstream: MemcacheRequestFramer;
  readonly toDownstream: MemcacheResponseFramer;
  readonly #state = new MemcacheState();

  constructor(options: MemcacheCodecOptions) {
    this.toUpstream = new MemcacheRequestFramer(this.#state, options);
    this.toDownstream = new MemcacheResponseFramer(this.#state, options);
  }

  errorReply(request: ErrorReplyRequest): ErrorReply {
    const st = this.#state;
    // the request named by its start attributes (later ones may have been framed since), else the last one
    const last = (request.request !== undefined ? st.byAttributes.get(request.request) : undefined) ?? st.last;
    let responses = 1;
    if (last !== undefined && !last.replaced) {
      last.replaced = true;
      responses = last.responses;
      if (last.entry) {
        const i = st.queue.lastIndexOf(last.entry);
        if (i >= 0) st.queue.splice(i, 1);
        if (last.entry.kind === 'watch') st.watchRequested = false;
      }
    }
    // noreply / quiet / quit: the client reads no reply, so none is sent (one would be taken for the next reply)
    if (responses === 0) return { frames: [], close: false };
    const status = typeof request.status === 'string' && ERROR_PREFIXES.has(request.status) ? request.status : 'SERVER_ERROR';
    const message = request.message.replace(/[\r\n]+/g, ' ');
    const line = status === 'ERROR' ? (message ? `ERROR ${message}` : 'ERROR') : `${status} ${message}`;
    return { frames: [Buffer.from(`${line}\r\n`, 'utf8')], close: false };
  }
}
