import { z } from 'zod';
import { sizeOption } from '../core/units.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { BufferedFramer, READ_HEADROOM } from './buffered-framer.js';
import type { Frame, FramerFactory } from './framer.js';
import type { FramerPlugin } from './registry.js';
const HEX = /^\s*(?:[0-9a-fA-F]{2}\s*)+$/;

/** A delimiter: a non-empty UTF-8 string, or `{ hex: "0d0a" }` for arbitrary bytes (whitespace between pairs allowed). */
export const delimiterSpecSchema = z.union([
  z.string().min(1, 'a delimiter must not be empty'),
  z.strictObject({ hex: z.string().regex(HEX, 'expected pairs of hex digits, e.g. "00" or "0d 0a"') }),
]);
export type DelimiterSpec = z.output<typeof delimiterSpecSchema>;

/** The bytes of a delimiter spec. */
export function delimiterBytes(spec: DelimiterSpec): Buffer {
  return typeof spec === 'string' ? Buffer.from(spec, 'utf8') : Buffer.from(spec.hex.replace(/\s+/g, ''), 'hex');
}

export const delimiterOptionsSchema = z
  .strictObject({
    /** One or more delimiters; a frame ends at the delimiter giving the shortest frame (first listed on a tie). */
    delimiters: z.array(delimiterSpecSchema).min(1, 'at least one delimiter is required'),
    /** Frames exclude their delimiter (encode appends the first one) or include it (encode is the identity). */
    stripDelimiter: z.boolean().default(true),
    /** Longest frame, excluding its delimiter. */
    maxLength: sizeOption(1).default(64 * 1024),
    /** Most bytes held while waiting for a frame to complete. Default: maxLength + longest delimiter + 64 KiB. */
    maxBufferedBytes: sizeOption(1).optional(),
  })
  .superRefine((o, ctx) => {
    const seen = new Set<string>();
    let longest = 0;
    o.delimiters.forEach((d, i) => {
      const hex = delimiterBytes(d).toString('hex');
      if (seen.has(hex)) ctx.addIssue({ code: 'custom', path: ['delimiters', i], message: 'duplicate delimiter' });
      seen.add(hex);
      longest = Math.max(longest, hex.length / 2);
    });
    if (o.maxBufferedBytes !== undefined && o.maxBufferedBytes < o.maxLength + longest) {
      ctx.addIssue({ code: 'custom', path: ['maxBufferedBytes'], message: `must be at least maxLength + longest delimiter (${o.maxLength + longest})` });
    }
  });
export type DelimiterOptions = z.output<typeof delimiterOptionsSchema>;

/**
 * Frames ended by one of several byte sequences (Netty DelimiterBasedFrameDecoder): the delimiter giving the
 * shortest frame wins. Each delimiter remembers where its next occurrence is (or how far it searched), so many
 * frames in one chunk cost one pass per delimiter, not one per frame.
 */
export class DelimiterFramer extends BufferedFramer {
  readonly name = 'delimiter';
  readonly passthrough = false;
  readonly #delims: Buffer[];
  readonly #longest: number;
  readonly #strip: boolean;
  readonly #maxLength: number;
  /** Absolute position (bytes consumed since creation) of the head. */
  #abs = 0;
  /** Per delimiter: absolute position of its first occurrence at/after the head, or -1 when not found yet. */
  readonly #found: number[];
  /** Per delimiter: absolute position from which a search must resume when `found` is -1. */
  readonly #searchFrom: number[];

