import { BufferedFramer, READ_HEADROOM } from '../../framing/buffered-framer.js';
import type { Frame } from '../../framing/framer.js';
import type { Attributes, ErrorReply, ErrorReplyRequest, MessageInfo, ProtocolCodec, ProtocolFramer } from '../protocol.js';
import { CR, LF, findLine, latin1, malformed, readInt, showByte, tooLarge, truncated } from './resp.js';

export interface RedisCodecOptions {
  maxFrame: number;
  maxLine: number;
  maxDepth: number;
  maxBulkLength: number;
  maxBufferedBytes?: number | undefined;
}

type Kind = 'normal' | 'pubsub' | 'monitor' | 'reset' | 'hello';

interface Pending {
  left: number;
  readonly kind: Kind;
}

/** What a request does to the connection state once it is complete (applied unless it was replaced by an error reply). */
interface RequestRecord {
  entry: Pending | undefined;
  responses: number;
  replaced: boolean;
  complete: boolean;
  effects: (() => void) | undefined;
}

const MID: MessageInfo = { start: false, end: false };
const END: MessageInfo = { start: false, end: true };
const CAPTURE = 256;
const KIND_MAX = 32;

/** Commands whose first argument is a subcommand (`CLIENT SETNAME`, `CONFIG GET`, `XINFO STREAM`). */
const CONTAINERS = new Set([
  'ACL', 'CLIENT', 'CLUSTER', 'COMMAND', 'CONFIG', 'DEBUG', 'FUNCTION', 'LATENCY', 'MEMORY', 'MODULE', 'OBJECT',
  'PUBSUB', 'SCRIPT', 'SLOWLOG', 'XGROUP', 'XINFO',
]);
const SUBSCRIBE = new Set(['SUBSCRIBE', 'PSUBSCRIBE', 'SSUBSCRIBE']);
const UNSUBSCRIBE = new Set(['UNSUBSCRIBE', 'PUNSUBSCRIBE', 'SUNSUBSCRIBE']);
const CONFIRM_KINDS = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe']);
const MESSAGE_KINDS = new Set(['message', 'pmessage', 'smessage']);
const MULTI_CONTROL = new Set(['EXEC', 'DISCARD', 'MULTI', 'WATCH', 'RESET', 'QUIT']);

/** Per-connection state shared by the two framers. */
class RedisState {
  readonly queue: Pending[] = [];
  // request side (what the client asked for, in order)
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();
  readonly shardChannels = new Set<string>();
  monitorRequested = false;
  replyOff = false;
  skipNext = false;
  inMulti = false;
  last: RequestRecord | undefined;
  /** Request start attributes → their record: a fault stage may answer a request after later pipelined ones were framed. */
  readonly byAttributes = new WeakMap<Attributes, RequestRecord>();
  // response side (what the server confirmed)
  monitorMode = false;
  resp3 = false;
  subscriptions = 0;
  shardSubscriptions = 0;

  /** Apply the effects of the last complete request, unless an error reply replaced it. */
  commit(): void {
    const last = this.last;
    if (last === undefined || !last.complete) return;
    this.last = undefined;
    if (!last.replaced && last.effects) last.effects();
  }

  setFor(cmd: string): Set<string> {
    return cmd.startsWith('P') ? this.patterns : cmd.startsWith('S') ? this.shardChannels : this.channels;
  }
}

abstract class RedisFramerBase extends BufferedFramer implements ProtocolFramer {
  readonly name = 'redis';
  readonly passthrough = false;
  info: MessageInfo | undefined;
  protected readonly maxFrame: number;
  protected readonly maxLine: number;
  protected readonly maxBulk: number;

  constructor(
    protected readonly state: RedisState,
    options: RedisCodecOptions,
  ) {
    super(options.maxBufferedBytes ?? 2 * options.maxFrame + options.maxLine + 2 * READ_HEADROOM);
    this.maxFrame = options.maxFrame;
    this.maxLine = options.maxLine;
    this.maxBulk = options.maxBulkLength;
  }

  encode(frame: Frame): Buffer {
    return frame;
  }

  encodeTo(frame: Frame, out: Buffer[]): void {
    out.push(frame);
  }

