/**
 * Hashes for the consistent-hash balancers (ring_hash, maglev): MurmurHash3 x86 32-bit over a string's UTF-16 code
 * units. Fast in JavaScript (no BigInt, no allocation) and well mixed; two seeds give two independent hashes.
 */

/** MurmurHash3 (x86, 32-bit) of a string's UTF-16 code units (each unit fed as two little-endian bytes). */
export function murmur3(text: string, seed = 0): number {
  let h = seed >>> 0;
  const n = text.length;
  // Two code units = one 32-bit block.
  let i = 0;
  for (; i + 1 < n; i += 2) {
    let k = (text.charCodeAt(i) & 0xffff) | ((text.charCodeAt(i + 1) & 0xffff) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < n) {
    let k = text.charCodeAt(i) & 0xffff;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= n * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