  constructor(options: DelimiterOptions) {
    const delims = options.delimiters.map(delimiterBytes);
    if (delims.length === 0 || delims.some((d) => d.length === 0)) {
      throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, 'delimiter: need one or more non-empty delimiters');
    }
    const longest = Math.max(...delims.map((d) => d.length));
    super(options.maxBufferedBytes ?? options.maxLength + longest + READ_HEADROOM);
    this.#delims = delims;
    this.#longest = longest;
    this.#strip = options.stripDelimiter;
    this.#maxLength = options.maxLength;
    this.#found = this.#delims.map(() => -1);
    this.#searchFrom = this.#delims.map(() => 0);
  }

  protected override resetDecodeState(): void {
    this.#abs += this.buf.length;
    this.#found.fill(-1);
    this.#searchFrom.fill(0);
  }

  encode(frame: Frame): Buffer {
    if (!this.#strip) return this.#checkRecord(frame);
    this.#checkStripped(frame);
    const d0 = this.#delims[0]!;
    const out = Buffer.allocUnsafe(frame.length + d0.length);
    frame.copy(out, 0);
    d0.copy(out, frame.length);
    return out;
  }

  /** Zero-copy: the frame itself, then (when stripping) the first delimiter. */
  encodeTo(frame: Frame, out: Buffer[]): void {
    if (!this.#strip) out.push(this.#checkRecord(frame));
    else {
      this.#checkStripped(frame);
      out.push(frame, this.#delims[0]!);
    }
  }

  /** With stripDelimiter true: within maxLength, and no delimiter starts inside the frame followed by the first one. */
  #checkStripped(frame: Buffer): void {
    if (frame.length > this.#maxLength) throw this.#tooLarge(frame.length, 'encode');
    for (const d of this.#delims) {
      if (this.#startsInside(frame, d)) throw malformed('delimiter: cannot encode a frame that contains (part of) a delimiter');
    }
  }

  /** True when `d` occurs in `frame` + the first delimiter at a position inside `frame`. */
  #startsInside(frame: Buffer, d: Buffer): boolean {
    if (frame.indexOf(d) >= 0) return true;
    const n = frame.length;
    const d0 = this.#delims[0]!;
    // occurrences straddling the end of the frame: start p in (n - d.length, n), ending within frame + d0
    for (let p = Math.max(0, n - d.length + 1); p < n && p + d.length <= n + d0.length; p++) {
      let k = 0;
      while (k < d.length && (p + k < n ? frame[p + k] : d0[p + k - n]) === d[k]) k++;
      if (k === d.length) return true;
    }
    return false;
  }

  /** With stripDelimiter false: the frame must be exactly one record ending in its delimiter (returned as is). */
  #checkRecord(frame: Buffer): Buffer {
    let best = -1;
    let bestLen = 0;
    for (const d of this.#delims) {
      const at = frame.indexOf(d);
      if (at >= 0 && (best < 0 || at < best)) {
        best = at;
        bestLen = d.length;
      }
    }
    if (best < 0 || best + bestLen !== frame.length) {
      throw malformed('delimiter: a frame must be exactly one record ending in its delimiter');
    }
    if (best > this.#maxLength) throw this.#tooLarge(best, 'encode');
    return frame;
  }

  protected decodeOne(): Frame | null {
    const buf = this.buf;
    const head = this.#abs;
    const held = buf.length;
    let best = -1;
    let bestLen = 0;
    for (let i = 0; i < this.#delims.length; i++) {
      let at = this.#found[i]!;
      if (at < head) {
        const d = this.#delims[i]!;
        const rel = buf.indexOf(d, Math.max(head, this.#searchFrom[i]!) - head);
        if (rel >= 0) at = head + rel;
        else {
          at = -1;
          this.#searchFrom[i] = head + Math.max(0, held - d.length + 1);
        }
        this.#found[i] = at;
      }
      if (at >= 0 && (best < 0 || at < best)) {
        best = at;
        bestLen = this.#delims[i]!.length;
      }
    }
    if (best >= 0) {
      const content = best - head;
      if (content > this.#maxLength) throw this.#tooLarge(content, 'decode');
      const total = content + bestLen;
      this.#abs += total;
      if (!this.#strip) return buf.consume(total);
      const frame = buf.consume(content);
      buf.skip(bestLen);
      return frame;
    }
    if (held === 0) return null;
    if (held > this.#maxLength) {
      const known = held - this.#partialDelimiterAtEnd();
      if (known > this.#maxLength) throw this.#tooLarge(known, 'decode');
    }
    if (this.ended) {
      throw new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `delimiter: input ended inside a frame (${held} bytes without a delimiter)`, {
        details: { framer: 'delimiter', buffered: held },
      });
    }
    return null;
  }

  /** Length of the longest tail of the buffer that is a proper prefix of some delimiter (could still complete). */
  #partialDelimiterAtEnd(): number {
    const held = this.buf.length;
    const tail = this.buf.peek(held - Math.min(held, this.#longest - 1));
    for (let k = tail.length; k > 0; k--) {
      const t = tail.subarray(tail.length - k);
      if (this.#delims.some((d) => d.length > k && d.subarray(0, k).equals(t))) return k;
    }
    return 0;
  }

  #tooLarge(length: number, op: 'decode' | 'encode'): SwitchyardError {
    return new SwitchyardError(
      ErrorCodes.FRAME_TOO_LARGE,
      `delimiter: ${op === 'decode' ? 'received' : 'cannot encode'} a frame of ${length}+ bytes, maxLength is ${this.#maxLength}`,
      { details: { framer: 'delimiter', length, limit: this.#maxLength } },
    );
  }
}

function malformed(message: string): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_MALFORMED, message, { details: { framer: 'delimiter' } });
}

export const delimiterFramerPlugin: FramerPlugin<DelimiterOptions> = {
  name: 'delimiter',
  description: 'Frames ended by one of several byte sequences; the delimiter giving the shortest frame wins (Netty DelimiterBasedFrameDecoder).',
  optionsSchema: delimiterOptionsSchema,
  factory(options: DelimiterOptions): FramerFactory {
    return { name: 'delimiter', create: () => new DelimiterFramer(options) };
  },
};
