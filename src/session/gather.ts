import type { Writable } from 'node:stream';
import type { Framer } from '../framing/framer.js';
import { memoryOf, offsetOf, viewOf } from '../core/byte-list.js';

/** Append a frame's wire bytes, without an intermediate copy when the framer offers encodeTo. */
export function encodeInto(framer: Framer, frame: Buffer, out: Buffer[]): void {
  if (framer.encodeTo) framer.encodeTo(frame, out);
  else out.push(framer.encode(frame));
}

/**
 * Write frames' wire bytes with as few copies as possible: views that are adjacent in one received chunk are
 * joined into one view (a chunk of re-encoded lines is written as the chunk itself); a few runs go out as one
 * corked writev; many small pieces are concatenated once.
 *
 * `whole`: the chunk the parts were most likely cut from (the last one read). When every part is adjacent in one
 * memory and together they are exactly that chunk's bytes (an HTTP message read in one chunk: its head and body
 * frames), the chunk itself is written: no new view, no list of runs.
 */
export function writeGathered(dest: Writable, parts: Buffer[], whole?: Buffer): boolean {
  if (parts.length === 1) return dest.write(parts[0]!);
  const first = parts[0]!;
  const mem = memoryOf(first);
  const base = offsetOf(first);
  let end = base + first.length;
  let i = 1;
  for (; i < parts.length; i++) {
    const b = parts[i]!;
    if (memoryOf(b) !== mem || offsetOf(b) !== end) break;
    end += b.length;
  }
  if (i === parts.length) {
    if (whole !== undefined && whole.length === end - base && offsetOf(whole) === base && memoryOf(whole) === mem) return dest.write(whole);
    return dest.write(viewOf(mem, base, end - base));
  }
  const runs: Buffer[] = [];
  let cur = parts[0]!;
  let curLen = cur.length;
  for (let i = 1; i < parts.length; i++) {
    const b = parts[i]!;
    if (b.buffer === cur.buffer && cur.byteOffset + curLen === b.byteOffset) {
      curLen += b.length;
    } else {
      runs.push(curLen === cur.length ? cur : Buffer.from(cur.buffer, cur.byteOffset, curLen));
      cur = b;
      curLen = b.length;
    }
  }
  runs.push(curLen === cur.length ? cur : Buffer.from(cur.buffer, cur.byteOffset, curLen));
  if (runs.length === 1) return dest.write(runs[0]!);
  if (runs.length > 8) return dest.write(Buffer.concat(runs));
  dest.cork();
  let ok = true;
  for (const r of runs) ok = dest.write(r);
  dest.uncork();
  return ok;
}
