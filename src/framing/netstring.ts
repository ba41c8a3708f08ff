import { z } from 'zod';
import { sizeOption } from '../core/units.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { BufferedFramer, READ_HEADROOM } from './buffered-framer.js';
import type { Frame, FramerFactory } from './framer.js';
import type { FramerPlugin } from './registry.js';

const COLON = 0x3a;
const COMMA = 0x2c;
const COMMA_BUF = Buffer.from(',');
const ZERO = 0x30;
const NINE = 0x39;

/** Bytes of framing around a payload of at most `maxLength` bytes: digits, ':' and ','. */
function overhead(maxLength: number): number {
  return String(maxLength).length + 2;
}

export const netstringOptionsSchema = z
  .strictObject({
    /** Longest payload. Also bounds the number of length digits accepted. */
    maxLength: sizeOption(1).default(1024 * 1024),
    /** Most bytes held while waiting for a netstring to complete. Default: maxLength + overhead + 64 KiB. */
    maxBufferedBytes: sizeOption(1).optional(),
  })
  .superRefine((o, ctx) => {
    const least = o.maxLength + overhead(o.maxLength);
    if (o.maxBufferedBytes !== undefined && o.maxBufferedBytes < least) {
      ctx.addIssue({ code: 'custom', path: ['maxBufferedBytes'], message: `must be at least maxLength + ${least - o.maxLength} (${least})` });
    }
  });
export type NetstringOptions = z.output<typeof netstringOptionsSchema>;

/**
 * djb netstrings: `<decimal length>:<payload>,`. The length has no leading zeros (except "0" itself) and is
 * rejected as soon as its digits exceed maxLength; a missing ':' or ',' is SWY_FRAME_MALFORMED.
 */
export class NetstringFramer extends BufferedFramer {
  readonly name = 'netstring';
  readonly passthrough = false;
  readonly #maxLength: number;
  /** Parsed header of the frame at the head: payload length and header length (digits + ':'), or -1. */
  #payloadLen = -1;
  #headerLen = 0;

  constructor(options: NetstringOptions = netstringOptionsSchema.parse({})) {
    super(options.maxBufferedBytes ?? options.maxLength + overhead(options.maxLength) + READ_HEADROOM);
    this.#maxLength = options.maxLength;
  }

  protected override resetDecodeState(): void {
    this.#payloadLen = -1;
  }

  encode(frame: Frame): Buffer {
    if (frame.length > this.#maxLength) throw this.#tooLarge(frame.length, 'encode');
    const header = `${frame.length}:`;
    const out = Buffer.allocUnsafe(header.length + frame.length + 1);
    out.write(header, 0, 'latin1');
    frame.copy(out, header.length);
    out[out.length - 1] = COMMA;
    return out;
  }

  /** The payload is not copied: a small header Buffer, the frame itself, a shared ','. */
  encodeTo(frame: Frame, out: Buffer[]): void {
    if (frame.length > this.#maxLength) throw this.#tooLarge(frame.length, 'encode');
    out.push(Buffer.from(`${frame.length}:`, 'latin1'), frame, COMMA_BUF);
  }

  protected decodeOne(): Frame | null {
    const buf = this.buf;
    if (this.#payloadLen < 0 && !this.#readHeader()) return this.#waitForMore();
    const commaAt = this.#headerLen + this.#payloadLen;
    if (buf.length <= commaAt) return this.#waitForMore();
    if (buf.byteAt(commaAt) !== COMMA) {
      throw malformed(`netstring: expected ',' after the ${this.#payloadLen}-byte payload, got 0x${buf.byteAt(commaAt).toString(16).padStart(2, '0')}`);
    }
    buf.skip(this.#headerLen);
    const frame = buf.consume(this.#payloadLen);
    buf.skip(1);
    this.#payloadLen = -1;
    return frame;
  }

  /** Parse `<digits>:` at the head; false when it is not complete yet. */
  #readHeader(): boolean {
    const buf = this.buf;
    const held = buf.length;
    let value = 0;
    for (let i = 0; i < held; i++) {
      const b = buf.byteAt(i);
      if (b === COLON) {
        if (i === 0) throw malformed('netstring: empty length before \':\'');
        this.#payloadLen = value;
        this.#headerLen = i + 1;
        return true;
      }
      if (b < ZERO || b > NINE) {
        throw malformed(`netstring: expected a digit${i === 0 ? '' : " or ':'"} at offset ${i}, got 0x${b.toString(16).padStart(2, '0')}`);
      }
      if (i === 1 && value === 0) throw malformed('netstring: leading zero in length');
      value = value * 10 + (b - ZERO);
      if (value > this.#maxLength) throw this.#tooLarge(value, 'decode');
    }
    return false;
  }

  #waitForMore(): null {
    if (this.ended && this.buf.length > 0) {
      throw new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `netstring: input ended inside a netstring (${this.buf.length} bytes held)`, {
        details: { framer: 'netstring', buffered: this.buf.length },
      });
    }
    return null;
  }

  #tooLarge(length: number, op: 'decode' | 'encode'): SwitchyardError {
    return new SwitchyardError(
      ErrorCodes.FRAME_TOO_LARGE,
      `netstring: ${op === 'decode' ? 'announced' : 'cannot encode'} a payload of ${op === 'decode' ? 'at least ' : ''}${length} bytes, maxLength is ${this.#maxLength}`,
      { details: { framer: 'netstring', length, limit: this.#maxLength } },
    );
  }
}

function malformed(message: string): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_MALFORMED, message, { details: { framer: 'netstring' } });
}

export const netstringFramerPlugin: FramerPlugin<NetstringOptions> = {
  name: 'netstring',
  description: 'djb netstrings: <decimal length>:<payload>, with strict length syntax and a maximum payload size.',
  optionsSchema: netstringOptionsSchema,
  factory(options: NetstringOptions): FramerFactory {
    return { name: 'netstring', create: () => new NetstringFramer(options) };
  },
};
