/**
 * Reproducible randomness for faults. Toxiproxy's `-seed` is ignored by its toxics (they use the global source);
 * ours is threaded through: every (listener, connection, fault, direction) gets its own stream derived from the
 * seed and those names, so a run's draws do not depend on how connections interleave.
 */

/** A small, fast PRNG (sfc32) with a 128-bit state. */
export class Random {
  #a = 0;
  #b = 0;
  #c = 0;
  #d = 0;
  /**
   * The seed until the first draw: the state is derived then. Every connection gets a stream per fault and
   * direction, and most never draw (a fault with toxicity 1, a passive one), so the hash is not paid up front.
   */
  #seed: string | undefined;

  constructor(seed: number | string) {
    this.#seed = typeof seed === 'number' ? String(seed) : seed;
  }

  #init(seed: string): void {
    this.#seed = undefined;
    const h = hash32(seed);
    this.#a = h[0]!;
    this.#b = h[1]!;
    this.#c = h[2]!;
    this.#d = h[3]!;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    if (this.#seed !== undefined) this.#init(this.#seed);
    let a = this.#a, b = this.#b, c = this.#c, d = this.#d;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    this.#a = a; this.#b = b; this.#c = c; this.#d = d;
    return (t >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Fill a buffer with random bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = (this.next() * 256) | 0;
    return out;
  }
}

/** cyrb128: four 32-bit hashes of a string. */
function hash32(str: string): number[] {
  let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < str.length; i++) {
    const k = str.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/**
 * Where random streams come from. With a seed, streams are derived deterministically from (seed, key); without
 * one, from a per-process random base, so runs differ but each stream is still independent.
 */
export class RandomSource {
  readonly seed: number | undefined;
  readonly #base: string;

  constructor(seed?: number) {
    this.seed = seed;
    this.#base = seed === undefined ? `${Math.random()}:${Date.now()}` : `seed:${seed}`;
  }

  stream(key: string): Random {
    return new Random(`${this.#base}|${key}`);
  }
}
