/** Server → client: RESP2/RESP3 replies, paired with the requests they answer (or marked unsolicited: pub/sub, MONITOR). */
import type { Frame } from '../../framing/framer.js';
import { END, MID, RedisFramerBase, START, UNSOLICITED_START, UNSOLICITED_WHOLE, WHOLE, type RedisCodecOptions } from './framer-base.js';
import { CR, findLine, latin1, malformed, readInt, showByte, tooLarge, truncated } from './resp.js';
import type { RedisState } from './state.js';

/** Longest first element read to classify a reply (`message`, `subscribe`, `reset`...). */
const KIND_MAX = 32;
const CONFIRM_KINDS = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe']);
const MESSAGE_KINDS = new Set(['message', 'pmessage', 'smessage']);

interface Level {
  left: number;
  readonly streamed: boolean;
  readonly attr: boolean;
  /** Elements of this aggregate seen so far (top level only; used to classify pub/sub arrays). */
  index: number;
}

export class RedisResponseFramer extends RedisFramerBase {
  readonly #maxDepth: number;
  #inMessage = false;
  #done = false;
  #started = false;
  #scan = 0;
  readonly #stack: Level[] = [];
  #payloadLen = 0;
  #payloadLeft = 0;
  #payloadStart = 0;
  /** Inside a streamed string (`$?`): expecting `;<len>` chunks. */
  #streamedString = false;
  /** The current payload is a string chunk of a streamed string (it ends no value). */
  #chunkPayload = false;
  // classification of the current message
  #topType = 0;
  #decided = false;
  #unsolicited = false;
  #kind: string | undefined;
  #captureKind = false;
  #count: number | undefined;

  constructor(state: RedisState, options: RedisCodecOptions) {
    super(state, options);
    this.#maxDepth = options.maxDepth;
  }

  protected override resetDecodeState(): void {
    this.#inMessage = false;
    this.#done = false;
    this.#started = false;
    this.#scan = 0;
    this.#stack.length = 0;
    this.#payloadLeft = 0;
    this.#streamedString = false;
  }

