/**
 * Seeded input generation for the codec fuzzer: a small PRNG, mutations of recorded transcripts (byte flips,
 * insertions, deletions, duplications, splices of other corpus messages, huge length fields, truncation, steps
 * dropped, repeated, reordered or sent the wrong way) and random chunk boundaries.
 */
import type { Step, Transcript } from './corpus.js';

/** xorshift128+ style generator on 32-bit halves: fast, seeded, good enough for fuzzing. */
export class Rng {
  #a: number;
  #b: number;

  constructor(seed: number) {
    this.#a = (seed ^ 0x9e3779b9) >>> 0 || 1;
    this.#b = (Math.imul(seed, 0x85ebca6b) ^ 0xc2b2ae35) >>> 0 || 2;
    for (let i = 0; i < 8; i++) this.u32();
  }

  u32(): number {
    let s1 = this.#a;
    const s0 = this.#b;
    this.#a = s0;
    s1 ^= s1 << 23;
    s1 ^= s1 >>> 17;
    s1 ^= s0;
    s1 ^= s0 >>> 26;
    this.#b = s1 >>> 0;
    return (this.#a + this.#b) >>> 0;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : this.u32() % n;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

/** Byte values and tokens that tend to matter to text and binary parsers. */
const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x0d, 0x20, 0x24, 0x2a, 0x2b, 0x2d, 0x3a, 0x2c, 0x2e, 0x30, 0x39, 0x3e, 0x5f, 0x7c];
const TOKENS = [
  '\r\n', '\n', '\r\n\r\n', '\r\n.\r\n', '.\r\n', '$-1\r\n', '*-1\r\n', '*999999999\r\n', '$99999999999\r\n', ':-9223372036854775809\r\n',
  '>3\r\n', '%2\r\n', '~1\r\n', '|1\r\n', '=5\r\ntxt:x\r\n', '(12345678901234567890\r\n', ',inf\r\n', '_\r\n', '#t\r\n', '!4\r\nERR!\r\n',
  'Content-Length: 99999999999999\r\n', 'Content-Length: -1\r\n', 'Content-Length: 5\r\nContent-Length: 6\r\n', 'Transfer-Encoding: chunked\r\n',
  'Transfer-Encoding: chunked, gzip\r\n', 'ffffffffffffffffff\r\n', '0\r\n\r\n', 'Upgrade: websocket\r\nConnection: Upgrade\r\n', 'Expect: 100-continue\r\n',
  'HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 101 Switching Protocols\r\n\r\n', 'CONNECT a:1 HTTP/1.1\r\n', 'HEAD / HTTP/1.1\r\n',
  'get a b c\r\n', 'set k 0 0 4294967296\r\n', 'VALUE k 0 99999999999\r\n', 'mg k v\r\n', 'VA 999999999 f\r\n', 'gat 0 k\r\n',
  'DATA\r\n', 'BDAT 99999999999 LAST\r\n', 'BDAT 5\r\n', '354 go\r\n', '250-a\r\n250 b\r\n', 'STARTTLS\r\n', 'AUTH PLAIN\r\n',
  '\x00\x00\x00\x08\x04\xd2\x16\x2f', '\x00\x00\x00\x08\x04\xd2\x16\x2e', 'N', 'S', 'E', 'Z\x00\x00\x00\x05I', 'd\x7f\xff\xff\xff', 'c\x00\x00\x00\x04',
  '\xff\xff\xff\x00', '\xff\xff\xff\x01', '\x00\x00\x00\x03', '\xfe\x00\x00\x02\x00', '\xfb', '\xfc\xff\xff', '\xfd\xff\xff\xff', '\xfe\xff\xff\xff\xff\xff\xff\xff\xff',
  '99999999999999999999:', '0:,', '00:,', '\x00', '\x00\x00', '\xff', '\xff\xff\xff\xff', '\x7f\xff\xff\xff', '\x80\x00\x00\x00\x00\x00\x00\x00',
].map((t) => Buffer.from(t, 'latin1'));
const HUGE_NUMBERS = ['0', '-1', '-0', '+1', '2147483648', '4294967296', '9007199254740993', '99999999999999999999', '9'.repeat(40), '1e9', '0x10', ' 1', ''];

function splice(b: Buffer, at: number, remove: number, insert: Buffer): Buffer {
  return Buffer.concat([b.subarray(0, at), insert, b.subarray(at + remove)]);
}

/** One mutation of one step's bytes; `pool` gives splice material (messages of the same and other corpora). */
function mutateBytes(rng: Rng, b: Buffer, pool: readonly Buffer[]): Buffer {
  const at = rng.int(b.length + 1);
  const span = (): number => Math.min(b.length - at, 1 + rng.int(rng.chance(0.8) ? 16 : 512));
  switch (rng.int(11)) {
    case 0: { // bit flips
      if (b.length === 0) return b;
      const c = Buffer.from(b);
      for (let i = 1 + rng.int(8); i > 0; i--) c[rng.int(c.length)]! ^= 1 << rng.int(8);
      return c;
    }
    case 1: { // interesting or random byte values
      if (b.length === 0) return b;
      const c = Buffer.from(b);
      for (let i = 1 + rng.int(4); i > 0; i--) c[rng.int(c.length)] = rng.chance(0.6) ? rng.pick(INTERESTING_BYTES) : rng.int(256);
      return c;
    }
    case 2: return splice(b, at, 0, rng.bytes(1 + rng.int(32)));
    case 3: return splice(b, at, 0, rng.pick(TOKENS));
    case 4: return splice(b, at, span(), Buffer.alloc(0)); // delete
    case 5: { // duplicate a range, up to a flood of copies
      const n = span();
      const part = b.subarray(at, at + n);
      const copies = rng.chance(0.8) ? 1 + rng.int(3) : 1 + rng.int(200);
      return splice(b, at, 0, Buffer.concat(Array.from({ length: copies }, () => part)));
    }
    case 6: { // splice in a range of another recorded message
      const other = rng.pick(pool);
      if (other.length === 0) return b;
      const from = rng.int(other.length);
      const piece = other.subarray(from, from + 1 + rng.int(rng.chance(0.7) ? 64 : 4096));
      return splice(b, at, rng.chance(0.5) ? span() : 0, piece);
    }
    case 7: { // a number in text replaced by a huge / odd one
      const s = b.toString('latin1');
      const re = /\d+/g;
      const found: [number, number][] = [];
      for (let m = re.exec(s); m !== null && found.length < 64; m = re.exec(s)) found.push([m.index, m[0].length]);
      if (found.length === 0) return splice(b, at, 0, Buffer.from(rng.pick(HUGE_NUMBERS)));
      const [i, n] = rng.pick(found);
      return splice(b, i, n, Buffer.from(rng.pick(HUGE_NUMBERS), 'latin1'));
    }
    case 8: { // a binary length field overwritten with a huge or odd value
      if (b.length < 4) return b;
      const c = Buffer.from(b);
      const o = rng.int(c.length - 3);
      const v = rng.pick([0xffffffff, 0x7fffffff, 0x80000000, 0x01000000, 0x00ffffff, 0, 1, 3, 4, 5, 8]);
      if (rng.chance(0.5)) c.writeUInt32BE(v >>> 0, o);
      else c.writeUInt32LE(v >>> 0, o);
      return c;
    }
    case 9: return b.subarray(0, rng.int(b.length + 1)); // truncate
    default: { // swap two ranges' order (reorders pipelined messages)
      const cut = rng.int(b.length + 1);
      return Buffer.concat([b.subarray(cut), b.subarray(0, cut)]);
    }
  }
}

/** A mutated copy of `t`: 1..n mutations of steps' bytes or of the step list itself. */
export function mutateTranscript(rng: Rng, t: Transcript, pool: readonly Buffer[]): Transcript {
  let steps: Step[] = t.map((s) => ({ from: s.from, bytes: s.bytes }));
  const rounds = 1 + (rng.chance(0.7) ? rng.int(2) : rng.int(8));
  for (let r = 0; r < rounds; r++) {
    if (steps.length === 0) steps.push({ from: 'c', bytes: Buffer.alloc(0) });
    const i = rng.int(steps.length);
    const choice = rng.int(20);
    if (choice < 14) steps[i] = { from: steps[i]!.from, bytes: mutateBytes(rng, steps[i]!.bytes, pool) };
    else if (choice === 14) steps = steps.slice(0, i + 1); // the connection ends early
    else if (choice === 15) steps.splice(i, 1); // a step lost
    else if (choice === 16) steps.splice(i, 0, { ...steps[i]! }); // a step repeated
    else if (choice === 17) steps[i] = { from: steps[i]!.from === 'c' ? 's' : 'c', bytes: steps[i]!.bytes }; // sent the wrong way
    else if (choice === 18 && steps.length > 1) { // two steps reordered
      const j = rng.int(steps.length);
      [steps[i], steps[j]] = [steps[j]!, steps[i]!];
    } else steps.splice(i, 0, { from: rng.chance(0.5) ? 'c' : 's', bytes: rng.pick(pool) }); // a message of another connection
  }
  return steps;
}

/** Random bytes in random steps (no corpus at all). */
export function randomTranscript(rng: Rng): Transcript {
  const steps: Step[] = [];
  for (let i = 1 + rng.int(4); i > 0; i--) {
    const n = rng.chance(0.9) ? rng.int(256) : rng.int(8192);
    const bytes = rng.chance(0.5) ? rng.bytes(n) : Buffer.from(Array.from({ length: n }, () => rng.pick(INTERESTING_BYTES)));
    steps.push({ from: rng.chance(0.6) ? 'c' : 's', bytes });
  }
  return steps;
}

/** Chunk boundaries for one step: whole, byte by byte (short steps), or random sizes. */
export function chunks(rng: Rng, b: Buffer): Buffer[] {
  const mode = rng.int(10);
  if (mode < 3 || b.length === 0) return [b];
  if (mode === 3 && b.length <= 256) return Array.from(b, (_, i) => b.subarray(i, i + 1));
  const max = rng.pick([4, 16, 64, 1500, 16384]);
  const out: Buffer[] = [];
  for (let off = 0; off < b.length;) {
    const n = 1 + rng.int(max);
    out.push(b.subarray(off, off + n));
    off += n;
  }
  return out;
}
