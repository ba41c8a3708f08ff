/**
 * The HPACK Huffman code (RFC 7541 Appendix B) and its codec. The code is canonical (codes of one length are
 * consecutive, shorter codes first, ties by symbol), so the table below keeps only each symbol's code length and the
 * codes are rebuilt from it at module load. Decoding is a state machine that consumes 4 bits per step: its states are
 * the 256 internal nodes of the code tree, built once here (4096 transitions).
 */

/** Code length in bits of each octet 0x00–0xff, then EOS (symbol 256, 30 bits). */
const LENGTHS = Uint8Array.of(
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0x00
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 0x10
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // 0x20
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 0x30
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // 0x40
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 0x50
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // 0x60
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 0x70
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 0x80
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 0x90
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 0xa0
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 0xb0
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 0xc0
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 0xd0
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 0xe0
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 0xf0
  30, // EOS
);

const EOS = 256;

/** The code of each symbol, right-aligned. */
const CODES = new Uint32Array(257);
{
  const order = Array.from({ length: 257 }, (_, s) => s).sort((a, b) => LENGTHS[a]! - LENGTHS[b]! || a - b);
  let code = 0;
  let len = LENGTHS[order[0]!]!;
  for (const s of order) {
    code *= 2 ** (LENGTHS[s]! - len); // (not <<: the code may reach 2^30 and shifts are 32-bit signed)
    len = LENGTHS[s]!;
    CODES[s] = code;
    code++;
  }
}

/** A transition: the next state (bits 0–7), the symbol emitted (bits 8–15) if EMITS, and flags. */
const EMITS = 1 << 16;
/** The 4 bits completed the EOS symbol: a decoding error (RFC 7541 §5.2). */
const FAILS = 1 << 17;
/** The state after the 4 bits may end a string: the root, or up to 7 bits of the all-ones EOS prefix. */
const ACCEPTS = 1 << 18;

/** TRANSITIONS[state * 16 + nibble]. */
const TRANSITIONS = new Uint32Array(256 * 16);
{
  // The tree: internal nodes 0..255 (0 is the root); a child is a node number, or ~symbol for a leaf.
  const child = new Int32Array(256 * 2).fill(0x7fffffff);
  let nodes = 1;
  for (let s = 0; s <= EOS; s++) {
    let node = 0;
    for (let bit = LENGTHS[s]! - 1; bit >= 0; bit--) {
      const b = Math.floor(CODES[s]! / 2 ** bit) & 1;
      const slot = node * 2 + b;
      if (bit === 0) child[slot] = ~s;
      else {
        if (child[slot] === 0x7fffffff) child[slot] = nodes++;
        node = child[slot]!;
      }
    }
  }
  const accepting = new Uint8Array(256);
  for (let node = 0, depth = 0; depth <= 7; depth++, node = child[node * 2 + 1]!) accepting[node] = 1;
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let bit = 3; bit >= 0; bit--) {
        const next = child[node * 2 + ((nibble >> bit) & 1)]!;
        if (next >= 0) {
          node = next;
          continue;
        }
        if (~next === EOS) entry |= FAILS;
        else entry |= EMITS | (~next << 8); // at most one symbol per 4 bits: the shortest code has 5
        node = 0;
      }
      TRANSITIONS[state * 16 + nibble] = entry | node | (accepting[node] === 1 ? ACCEPTS : 0);
    }
  }
}

/** Decoding failed: the string contains the EOS symbol. */
export const HUFFMAN_EOS = -1;
/** Decoding failed: the padding is longer than 7 bits or is not the most significant bits of EOS (all ones). */
export const HUFFMAN_BAD_PADDING = -2;

/** The most octets `length` Huffman-coded octets can decode to (the shortest code has 5 bits). */
export function huffmanDecodedBound(length: number): number {
  return Math.ceil((length * 8) / 5);
}

/**
 * Decodes src[start, end) into dst from 0 (dst must hold huffmanDecodedBound(end - start) octets). Returns the
 * number of octets, or HUFFMAN_EOS / HUFFMAN_BAD_PADDING.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number, dst: Uint8Array): number {
  let state = 0;
  let entry = ACCEPTS;
  let n = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    entry = TRANSITIONS[(state << 4) | (byte >> 4)]!;
    if ((entry & (EMITS | FAILS)) !== 0) {
      if ((entry & FAILS) !== 0) return HUFFMAN_EOS;
      dst[n++] = entry >> 8;
    }
    entry = TRANSITIONS[((entry & 0xff) << 4) | (byte & 15)]!;
    if ((entry & (EMITS | FAILS)) !== 0) {
      if ((entry & FAILS) !== 0) return HUFFMAN_EOS;
      dst[n++] = entry >> 8;
    }
    state = entry & 0xff;
  }
  return (entry & ACCEPTS) !== 0 ? n : HUFFMAN_BAD_PADDING;
}

/** The Huffman-coded length in octets of a latin1 string (characters above U+00FF count as their low octet). */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += LENGTHS[s.charCodeAt(i) & 0xff]!;
  return (bits + 7) >> 3;
}

/** Writes the Huffman code of a latin1 string into dst at pos, padded with EOS bits; returns the position after it. */
export function huffmanEncode(s: string, dst: Uint8Array, pos: number): number {
  let acc = 0; // pending bits, right-aligned; fewer than 8 between symbols
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    let code = CODES[sym]!;
    let len = LENGTHS[sym]!;
    if (len > 24) {
      // keep acc within 31 bits: the top len-8 bits first
      acc = (acc << (len - 8)) | (code >>> 8);
      bits += len - 8;
      while (bits >= 8) {
        bits -= 8;
        dst[pos++] = acc >>> bits;
      }
      acc &= (1 << bits) - 1;
      code &= 0xff;
      len = 8;
    }
    acc = (acc << len) | code;
    bits += len;
    while (bits >= 8) {
      bits -= 8;
      dst[pos++] = acc >>> bits;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) dst[pos++] = (acc << (8 - bits)) | (0xff >> bits);
  return pos;
}

/** The code of a symbol (0–256) and its length, for tests. */
export function huffmanCode(sym: number): { code: number; length: number } {
  return { code: CODES[sym]!, length: LENGTHS[sym]! };
}