  protected bulkLength(n: number, what: string): number {
    if (Number.isNaN(n) || n < 0) throw malformed(`invalid ${what} length`);
    if (n > this.maxBulk) throw tooLarge(`${what} of ${n} bytes`, 'maxBulkLength', this.maxBulk);
    return n;
  }

  protected checkCRLF(at: number, what: string): void {
    if (this.buf.byteAt(at) !== CR || this.buf.byteAt(at + 1) !== LF) throw malformed(`${what} is not followed by \\r\\n`);
  }
}

// ------------------------------------------------------------------------------------------------------------------
// client → server

const R_IDLE = 0;
const R_ARG_HEADER = 1;
const R_PAYLOAD = 2;

class RedisRequestFramer extends RedisFramerBase {
  private phase = R_IDLE;
  /** Bytes of the current message held and parsed but not yet returned. */
  private scan = 0;
  private started = false;
  private argc = 0;
  private argIdx = 0;
  private payloadLen = 0;
  /** Bytes left of the current bulk payload, CRLF included. */
  private payloadLeft = 0;
  private payloadStart = 0;
  private captured = false;
  private caps: string[] = [];
  private cmd = '';
  private pubsubArgs: string[] | undefined;
  private record: RequestRecord | undefined;

  protected override resetDecodeState(): void {
    this.phase = R_IDLE;
    this.scan = 0;
    this.started = false;
  }

  protected decodeOne(): Frame | null {
    const buf = this.buf;
    for (;;) {
      if (this.phase === R_IDLE) {
        this.state.commit();
        if (buf.length === 0) return null;
        if (buf.byteAt(0) !== 0x2a /* '*' */) return this.inline();
        const lf = findLine(buf, 0, this.maxLine, 'multibulk header');
        if (lf < 0) return this.needMore('a multibulk header');
        if (lf < 2 || buf.byteAt(lf - 1) !== CR) throw malformed('multibulk header must end with \\r\\n');
        const n = readInt(buf, 1, lf - 1);
        if (Number.isNaN(n) || n > 0x7fffffff) throw malformed(`invalid multibulk length ${JSON.stringify(latin1(buf, 1, lf - 1, 40))}`);
        if (n <= 0) return this.emitWhole(lf + 1, [], 0); // `*0` / `*-1`: Redis ignores it, no reply
        this.phase = R_ARG_HEADER;
        this.argc = n;
        this.argIdx = 0;
        this.scan = lf + 1;
        this.started = false;
        this.caps = [];
        this.captured = false;
        this.pubsubArgs = undefined;
        continue;
      }
      if (this.phase === R_ARG_HEADER) {
        if (this.argIdx === this.argc) {
          this.phase = R_IDLE;
          return this.emit(this.scan, true);
        }
        const at = this.scan;
        if (buf.length <= at) return this.needMore('a multibulk request');
        const lf = findLine(buf, at, this.maxLine, 'bulk header');
        if (lf < 0) return this.needMore('a bulk header');
        if (buf.byteAt(at) !== 0x24 /* '$' */) throw malformed(`expected '$' in a multibulk request, got ${showByte(buf.byteAt(at))}`);
        if (buf.byteAt(lf - 1) !== CR) throw malformed('bulk header must end with \\r\\n');
        this.payloadLen = this.bulkLength(readInt(buf, at + 1, lf - 1), 'bulk');
        this.payloadLeft = this.payloadLen + 2;
        this.payloadStart = lf + 1;
        this.scan = lf + 1;
        this.captured = false;
        this.phase = R_PAYLOAD;
        continue;
      }
      // R_PAYLOAD
      const avail = buf.length - this.scan;
      if (!this.captured) {
        const need = Math.min(this.payloadLen, CAPTURE);
        if (avail < need) return this.needMore('a bulk string');
        this.capture(latin1(buf, this.payloadStart, this.payloadStart + need));
      }
      if (avail >= this.payloadLeft && (this.payloadLen + 2 <= this.maxFrame || this.scan + this.payloadLeft <= this.maxFrame)) {
        this.checkCRLF(this.scan + this.payloadLeft - 2, 'bulk string');
        this.scan += this.payloadLeft;
        this.payloadLeft = 0;
        this.argIdx++;
        this.phase = R_ARG_HEADER;
        if (this.argIdx < this.argc && this.scan >= this.maxFrame && this.startReady()) return this.emit(this.scan, false);
        continue;
      }
      if (this.payloadLen + 2 <= this.maxFrame) return this.needMore('a bulk string');
      // a large bulk string: forward its data as it arrives, in frames of at most maxFrame bytes
      if (!this.started && this.caps.length < Math.min(this.argc, 3, this.argIdx + 1)) return this.needMore('a bulk string');
      const data = Math.min(avail, this.payloadLeft - 2);
      const len = Math.max(this.scan, Math.min(this.scan + data, this.maxFrame));
      if (len === 0) return this.needMore('a bulk string');
      this.payloadLeft -= len - this.scan;
      return this.emit(len, false);
    }
  }

