import { z } from 'zod';
import { sizeOption } from '../core/units.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { BufferedFramer, READ_HEADROOM } from './buffered-framer.js';
import type { Frame, FramerFactory } from './framer.js';
import type { FramerPlugin } from './registry.js';

const LF = 0x0a;
const CR = 0x0d;
const LF_BUF = Buffer.from('\n');
const CRLF_BUF = Buffer.from('\r\n');

export const lineOptionsSchema = z
  .strictObject({
    /** 'lf': `\n` only; 'crlf': `\r\n` only (a lone `\n` is data); 'any': `\n` with an optional preceding `\r`. */
    delimiter: z.enum(['lf', 'crlf', 'any']).default('any'),
    /** Frames exclude their delimiter (encode appends one) or include it (encode is the identity). */
    stripDelimiter: z.boolean().default(true),
    /** What encode appends when stripDelimiter is true. Default: 'crlf' for delimiter 'crlf', else 'lf'. */
    encodeDelimiter: z.enum(['lf', 'crlf']).optional(),
    /** Longest line, excluding its delimiter. */
    maxLength: sizeOption(1).default(64 * 1024),
    /** Most bytes held while waiting for a line to complete. Default: maxLength + 2 + 64 KiB. */
    maxBufferedBytes: sizeOption(1).optional(),
  })
  .superRefine((o, ctx) => {
    if (o.delimiter === 'crlf' && o.encodeDelimiter === 'lf') {
      ctx.addIssue({ code: 'custom', path: ['encodeDelimiter'], message: "'lf' is not a line end when delimiter is 'crlf'" });
    }
    if (o.delimiter === 'lf' && o.encodeDelimiter === 'crlf') {
      ctx.addIssue({ code: 'custom', path: ['encodeDelimiter'], message: "with delimiter 'lf' a '\\r' before '\\n' is data; use delimiter 'any' to accept it" });
    }
    if (o.maxBufferedBytes !== undefined && o.maxBufferedBytes < o.maxLength + 2) {
      ctx.addIssue({ code: 'custom', path: ['maxBufferedBytes'], message: `must be at least maxLength + 2 (${o.maxLength + 2})` });
    }
  });
export type LineOptions = z.output<typeof lineOptionsSchema>;

/**
 * Lines ended by `\n`, `\r\n` or either (Netty LineBasedFrameDecoder). An empty line is an empty frame; a lone
 * `\r` is data; a line longer than maxLength fails as soon as that is known, before its end arrives.
 */
export class LineFramer extends BufferedFramer {
  readonly name = 'line';
  readonly passthrough = false;
  readonly #mode: LineOptions['delimiter'];
  readonly #strip: boolean;
  readonly #maxLength: number;
  readonly #suffix: Buffer;
  /** Bytes from the head already known to hold no line end. */
  #scanned = 0;

  constructor(options: LineOptions = lineOptionsSchema.parse({})) {
    super(options.maxBufferedBytes ?? options.maxLength + 2 + READ_HEADROOM);
    this.#mode = options.delimiter;
    this.#strip = options.stripDelimiter;
    this.#maxLength = options.maxLength;
    const enc = options.encodeDelimiter ?? (options.delimiter === 'crlf' ? 'crlf' : 'lf');
    this.#suffix = enc === 'crlf' ? CRLF_BUF : LF_BUF;
  }

  protected override resetDecodeState(): void {
    this.#scanned = 0;
  }

