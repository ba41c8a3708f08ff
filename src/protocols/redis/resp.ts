import type { ByteList } from '../../core/byte-list.js';
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';

export const CR = 0x0d;
export const LF = 0x0a;

/** Result of {@link findLine}: the position of the LF ending the line, or -1 when more bytes are needed. */
export function findLine(buf: ByteList, from: number, maxLine: number, what: string): number {
  const lf = buf.indexOf(LF, from);
  if (lf < 0) {
    if (buf.length - from > maxLine + 1) throw tooLarge(`${what} line of ${buf.length - from}+ bytes`, 'maxLine', maxLine);
    return -1;
  }
  if (lf - from > maxLine + 1) throw tooLarge(`${what} line of ${lf - from} bytes`, 'maxLine', maxLine);
  return lf;
}

/**
 * The integer written at [from, to) of `buf` (an optional '-' then decimal digits), or NaN when it is not one.
 * Lines are short, so this reads byte by byte without allocating.
 */
export function readInt(buf: ByteList, from: number, to: number): number {
  if (to <= from) return Number.NaN;
  let neg = false;
  let i = from;
  if (buf.byteAt(i) === 0x2d) {
    neg = true;
    i++;
    if (i === to) return Number.NaN;
  }
  let v = 0;
  for (; i < to; i++) {
    const c = buf.byteAt(i) - 0x30;
    if (c < 0 || c > 9) return Number.NaN;
    v = v * 10 + c;
    if (v > Number.MAX_SAFE_INTEGER) return Number.NaN;
  }
  return neg ? -v : v;
}

/** The bytes at [from, to) as a latin1 string, at most `max` characters. */
export function latin1(buf: ByteList, from: number, to: number, max = 256): string {
  const end = Math.min(to, from + max);
  let s = '';
  for (let i = from; i < end; i++) s += String.fromCharCode(buf.byteAt(i));
  return s;
}

export function malformed(message: string, details: Record<string, unknown> = {}): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_MALFORMED, `redis: ${message}`, { details: { protocol: 'redis', ...details } });
}

export function tooLarge(what: string, limitName: string, limit: number): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_TOO_LARGE, `redis: ${what} exceeds ${limitName} (${limit})`, {
    details: { protocol: 'redis', limit, limitName },
  });
}

export function truncated(what: string, buffered: number): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `redis: input ended inside ${what} (${buffered} bytes held)`, {
    details: { protocol: 'redis', buffered },
  });
}

/** Printable form of a byte for error messages. */
export function showByte(b: number): string {
  return b >= 0x20 && b < 0x7f ? `'${String.fromCharCode(b)}'` : `0x${b.toString(16).padStart(2, '0')}`;
}