  private needMore(what: string): null {
    if (this.ended && (this.buf.length > 0 || this.phase !== R_IDLE)) throw truncated(what, this.buf.length);
    return null;
  }

  private startReady(): boolean {
    return this.started || this.caps.length >= Math.min(this.argc, 3);
  }

  private capture(value: string): void {
    this.captured = true;
    const i = this.argIdx;
    if (i < 3) this.caps.push(value);
    if (i === 0) {
      this.cmd = value.toUpperCase();
      if (SUBSCRIBE.has(this.cmd) || UNSUBSCRIBE.has(this.cmd)) this.pubsubArgs = [];
    } else if (this.pubsubArgs) this.pubsubArgs.push(value);
  }

  /** An inline command: one line, arguments separated by blanks. */
  private inline(): Frame | null {
    const buf = this.buf;
    const lf = findLine(buf, 0, this.maxLine, 'inline command');
    if (lf < 0) return this.needMore('an inline command');
    const end = lf > 0 && buf.byteAt(lf - 1) === CR ? lf - 1 : lf;
    const words = latin1(buf, 0, end, this.maxLine + 1).split(/[ \t]+/).filter((w) => w.length > 0);
    this.cmd = (words[0] ?? '').toUpperCase();
    this.pubsubArgs = SUBSCRIBE.has(this.cmd) || UNSUBSCRIBE.has(this.cmd) ? words.slice(1).map((w) => w.slice(0, CAPTURE)) : undefined;
    return this.emitWhole(lf + 1, words.slice(0, 3).map((w) => w.slice(0, CAPTURE)), words.length);
  }

  private emitWhole(len: number, caps: string[], argc: number): Frame {
    this.caps = caps;
    this.argc = argc;
    this.started = false;
    this.phase = R_IDLE;
    return this.emit(len, true);
  }

  private emit(len: number, end: boolean): Frame {
    const frame = this.buf.consume(len);
    this.scan = 0;
    if (!this.started) {
      this.started = true;
      this.info = this.startRequest(end);
    } else this.info = end ? END : MID;
    if (end && this.record) {
      this.record.complete = true;
      this.record.effects = this.effects();
      this.record = undefined;
    }
    return frame;
  }

