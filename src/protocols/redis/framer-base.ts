/** What the Redis request and response framers share: options, frame infos, bulk-length and CRLF checks. */
import { BufferedFramer, READ_HEADROOM } from '../../framing/buffered-framer.js';
import type { Frame } from '../../framing/framer.js';
import type { MessageInfo, ProtocolFramer } from '../protocol.js';
import { CR, LF, malformed, tooLarge } from './resp.js';
import type { RedisState } from './state.js';

export interface RedisCodecOptions {
  maxFrame: number;
  maxLine: number;
  maxDepth: number;
  maxBulkLength: number;
  maxBufferedBytes?: number | undefined;
}

export const MID: MessageInfo = { start: false, end: false };
export const END: MessageInfo = { start: false, end: true };
export const WHOLE: MessageInfo = { start: true, end: true };
export const START: MessageInfo = { start: true, end: false };
export const UNSOLICITED_WHOLE: MessageInfo = { start: true, end: true, unsolicited: true };
export const UNSOLICITED_START: MessageInfo = { start: true, end: false, unsolicited: true };

/** Frames pass through unchanged; subclasses parse one direction. */
export abstract class RedisFramerBase extends BufferedFramer implements ProtocolFramer {
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