  protected decodeOne(): Frame | null {
    const buf = this.buf;
    for (;;) {
      if (this.#done) return this.#finish();
      if (this.#payloadLeft > 0) {
        const avail = buf.length - this.#scan;
        if (avail >= this.#payloadLeft && (this.#payloadLen + 2 <= this.maxFrame || this.#scan + this.#payloadLeft <= this.maxFrame)) {
          this.checkCRLF(this.#scan + this.#payloadLeft - 2, 'bulk string');
          if (this.#captureKind) {
            this.#kind = latin1(buf, this.#payloadStart, this.#payloadStart + this.#payloadLen).toLowerCase();
            this.#captureKind = false;
            this.#decide();
          }
          this.#scan += this.#payloadLeft;
          this.#payloadLeft = 0;
          if (this.#chunkPayload) this.#chunkPayload = false;
          else this.#valueDone();
          if (!this.#done && this.#scan >= this.maxFrame && this.#decided) return this.#emit(this.#scan, false);
          continue;
        }
        if (this.#payloadLen + 2 <= this.maxFrame || !this.#decided) return this.#needMore('a bulk string');
        const data = Math.min(avail, this.#payloadLeft - 2);
        const len = Math.max(this.#scan, Math.min(this.#scan + data, this.maxFrame));
        if (len === 0) return this.#needMore('a bulk string');
        this.#payloadLeft -= len - this.#scan;
        return this.#emit(len, false);
      }
      const at = this.#scan;
      if (buf.length <= at) return this.#needMore('a reply');
      const lf = findLine(buf, at, this.maxLine, 'reply');
      if (lf < 0) return this.#needMore('a reply line');
      if (lf - at < 2 || buf.byteAt(lf - 1) !== CR) throw malformed('reply line must end with \\r\\n');
      this.#line(buf.byteAt(at), at + 1, lf - 1);
      this.#scan = lf + 1;
      if (this.#payloadLeft === 0 && !this.#done && this.#scan >= this.maxFrame && this.#decided) return this.#emit(this.#scan, false);
    }
  }

  #needMore(what: string): null {
    if (this.ended && (this.buf.length > 0 || this.#inMessage)) throw truncated(what, this.buf.length);
    return null;
  }

  /** One RESP line: a type byte and its content at [from, to). */
  #line(type: number, from: number, to: number): void {
    const buf = this.buf;
    if (!this.#inMessage) {
      this.#inMessage = true;
      this.#started = false;
      this.#topType = type;
      this.#decided = false;
      this.#kind = undefined;
      this.#count = undefined;
      this.#captureKind = false;
    }
    const top = this.#stack[this.#stack.length - 1];
    if (this.#streamedString) {
      if (type !== 0x3b /* ';' */) throw malformed(`expected a ';' chunk inside a streamed string, got ${showByte(type)}`);
      const n = this.bulkLength(readInt(buf, from, to), 'streamed string chunk');
      if (n === 0) {
        this.#streamedString = false;
        this.#valueDone();
      } else this.#payload(n, to, true);
      return;
    }
    // which element of the top-level aggregate this is (for pub/sub classification)
    const topElem = this.#stack.length === 1 && top !== undefined && !top.attr ? top.index : -1;
    if (topElem >= 0 && type !== 0x7c /* '|' */ && type !== 0x2e /* '.' */) top!.index++;
    switch (type) {
      case 0x2b: // + simple string
      case 0x2d: // - error
        if (topElem === 0) this.#kind = latin1(buf, from, to, KIND_MAX).toLowerCase();
        else if (this.#stack.length === 0 && type === 0x2b && to - from <= KIND_MAX) this.#kind = latin1(buf, from, to).toLowerCase();
        this.#valueDone();
        break;
      case 0x3a: // : integer
      case 0x28: // ( big number
        if (type === 0x3a && Number.isNaN(readInt(buf, from, to))) throw malformed(`invalid integer ${JSON.stringify(latin1(buf, from, to, 40))}`);
        if (topElem === 2) this.#count = readInt(buf, from, to);
        this.#valueDone();
        break;
      case 0x5f: // _ null
        if (to !== from) throw malformed('null (_) must be empty');
        this.#valueDone();
        break;
      case 0x2c: // , double
        this.#valueDone();
        break;
      case 0x23: // # boolean
        if (to - from !== 1 || (buf.byteAt(from) !== 0x74 && buf.byteAt(from) !== 0x66)) throw malformed("boolean (#) must be 't' or 'f'");
        this.#valueDone();
        break;
      case 0x24: // $ bulk string
      case 0x21: // ! bulk error
      case 0x3d: {
        // = verbatim string
        if (type === 0x24 && to - from === 1 && buf.byteAt(from) === 0x3f /* '?' */) {
          this.#streamedString = true;
          if (topElem === 0) this.#kind = '';
          break;
        }
        const n = readInt(buf, from, to);
        if (n === -1 && type === 0x24) {
          if (topElem === 0) this.#kind = '';
          this.#valueDone();
          break;
        }
        this.bulkLength(n, 'bulk string');
        if (topElem === 0) {
          if (n <= KIND_MAX) this.#captureKind = true;
          else this.#kind = '';
        }
        this.#payload(n, to, false);
        break;
      }
      case 0x2a: // * array
      case 0x25: // % map
      case 0x7e: // ~ set
      case 0x3e: // > push
      case 0x7c: {
        // | attribute
        if (topElem === 0) this.#kind = '';
        const streamed = to - from === 1 && buf.byteAt(from) === 0x3f;
        const n = streamed ? 0 : readInt(buf, from, to);
        if (!streamed && (Number.isNaN(n) || n < -1 || (n === -1 && type !== 0x2a && type !== 0x25))) {
          throw malformed(`invalid aggregate length ${JSON.stringify(latin1(buf, from, to, 40))}`);
        }
        const attr = type === 0x7c;
        if (!streamed && n <= 0) {
          if (!attr) this.#valueDone();
          break;
        }
        if (this.#stack.length >= this.#maxDepth) throw tooLarge(`reply nesting deeper than ${this.#maxDepth}`, 'maxDepth', this.#maxDepth);
        const pairs = type === 0x25 || attr;
        this.#stack.push({ left: streamed ? Infinity : pairs ? 2 * n : n, streamed, attr, index: 0 });
        break;
      }
      case 0x2e: // . end of a streamed aggregate
        if (to !== from || top === undefined || !top.streamed) throw malformed("'.' outside a streamed aggregate");
        if (top.attr || (top.left !== Infinity && top.left % 2 !== 0)) throw malformed('streamed map ended after a key');
        this.#stack.pop();
        this.#valueDone();
        break;
      default:
        throw malformed(`unknown RESP type byte ${showByte(type)}`);
    }
    // a first element that is no string (an integer, null, double, boolean) names no pub/sub kind: classify now,
    // so a long message streams out in frames instead of being held whole
    if (topElem === 0 && this.#kind === undefined && !this.#captureKind) this.#kind = '';
    if (!this.#decided && !this.#captureKind && (this.#kind !== undefined || this.#done || this.#stack.length === 0 || !this.#needsKind())) this.#decide();
  }

  /** True when the current message's classification depends on its first element. */
  #needsKind(): boolean {
    return (this.#topType === 0x2a || this.#topType === 0x3e) && this.#stack.length >= 1;
  }

  /** A payload of `n` bytes (+ CRLF) follows the header line whose content ends at `to`. */
  #payload(n: number, to: number, chunk: boolean): void {
    this.#payloadLen = n;
    this.#payloadLeft = n + 2;
    this.#chunkPayload = chunk;
    this.#payloadStart = to + 2;
  }

  /** A value is complete: count it in its aggregate, closing aggregates that are now complete. */
  #valueDone(): void {
    for (;;) {
      const top = this.#stack[this.#stack.length - 1];
      if (top === undefined) {
        this.#done = true;
        return;
      }
      if (top.streamed) return;
      if (--top.left > 0) return;
      this.#stack.pop();
      if (top.attr) return; // an attribute precedes the value it describes; that value is still to come
    }
  }

  #decide(): void {
    const st = this.state;
    const head = st.queue[0];
    const type = this.#topType;
    const kind = this.#kind ?? '';
    let unsolicited: boolean;
    if (st.monitorMode) unsolicited = !(head?.kind === 'reset' && type === 0x2b && kind === 'reset');
    else if (type === 0x3e) unsolicited = !(CONFIRM_KINDS.has(kind) && head?.kind === 'pubsub');
    else if (type === 0x2a && !st.resp3 && st.subscriptions + st.shardSubscriptions > 0 && MESSAGE_KINDS.has(kind)) unsolicited = true;
    else if (type === 0x2a && !st.resp3 && st.subscriptions + st.shardSubscriptions > 0 && CONFIRM_KINDS.has(kind) && head?.kind !== 'pubsub') unsolicited = true;
    else unsolicited = head === undefined;
    this.#unsolicited = unsolicited;
    this.#decided = true;
  }

  #finish(): Frame {
    const st = this.state;
    const kind = this.#kind ?? '';
    if (!this.#decided) this.#decide();
    if ((this.#topType === 0x2a || this.#topType === 0x3e) && CONFIRM_KINDS.has(kind) && this.#count !== undefined && this.#count >= 0) {
      if (kind === 'ssubscribe' || kind === 'sunsubscribe') st.shardSubscriptions = this.#count;
      else st.subscriptions = this.#count;
    }
    if (!this.#unsolicited) {
      const head = st.queue[0];
      if (head !== undefined) {
        const isError = this.#topType === 0x2d || this.#topType === 0x21;
        if (head.kind === 'monitor' && !isError) st.monitorMode = true;
        if (head.kind === 'reset' && !isError) {
          st.monitorMode = false;
          st.resp3 = false;
          st.subscriptions = 0;
          st.shardSubscriptions = 0;
        }
        if (head.kind === 'hello' && !isError) st.resp3 = this.#topType === 0x25;
        // an error ends a pub/sub request however many confirmations it announced
        if (--head.left <= 0 || (isError && head.kind === 'pubsub')) st.queue.shift();
      }
    }
    this.#inMessage = false;
    this.#done = false;
    return this.#emit(this.#scan, true);
  }

  #emit(len: number, end: boolean): Frame {
    const frame = this.buf.consume(len);
    if (this.#payloadLeft > 0) this.#payloadStart -= len;
    this.#scan = 0;
    if (!this.#started) {
      this.#started = true;
      this.info = this.#unsolicited ? (end ? UNSOLICITED_WHOLE : UNSOLICITED_START) : end ? WHOLE : START;
    } else this.info = end ? END : MID;
    if (end) this.#started = false;
    return frame;
  }
}