  private startRequest(end: boolean): MessageInfo {
    const st = this.state;
    const caps = this.caps;
    const argc = this.argc;
    const cmd = argc > 0 ? (caps[0] ?? '').toUpperCase() : '';
    this.cmd = cmd;
    const attributes: Record<string, string | number> = { command: cmd };
    let keyIdx = 1;
    let sub = '';
    if (CONTAINERS.has(cmd) && argc >= 2) {
      sub = (caps[1] ?? '').toUpperCase();
      attributes['subcommand'] = sub;
      keyIdx = 2;
    }
    const key = argc > keyIdx ? caps[keyIdx] : undefined;
    if (key !== undefined) attributes['key'] = key;
    attributes['args'] = Math.max(0, argc - 1);

    let responses = 1;
    let kind: Kind = 'normal';
    const nargs = argc - 1;
    if (argc === 0) responses = 0;
    else if (st.monitorRequested && cmd !== 'RESET') responses = 0;
    else if (cmd === 'CLIENT' && sub === 'REPLY') {
      const mode = (caps[2] ?? '').toUpperCase();
      responses = mode === 'ON' ? 1 : mode === 'OFF' || mode === 'SKIP' ? 0 : st.replyOff ? 0 : 1;
    } else if (st.replyOff || st.skipNext) responses = 0;
    else if (st.inMulti && !MULTI_CONTROL.has(cmd)) responses = 1;
    else if (SUBSCRIBE.has(cmd)) {
      responses = Math.max(1, nargs);
      kind = 'pubsub';
    } else if (UNSUBSCRIBE.has(cmd)) {
      responses = nargs > 0 ? nargs : Math.max(1, st.setFor(cmd.slice(0, -11)).size);
      kind = 'pubsub';
    } else if (cmd === 'MONITOR') kind = 'monitor';
    else if (cmd === 'RESET') kind = 'reset';
    else if (cmd === 'HELLO') kind = 'hello';
    if (st.skipNext && !(cmd === 'CLIENT' && sub === 'REPLY')) st.skipNext = false;

    const entry: Pending | undefined = responses > 0 ? { left: responses, kind } : undefined;
    if (entry) st.queue.push(entry);
    const record: RequestRecord = { entry, responses, replaced: false, complete: false, effects: undefined };
    st.last = record;
    if (!end) this.record = record;
    else {
      record.complete = true;
      record.effects = this.effects();
    }
    const info: MessageInfo = { start: true, end, responses, attributes: attributes as Attributes };
    st.byAttributes.set(info.attributes!, record);
    return info;
  }

  /** What the request just framed changes for the requests after it (applied once it is complete, unless replaced). */
  private effects(): (() => void) | undefined {
    const st = this.state;
    const cmd = this.cmd;
    const caps = this.caps;
    if (cmd === 'CLIENT' && (caps[1] ?? '').toUpperCase() === 'REPLY') {
      const mode = (caps[2] ?? '').toUpperCase();
      return () => {
        if (mode === 'ON') st.replyOff = false;
        else if (mode === 'OFF') st.replyOff = true;
        else if (mode === 'SKIP') st.skipNext = true;
      };
    }
    if (st.inMulti && !MULTI_CONTROL.has(cmd)) return undefined;
    switch (cmd) {
      case 'MULTI':
        return () => (st.inMulti = true);
      case 'EXEC':
      case 'DISCARD':
        return () => (st.inMulti = false);
      case 'MONITOR':
        return () => (st.monitorRequested = true);
      case 'RESET':
        return () => {
          st.inMulti = false;
          st.monitorRequested = false;
          st.replyOff = false;
          st.skipNext = false;
          st.channels.clear();
          st.patterns.clear();
          st.shardChannels.clear();
        };
      default:
        break;
    }
    const names = this.pubsubArgs;
    if (!names) return undefined;
    if (SUBSCRIBE.has(cmd)) {
      const set = st.setFor(cmd.slice(0, -9));
      return () => names.forEach((n) => set.add(n));
    }
    if (UNSUBSCRIBE.has(cmd)) {
      const set = st.setFor(cmd.slice(0, -11));
      return () => (names.length === 0 ? set.clear() : names.forEach((n) => set.delete(n)));
    }
    return undefined;
  }
}

// ------------------------------------------------------------------------------------------------------------------
// server → client

interface Level {
  left: number;
  readonly streamed: boolean;
  readonly attr: boolean;
  /** Elements of this aggregate seen so far (top level only; used to classify pub/sub arrays). */
  index: number;
}

class RedisResponseFramer extends RedisFramerBase {
  private readonly maxDepth: number;
  private inMessage = false;
  private done = false;
  private started = false;
  private scan = 0;
  private readonly stack: Level[] = [];
  private payloadLen = 0;
  private payloadLeft = 0;
  private payloadStart = 0;
  /** Inside a streamed string (`$?`): expecting `;<len>` chunks. */
  private streamedString = false;
  /** The current payload is a string chunk of a streamed string (it ends no value). */
  private chunkPayload = false;
  // classification of the current message
  private topType = 0;
  private decided = false;
  private unsolicited = false;
  private kind: string | undefined;
  private captureKind = false;
  private count: number | undefined;

