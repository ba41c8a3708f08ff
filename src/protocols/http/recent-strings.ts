/**
 * Strings decoded from request heads the last time, and what was made of them: a keep-alive client repeats its Host
 * value and often its path from one request to the next, and comparing the bytes with the last string's char codes
 * (latin1: one char per byte) costs less than decoding them again (a call into C++ and a new string, plus a
 * lower-case copy for Host). One per kind for the process, like head.ts's `lastResponseHead`.
 */

/** The last bytes decoded as latin1 (`raw`) and the string made of them (`made`). */
export interface Recent {
  raw: string;
  made: string;
  /** What is made of the latin1 string (the Host value is kept in lower case). */
  readonly make: (raw: string) => string;
}

/** Longer values are decoded each time (the comparison would cost as much). */
const RECENT_LIMIT = 256;

export const RECENT_HOST: Recent = { raw: '', made: '', make: (raw) => raw.toLowerCase() };
export const RECENT_PATH: Recent = { raw: '', made: '', make: (raw) => raw };

/** True when h[from, to) holds exactly the latin1 chars of `s`. */
function bytesAre(h: Buffer, from: number, to: number, s: string): boolean {
  if (to - from !== s.length) return false;
  for (let i = from; i < to; i++) if (h[i] !== s.charCodeAt(i - from)) return false;
  return true;
}

/** `r.make` of h[from, to) decoded as latin1: the last result again when the bytes are the same. */
export function recentLatin1(h: Buffer, from: number, to: number, r: Recent): string {
  if (to - from > RECENT_LIMIT) return r.make(h.toString('latin1', from, to));
  if (bytesAre(h, from, to, r.raw)) return r.made;
  const raw = h.toString('latin1', from, to);
  r.made = r.make(raw);
  r.raw = raw;
  return r.made;
}
