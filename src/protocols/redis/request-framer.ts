/** Client → server: multibulk and inline commands, their attributes, and how many replies each one expects. */
import type { Frame } from '../../framing/framer.js';
import type { MessageInfo } from '../protocol.js';
import { END, MID, RedisFramerBase } from './framer-base.js';
import { CR, findLine, latin1, malformed, readInt, showByte, truncated } from './resp.js';
import type { Kind, Pending, RequestRecord } from './state.js';

/** Characters of an argument captured for attributes and pub/sub bookkeeping. */
const CAPTURE = 256;

/** Commands whose first argument is a subcommand (`CLIENT SETNAME`, `CONFIG GET`, `XINFO STREAM`). */
const CONTAINERS = new Set([
  'ACL', 'CLIENT', 'CLUSTER', 'COMMAND', 'CONFIG', 'DEBUG', 'FUNCTION', 'LATENCY', 'MEMORY', 'MODULE', 'OBJECT',
  'PUBSUB', 'SCRIPT', 'SLOWLOG', 'XGROUP', 'XINFO',
]);
const SUBSCRIBE = new Set(['SUBSCRIBE', 'PSUBSCRIBE', 'SSUBSCRIBE']);
const UNSUBSCRIBE = new Set(['UNSUBSCRIBE', 'PUNSUBSCRIBE', 'SUNSUBSCRIBE']);
const MULTI_CONTROL = new Set(['EXEC', 'DISCARD', 'MULTI', 'WATCH', 'RESET', 'QUIT']);
/** Connection setup (`MessageInfo.setup`): what client libraries send before the application's first command. */
const SETUP = new Set(['HELLO', 'AUTH', 'SELECT', 'READONLY']);
/** `CLIENT MAINT_NOTIFICATIONS`: ioredis 6 (RESP3) opens with it, after `CLIENT SETINFO`. */
const SETUP_CLIENT = new Set(['SETNAME', 'SETINFO', 'MAINT_NOTIFICATIONS']);
/** The module's declared list (docs, `GET /api/v1/protocols`), kept next to the rule. */
export const REDIS_SETUP: readonly string[] = [
  'HELLO', 'AUTH', 'SELECT', 'CLIENT SETNAME', 'CLIENT SETINFO', 'CLIENT MAINT_NOTIFICATIONS', 'READONLY', 'the first INFO of a connection',
];

const R_IDLE = 0;
const R_ARG_HEADER = 1;
const R_PAYLOAD = 2;

export class RedisRequestFramer extends RedisFramerBase {
  #phase = R_IDLE;
  /** Bytes of the current message held and parsed but not yet returned. */
  #scan = 0;
  #started = false;
  #argc = 0;
  #argIdx = 0;
  #payloadLen = 0;
  /** Bytes left of the current bulk payload, CRLF included. */
  #payloadLeft = 0;
  #payloadStart = 0;
  #captured = false;
  #caps: string[] = [];
  #cmd = '';
  #pubsubArgs: string[] | undefined;
  #record: RequestRecord | undefined;

  protected override resetDecodeState(): void {
    this.#phase = R_IDLE;
    this.#scan = 0;
    this.#started = false;
  }