  constructor(state: RedisState, options: RedisCodecOptions) {
    super(state, options);
    this.maxDepth = options.maxDepth;
  }

  protected override resetDecodeState(): void {
    this.inMessage = false;
    this.done = false;
    this.started = false;
    this.scan = 0;
    this.stack.length = 0;
    this.payloadLeft = 0;
    this.streamedString = false;
  }

  protected decodeOne(): Frame | null {
    const buf = this.buf;
    for (;;) {
      if (this.done) return this.finish();
      if (this.payloadLeft > 0) {
        const avail = buf.length - this.scan;
        if (avail >= this.payloadLeft && (this.payloadLen + 2 <= this.maxFrame || this.scan + this.payloadLeft <= this.maxFrame)) {
          this.checkCRLF(this.scan + this.payloadLeft - 2, 'bulk string');
          if (this.captureKind) {
            this.kind = latin1(buf, this.payloadStart, this.payloadStart + this.payloadLen).toLowerCase();
            this.captureKind = false;
            this.decide();
          }
          this.scan += this.payloadLeft;
          this.payloadLeft = 0;
          if (this.chunkPayload) this.chunkPayload = false;
          else this.valueDone();
          if (!this.done && this.scan >= this.maxFrame && this.decided) return this.emit(this.scan, false);
          continue;
        }
        if (this.payloadLen + 2 <= this.maxFrame || !this.decided) return this.needMore('a bulk string');
        const data = Math.min(avail, this.payloadLeft - 2);
        const len = Math.max(this.scan, Math.min(this.scan + data, this.maxFrame));
        if (len === 0) return this.needMore('a bulk string');
        this.payloadLeft -= len - this.scan;
        return this.emit(len, false);
      }
      const at = this.scan;
      if (buf.length <= at) return this.needMore('a reply');
      const lf = findLine(buf, at, this.maxLine, 'reply');
      if (lf < 0) return this.needMore('a reply line');
      if (lf - at < 2 || buf.byteAt(lf - 1) !== CR) throw malformed('reply line must end with \\r\\n');
      this.line(buf.byteAt(at), at + 1, lf - 1);
      this.scan = lf + 1;
      if (this.payloadLeft === 0 && !this.done && this.scan >= this.maxFrame && this.decided) return this.emit(this.scan, false);
    }
  }

  private needMore(what: string): null {
    if (this.ended && (this.buf.length > 0 || this.inMessage)) throw truncated(what, this.buf.length);
    return null;
  }