  encode(frame: Frame): Buffer {
    if (!this.#strip) {
      this.#checkWholeLine(frame);
      return frame;
    }
    this.#checkStrippedLine(frame);
    const n = frame.length;
    const out = Buffer.allocUnsafe(n + this.#suffix.length);
    out.set(frame, 0); // TypedArray#set: no native-binding call, much faster than copy() for short lines
    if (this.#suffix === CRLF_BUF) {
      out[n] = CR;
      out[n + 1] = LF;
    } else out[n] = LF;
    return out;
  }

  /** Zero-copy: the frame itself, then (when stripping) the shared line-end constant. */
  encodeTo(frame: Frame, out: Buffer[]): void {
    if (!this.#strip) {
      this.#checkWholeLine(frame);
      out.push(frame);
      return;
    }
    this.#checkStrippedLine(frame);
    out.push(frame, this.#suffix);
  }

  /**
   * Forward complete lines as received when decode + encode would reproduce them byte for byte (see
   * Framer.forwardRaw): one indexOf per line, no per-line objects. Stops before a line that is too long or whose line
   * end encode would rewrite (e.g. CRLF received, LF encoded); next() deals with that one.
   */
  forwardRaw(out: Buffer[]): number {
    if (this.failed) return 0;
    const buf = this.buf;
    const crlfSuffix = this.#suffix.length === 2;
    let lineStart = 0;
    let from = 0;
    let lines = 0;
    for (;;) {
      const lf = buf.indexOf(LF, from);
      if (lf < 0) break;
      const hasCR = this.#mode !== 'lf' && lf > lineStart && buf.byteAt(lf - 1) === CR;
      if (this.#mode === 'crlf' && !hasCR) {
        from = lf + 1; // a lone LF is data inside the line
        continue;
      }
      const content = (hasCR ? lf - 1 : lf) - lineStart;
      if (content > this.#maxLength) break;
      if (this.#strip && hasCR !== crlfSuffix) break; // encode would write the other line end
      lines++;
      lineStart = from = lf + 1;
    }
    if (lineStart === 0) return 0;
    this.#scanned = 0;
    out.push(buf.consume(lineStart));
    return lines;
  }

  protected decodeOne(): Frame | null {
    const buf = this.buf;
    for (;;) {
      const lf = buf.indexOf(LF, this.#scanned);
      if (lf < 0) break;
      let content = lf;
      let delimLen = 1;
      if (this.#mode !== 'lf' && lf > 0 && buf.byteAt(lf - 1) === CR) {
        content = lf - 1;
        delimLen = 2;
      } else if (this.#mode === 'crlf') {
        this.#scanned = lf + 1; // a lone LF is data
        continue;
      }
      if (content > this.#maxLength) throw this.#tooLarge(content, 'decode');
      this.#scanned = 0;
      if (!this.#strip) return buf.consume(lf + 1);
      const frame = buf.consume(content);
      buf.skip(delimLen);
      return frame;
    }
    const held = buf.length;
    this.#scanned = held;
    if (held === 0) return null;
    // a trailing CR may still become part of a CRLF; every other byte is line content
    const known = this.#mode !== 'lf' && buf.byteAt(held - 1) === CR ? held - 1 : held;
    if (known > this.#maxLength) throw this.#tooLarge(known, 'decode');
    if (this.ended) {
      throw new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `line: input ended inside a line (${held} bytes without a line end)`, {
        details: { framer: 'line', buffered: held },
      });
    }
    return null;
  }

  /** With stripDelimiter true, a frame must fit maxLength, hold no line end, and not read back differently. */
  #checkStrippedLine(frame: Buffer): void {
    if (frame.length > this.#maxLength) throw this.#tooLarge(frame.length, 'encode');
    if (this.#mode === 'crlf' ? frame.indexOf(CRLF_BUF) >= 0 : frame.indexOf(LF) >= 0) {
      throw malformed('line: cannot encode a frame that contains a line end');
    }
    if (this.#mode === 'any' && this.#suffix === LF_BUF && frame.length > 0 && frame[frame.length - 1] === CR) {
      throw malformed("line: cannot encode a frame ending in '\\r' with encodeDelimiter 'lf' (it would read as '\\r\\n')");
    }
  }

  /** With stripDelimiter false, a frame must be exactly one line including its end. */
  #checkWholeLine(frame: Buffer): void {
    const n = frame.length;
    let content: number;
    if (this.#mode === 'crlf') {
      const at = frame.indexOf(CRLF_BUF);
      if (at < 0 || at !== n - 2) throw malformed('line: frame must be exactly one line ending in \\r\\n');
      content = at;
    } else {
      const at = frame.indexOf(LF);
      if (at < 0 || at !== n - 1) throw malformed('line: frame must be exactly one line ending in \\n');
      content = this.#mode === 'any' && at > 0 && frame[at - 1] === CR ? at - 1 : at;
    }
    if (content > this.#maxLength) throw this.#tooLarge(content, 'encode');
  }

  #tooLarge(length: number, op: 'decode' | 'encode'): SwitchyardError {
    return new SwitchyardError(
      ErrorCodes.FRAME_TOO_LARGE,
      `line: ${op === 'decode' ? 'received' : 'cannot encode'} a line of ${length}+ bytes, maxLength is ${this.#maxLength}`,
      { details: { framer: 'line', length, limit: this.#maxLength } },
    );
  }
}

function malformed(message: string): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_MALFORMED, message, { details: { framer: 'line' } });
}

export const lineFramerPlugin: FramerPlugin<LineOptions> = {
  name: 'line',
  description: 'Text lines ended by \\n, \\r\\n or either (Netty LineBasedFrameDecoder), with a maximum line length.',
  optionsSchema: lineOptionsSchema,
  factory(options: LineOptions): FramerFactory {
    return { name: 'line', create: () => new LineFramer(options) };
  },
};
