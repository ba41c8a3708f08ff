/** What the memcached request and response framers share: options, frame infos, line and data-block reading. */
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { BufferedFramer, READ_HEADROOM } from '../../framing/buffered-framer.js';
import type { Frame } from '../../framing/framer.js';
import type { MessageInfo, ProtocolFramer } from '../protocol.js';
import type { MemcacheState } from './state.js';

export interface MemcacheCodecOptions {
  maxFrame: number;
  maxLine: number;
  maxValueLength: number;
  maxBufferedBytes?: number | undefined;
}

const CR = 0x0d;
const LF = 0x0a;
export const MID: MessageInfo = { start: false, end: false };
export const END: MessageInfo = { start: false, end: true };
export const WHOLE: MessageInfo = { start: true, end: true };
export const START: MessageInfo = { start: true, end: false };
export const UNSOLICITED_WHOLE: MessageInfo = { start: true, end: true, unsolicited: true };
export const UNSOLICITED_START: MessageInfo = { start: true, end: false, unsolicited: true };

export function malformed(message: string): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_MALFORMED, `memcache: ${message}`, { details: { protocol: 'memcache' } });
}

function tooLarge(what: string, limitName: string, limit: number): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_TOO_LARGE, `memcache: ${what} exceeds ${limitName} (${limit})`, {
    details: { protocol: 'memcache', limit, limitName },
  });
}

export abstract class MemcacheFramerBase extends BufferedFramer implements ProtocolFramer {
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