  /** One RESP line: a type byte and its content at [from, to). */
  private line(type: number, from: number, to: number): void {
    const buf = this.buf;
    if (!this.inMessage) {
      this.inMessage = true;
      this.started = false;
      this.topType = type;
      this.decided = false;
      this.kind = undefined;
      this.count = undefined;
      this.captureKind = false;
    }
    const top = this.stack[this.stack.length - 1];
    if (this.streamedString) {
      if (type !== 0x3b /* ';' */) throw malformed(`expected a ';' chunk inside a streamed string, got ${showByte(type)}`);
      const n = this.bulkLength(readInt(buf, from, to), 'streamed string chunk');
      if (n === 0) {
        this.streamedString = false;
        this.valueDone();
      } else this.payload(n, to, true);
      return;
    }
    // which element of the top-level aggregate this is (for pub/sub classification)
    const topElem = this.stack.length === 1 && top !== undefined && !top.attr ? top.index : -1;
    if (topElem >= 0 && type !== 0x7c /* '|' */ && type !== 0x2e /* '.' */) top!.index++;
    switch (type) {
      case 0x2b: // + simple string
      case 0x2d: // - error
        if (topElem === 0) this.kind = latin1(buf, from, to, KIND_MAX).toLowerCase();
        else if (this.stack.length === 0 && type === 0x2b && to - from <= KIND_MAX) this.kind = latin1(buf, from, to).toLowerCase();
        this.valueDone();
        break;
      case 0x3a: // : integer
      case 0x28: // ( big number
        if (type === 0x3a && Number.isNaN(readInt(buf, from, to))) throw malformed(`invalid integer ${JSON.stringify(latin1(buf, from, to, 40))}`);
        if (topElem === 2) this.count = readInt(buf, from, to);
        this.valueDone();
        break;
      case 0x5f: // _ null
        if (to !== from) throw malformed('null (_) must be empty');
        this.valueDone();
        break;
      case 0x2c: // , double
        this.valueDone();
        break;
      case 0x23: // # boolean
        if (to - from !== 1 || (buf.byteAt(from) !== 0x74 && buf.byteAt(from) !== 0x66)) throw malformed("boolean (#) must be 't' or 'f'");
        this.valueDone();
        break;
      case 0x24: // $ bulk string
      case 0x21: // ! bulk error
      case 0x3d: {
        // = verbatim string
        if (type === 0x24 && to - from === 1 && buf.byteAt(from) === 0x3f /* '?' */) {
          this.streamedString = true;
          if (topElem === 0) this.kind = '';
          break;
        }
        const n = readInt(buf, from, to);
        if (n === -1 && type === 0x24) {
          if (topElem === 0) this.kind = '';
          this.valueDone();
          break;
        }
        this.bulkLength(n, 'bulk string');
        if (topElem === 0) {
          if (n <= KIND_MAX) this.captureKind = true;
          else this.kind = '';
        }
        this.payload(n, to, false);
        break;
      }
      case 0x2a: // * array
      case 0x25: // % map
      case 0x7e: // ~ set
      case 0x3e: // > push
      case 0x7c: {
        // | attribute
        if (topElem === 0) this.kind = '';
        const streamed = to - from === 1 && buf.byteAt(from) === 0x3f;
        const n = streamed ? 0 : readInt(buf, from, to);
        if (!streamed && (Number.isNaN(n) || n < -1 || (n === -1 && type !== 0x2a && type !== 0x25))) {
          throw malformed(`invalid aggregate length ${JSON.stringify(latin1(buf, from, to, 40))}`);
        }
        const attr = type === 0x7c;
        if (!streamed && n <= 0) {
          if (!attr) this.valueDone();
          break;
        }
        if (this.stack.length >= this.maxDepth) throw tooLarge(`reply nesting deeper than ${this.maxDepth}`, 'maxDepth', this.maxDepth);
        const pairs = type === 0x25 || attr;
        this.stack.push({ left: streamed ? Infinity : pairs ? 2 * n : n, streamed, attr, index: 0 });
        break;
      }
      case 0x2e: // . end of a streamed aggregate
        if (to !== from || top === undefined || !top.streamed) throw malformed("'.' outside a streamed aggregate");
        if (top.attr || (top.left !== Infinity && top.left % 2 !== 0)) throw malformed('streamed map ended after a key');
        this.stack.pop();
        this.valueDone();
        break;
      default:
        throw malformed(`unknown RESP type byte ${showByte(type)}`);
    }
    if (!this.decided && !this.captureKind && (this.kind !== undefined || this.done || this.stack.length === 0 || !this.needsKind())) this.decide();
  }

  /** True when the current message's classification depends on its first element. */
  private needsKind(): boolean {
    return (this.topType === 0x2a || this.topType === 0x3e) && this.stack.length >= 1;
  }

  /** A payload of `n` bytes (+ CRLF) follows the header line whose content ends at `to`. */
  private payload(n: number, to: number, chunk: boolean): void {
    this.payloadLen = n;
    this.payloadLeft = n + 2;
    this.chunkPayload = chunk;
    this.payloadStart = to + 2;
  }