  protected decodeOne(): Frame | null {
    const buf = this.buf;
    for (;;) {
      if (this.#phase === R_IDLE) {
        this.state.commit();
        if (buf.length === 0) return null;
        if (buf.byteAt(0) !== 0x2a /* '*' */) return this.#inline();
        const lf = findLine(buf, 0, this.maxLine, 'multibulk header');
        if (lf < 0) return this.#needMore('a multibulk header');
        if (lf < 2 || buf.byteAt(lf - 1) !== CR) throw malformed('multibulk header must end with \\r\\n');
        const n = readInt(buf, 1, lf - 1);
        if (Number.isNaN(n) || n > 0x7fffffff) throw malformed(`invalid multibulk length ${JSON.stringify(latin1(buf, 1, lf - 1, 40))}`);
        if (n <= 0) return this.#emitWhole(lf + 1, [], 0); // `*0` / `*-1`: Redis ignores it, no reply
        this.#phase = R_ARG_HEADER;
        this.#argc = n;
        this.#argIdx = 0;
        this.#scan = lf + 1;
        this.#started = false;
        this.#caps = [];
        this.#captured = false;
        this.#pubsubArgs = undefined;
        continue;
      }
      if (this.#phase === R_ARG_HEADER) {
        if (this.#argIdx === this.#argc) {
          this.#phase = R_IDLE;
          return this.#emit(this.#scan, true);
        }
        const at = this.#scan;
        if (buf.length <= at) return this.#needMore('a multibulk request');
        const lf = findLine(buf, at, this.maxLine, 'bulk header');
        if (lf < 0) return this.#needMore('a bulk header');
        if (buf.byteAt(at) !== 0x24 /* '$' */) throw malformed(`expected '$' in a multibulk request, got ${showByte(buf.byteAt(at))}`);
        if (buf.byteAt(lf - 1) !== CR) throw malformed('bulk header must end with \\r\\n');
        this.#payloadLen = this.bulkLength(readInt(buf, at + 1, lf - 1), 'bulk');
        this.#payloadLeft = this.#payloadLen + 2;
        this.#payloadStart = lf + 1;
        this.#scan = lf + 1;
        this.#captured = false;
        this.#phase = R_PAYLOAD;
        continue;
      }
      // R_PAYLOAD
      const avail = buf.length - this.#scan;
      if (!this.#captured) {
        const need = Math.min(this.#payloadLen, CAPTURE);
        if (avail < need) return this.#needMore('a bulk string');
        this.#capture(latin1(buf, this.#payloadStart, this.#payloadStart + need));
      }
      if (avail >= this.#payloadLeft && (this.#payloadLen + 2 <= this.maxFrame || this.#scan + this.#payloadLeft <= this.maxFrame)) {
        this.checkCRLF(this.#scan + this.#payloadLeft - 2, 'bulk string');
        this.#scan += this.#payloadLeft;
        this.#payloadLeft = 0;
        this.#argIdx++;
        this.#phase = R_ARG_HEADER;
        if (this.#argIdx < this.#argc && this.#scan >= this.maxFrame && this.#startReady()) return this.#emit(this.#scan, false);
        continue;
      }
      if (this.#payloadLen + 2 <= this.maxFrame) return this.#needMore('a bulk string');
      // a large bulk string: forward its data as it arrives, in frames of at most maxFrame bytes
      if (!this.#started && this.#caps.length < Math.min(this.#argc, 3, this.#argIdx + 1)) return this.#needMore('a bulk string');
      const data = Math.min(avail, this.#payloadLeft - 2);
      const len = Math.max(this.#scan, Math.min(this.#scan + data, this.maxFrame));
      if (len === 0) return this.#needMore('a bulk string');
      this.#payloadLeft -= len - this.#scan;
      return this.#emit(len, false);
    }
  }

  #needMore(what: string): null {
    if (this.ended && (this.buf.length > 0 || this.#phase !== R_IDLE)) throw truncated(what, this.buf.length);
    return null;
  }

  #startReady(): boolean {
    return this.#started || this.#caps.length >= Math.min(this.#argc, 3);
  }

  #capture(value: string): void {
    this.#captured = true;
    const i = this.#argIdx;
    if (i < 3) this.#caps.push(value);
    if (i === 0) {
      this.#cmd = value.toUpperCase();
      if (SUBSCRIBE.has(this.#cmd) || UNSUBSCRIBE.has(this.#cmd)) this.#pubsubArgs = [];
    } else if (this.#pubsubArgs) this.#pubsubArgs.push(value);
  }

  /** An inline command: one line, arguments separated by blanks. */
  #inline(): Frame | null {
    const buf = this.buf;
    const lf = findLine(buf, 0, this.maxLine, 'inline command');
    if (lf < 0) return this.#needMore('an inline command');
    const end = lf > 0 && buf.byteAt(lf - 1) === CR ? lf - 1 : lf;
    const words = latin1(buf, 0, end, this.maxLine + 1).split(/[ \t]+/).filter((w) => w.length > 0);
    this.#cmd = (words[0] ?? '').toUpperCase();
    this.#pubsubArgs = SUBSCRIBE.has(this.#cmd) || UNSUBSCRIBE.has(this.#cmd) ? words.slice(1).map((w) => w.slice(0, CAPTURE)) : undefined;
    return this.#emitWhole(lf + 1, words.slice(0, 3).map((w) => w.slice(0, CAPTURE)), words.length);
  }

  #emitWhole(len: number, caps: string[], argc: number): Frame {
    this.#caps = caps;
    this.#argc = argc;
    this.#started = false;
    this.#phase = R_IDLE;
    return this.#emit(len, true);
  }

  #emit(len: number, end: boolean): Frame {
    const frame = this.buf.consume(len);
    this.#scan = 0;
    if (!this.#started) {
      this.#started = true;
      this.info = this.#startRequest(end);
    } else this.info = end ? END : MID;
    if (end && this.#record) {
      this.#record.complete = true;
      this.#record.effects = this.#effects();
      this.#record = undefined;
    }
    return frame;
  }

  #startRequest(end: boolean): MessageInfo {
    const st = this.state;
    const caps = this.#caps;
    const argc = this.#argc;
    const cmd = argc > 0 ? (caps[0] ?? '').toUpperCase() : '';
    this.#cmd = cmd;
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
    attributes['db'] = st.db;

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
    if (!end) this.#record = record;
    else {
      record.complete = true;
      record.effects = this.#effects();
    }
    // Inside MULTI a command is part of the application's transaction, never connection setup.
    let setup = !st.inMulti && (SETUP.has(cmd) || (cmd === 'CLIENT' && SETUP_CLIENT.has(sub)));
    if (cmd === 'INFO' && !st.inMulti) {
      setup = !st.infoSeen;
      st.infoSeen = true;
    }
    const info: MessageInfo = setup ? { start: true, end, responses, attributes, setup } : { start: true, end, responses, attributes };
    st.byAttributes.set(info.attributes!, record);
    return info;
  }

  /** What the request just framed changes for the requests after it (applied once it is complete, unless replaced). */
  #effects(): (() => void) | undefined {
    const st = this.state;
    const cmd = this.#cmd;
    const caps = this.#caps;
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
      case 'SELECT': {
        const db = Number(caps[1]);
        return Number.isInteger(db) && db >= 0 ? () => (st.db = db) : undefined;
      }
      case 'RESET':
        return () => {
          st.db = 0;
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
    const names = this.#pubsubArgs;
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