  /** A value is complete: count it in its aggregate, closing aggregates that are now complete. */
  private valueDone(): void {
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (top === undefined) {
        this.done = true;
        return;
      }
      if (top.streamed) return;
      if (--top.left > 0) return;
      this.stack.pop();
      if (top.attr) return; // an attribute precedes the value it describes; that value is still to come
    }
  }

  private decide(): void {
    const st = this.state;
    const head = st.queue[0];
    const type = this.topType;
    const kind = this.kind ?? '';
    let unsolicited: boolean;
    if (st.monitorMode) unsolicited = !(head?.kind === 'reset' && type === 0x2b && kind === 'reset');
    else if (type === 0x3e) unsolicited = !(CONFIRM_KINDS.has(kind) && head?.kind === 'pubsub');
    else if (type === 0x2a && !st.resp3 && st.subscriptions + st.shardSubscriptions > 0 && MESSAGE_KINDS.has(kind)) unsolicited = true;
    else if (type === 0x2a && !st.resp3 && st.subscriptions + st.shardSubscriptions > 0 && CONFIRM_KINDS.has(kind) && head?.kind !== 'pubsub') unsolicited = true;
    else unsolicited = head === undefined;
    this.unsolicited = unsolicited;
    this.decided = true;
  }

  private finish(): Frame {
    const st = this.state;
    const kind = this.kind ?? '';
    if (!this.decided) this.decide();
    if ((this.topType === 0x2a || this.topType === 0x3e) && CONFIRM_KINDS.has(kind) && this.count !== undefined && this.count >= 0) {
      if (kind === 'ssubscribe' || kind === 'sunsubscribe') st.shardSubscriptions = this.count;
      else st.subscriptions = this.count;
    }
    if (!this.unsolicited) {
      const head = st.queue[0];
      if (head !== undefined) {
        const isError = this.topType === 0x2d || this.topType === 0x21;
        if (head.kind === 'monitor' && !isError) st.monitorMode = true;
        if (head.kind === 'reset' && !isError) {
          st.monitorMode = false;
          st.resp3 = false;
          st.subscriptions = 0;
          st.shardSubscriptions = 0;
        }
        if (head.kind === 'hello' && !isError) st.resp3 = this.topType === 0x25;
        // an error ends a pub/sub request however many confirmations it announced
        if (--head.left <= 0 || (isError && head.kind === 'pubsub')) st.queue.shift();
      }
    }
    this.inMessage = false;
    this.done = false;
    return this.emit(this.scan, true);
  }

  private emit(len: number, end: boolean): Frame {
    const frame = this.buf.consume(len);
    if (this.payloadLeft > 0) this.payloadStart -= len;
    this.scan = 0;
    if (!this.started) {
      this.started = true;
      this.info = this.unsolicited ? (end ? UNSOLICITED_WHOLE : UNSOLICITED_START) : end ? WHOLE : START;
    } else this.info = end ? END : MID;
    if (end) this.started = false;
    return frame;
  }
}

const WHOLE: MessageInfo = { start: true, end: true };
const START: MessageInfo = { start: true, end: false };
const UNSOLICITED_WHOLE: MessageInfo = { start: true, end: true, unsolicited: true };
const UNSOLICITED_START: MessageInfo = { start: true, end: false, unsolicited: true };

// ------------------------------------------------------------------------------------------------------------------

export class RedisCodec implements ProtocolCodec {
  readonly toUpstream: RedisRequestFramer;
  readonly toDownstream: RedisResponseFramer;
  private readonly state = new RedisState();

  constructor(options: RedisCodecOptions) {
    this.toUpstream = new RedisRequestFramer(this.state, options);
    this.toDownstream = new RedisResponseFramer(this.state, options);
  }

  errorReply(request: ErrorReplyRequest): ErrorReply {
    const st = this.state;
    // the request named by its start attributes (later ones may have been framed since), else the last one
    const last = (request.request !== undefined ? st.byAttributes.get(request.request) : undefined) ?? st.last;
    let responses = 1;
    if (last !== undefined && !last.replaced) {
      last.replaced = true;
      responses = last.responses;
      if (last.entry) {
        const i = st.queue.lastIndexOf(last.entry);
        if (i >= 0) st.queue.splice(i, 1);
      }
    }
    // the client expects no reply (CLIENT REPLY OFF/SKIP, MONITOR mode, an empty command): sending one would shift
    // every later reply, so the request is just not answered
    if (responses === 0) return { frames: [], close: false };
    const prefix = String(request.status ?? 'ERR').replace(/[^\x21-\x7e]/g, '') || 'ERR';
    const message = request.message.replace(/[\r\n]+/g, ' ');
    return { frames: [Buffer.from(`-${prefix} ${message}\r\n`, 'utf8')], close: false };
  }
}
