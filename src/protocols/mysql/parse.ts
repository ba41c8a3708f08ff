/**
 * Small readers over a packet payload prefix. Every reader is bounds-checked: the codec only holds the first frame
 * of a packet (at most `maxPacketFrame` bytes), so a field may lie beyond what is available; readers then return
 * `undefined` instead of throwing, and the caller reports less (no attribute) rather than failing.
 */

export interface Cursor {
  pos: number;
}

/** A length-encoded integer at `c.pos` (advancing it), or undefined (out of bounds, NULL 0xFB or invalid 0xFF). */
export function lenenc(p: Buffer, c: Cursor): number | undefined {
  const i = c.pos;
  if (i >= p.length) return undefined;
  const b = p[i]!;
  if (b < 0xfb) {
    c.pos = i + 1;
    return b;
  }
  const size = b === 0xfc ? 2 : b === 0xfd ? 3 : b === 0xfe ? 8 : 0;
  if (size === 0 || i + 1 + size > p.length) return undefined;
  c.pos = i + 1 + size;
  if (size === 8) return Number(p.readBigUInt64LE(i + 1));
  return p.readUIntLE(i + 1, size);
}

/** Skip a length-encoded integer; false when it does not fit. */
export function skipLenenc(p: Buffer, c: Cursor): boolean {
  return lenenc(p, c) !== undefined;
}

/** A NUL-terminated string at `c.pos` (utf8), advancing past the NUL; undefined when no NUL is available. */
export function cstring(p: Buffer, c: Cursor, max = 1024): string | undefined {
  const end = p.indexOf(0, c.pos);
  if (end < 0) return undefined;
  const s = p.toString('utf8', c.pos, Math.min(end, c.pos + max));
  c.pos = end + 1;
  return s;
}

/** Bytes of a binary-protocol value of MySQL field type `type` at `c.pos`, or undefined when unknown / too short. */
export function skipBinaryValue(p: Buffer, c: Cursor, type: number): boolean {
  let n: number | undefined;
  switch (type) {
    case 0x06: // NULL
      n = 0;
      break;
    case 0x01: // TINY
      n = 1;
      break;
    case 0x02: // SHORT
    case 0x0d: // YEAR
      n = 2;
      break;
    case 0x03: // LONG
    case 0x09: // INT24
    case 0x04: // FLOAT
      n = 4;
      break;
    case 0x08: // LONGLONG
    case 0x05: // DOUBLE
      n = 8;
      break;
    case 0x07: // TIMESTAMP
    case 0x0a: // DATE
    case 0x0c: // DATETIME
    case 0x0b: // TIME
      if (c.pos >= p.length) return false;
      n = 1 + p[c.pos]!;
      break;
    default: // strings, DECIMAL, BLOBs, JSON, BIT, ENUM, SET, GEOMETRY…: length-encoded string
      n = lenenc(p, c);
      if (n === undefined) return false;
  }
  if (c.pos + n > p.length) return false;
  c.pos += n;
  return true;
}

/**
 * Skip the query attributes that prefix COM_QUERY's text when CLIENT_QUERY_ATTRIBUTES is negotiated (MySQL 8.0.23+):
 * parameter_count, parameter_set_count, then (when count > 0) null bitmap, new_params_bind_flag, types and names,
 * and the binary values. `c.pos` is just after the command byte. False when the layout cannot be followed.
 */
export function skipQueryAttributes(p: Buffer, c: Cursor): boolean {
  const count = lenenc(p, c);
  if (count === undefined || lenenc(p, c) === undefined) return false;
  if (count === 0) return true;
  if (count > 4096) return false;
  const bitmap = c.pos;
  c.pos += (count + 7) >> 3;
  if (c.pos >= p.length) return false;
  const bound = p[c.pos++];
  if (bound !== 1) return false; // values without types cannot be skipped
  const types: number[] = [];
  for (let k = 0; k < count; k++) {
    if (c.pos + 2 > p.length) return false;
    types.push(p[c.pos]!);
    c.pos += 2;
    const nameLen = lenenc(p, c);
    if (nameLen === undefined || c.pos + nameLen > p.length) return false;
    c.pos += nameLen;
  }
  for (let k = 0; k < count; k++) {
    if ((p[bitmap + (k >> 3)]! & (1 << (k & 7))) !== 0) continue; // NULL
    if (!skipBinaryValue(p, c, types[k]!)) return false;
  }
  return true;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}

function isWordStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f;
}

function isWord(c: number): boolean {
  return isWordStart(c) || (c >= 0x30 && c <= 0x39);
}

/**
 * The first SQL keyword of `sql`, lowercased ('select', 'insert', 'with', 'call', …), after whitespace, `(`, `;`,
 * comments (`-- `, `#`, C-style) and the opening of MySQL/MariaDB executable comments (`/*!40101 `, `/*M!100101 `)
 * whose content is SQL. '' when there is none.
 */
export function firstKeyword(sql: string): string {
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (isSpace(c) || c === 0x28 || c === 0x3b) {
      i++;
    } else if (c === 0x23 || (c === 0x2d && sql.charCodeAt(i + 1) === 0x2d && (i + 2 >= n || isSpace(sql.charCodeAt(i + 2))))) {
      const nl = sql.indexOf('\n', i);
      if (nl < 0) return '';
      i = nl + 1;
    } else if (c === 0x2f && sql.charCodeAt(i + 1) === 0x2a) {
      let j = i + 2;
      if (sql.charCodeAt(j) === 0x4d && sql.charCodeAt(j + 1) === 0x21) j++; // /*M!
      if (sql.charCodeAt(j) === 0x21) {
        j++;
        while (j < n && sql.charCodeAt(j) >= 0x30 && sql.charCodeAt(j) <= 0x39) j++; // version digits
        i = j;
      } else {
        const end = sql.indexOf('*/', j);
        if (end < 0) return '';
        i = end + 2;
      }
    } else if (c === 0x2a && sql.charCodeAt(i + 1) === 0x2f) {
      i += 2; // the end of an executable comment before any keyword
    } else break;
  }
  if (i >= n || !isWordStart(sql.charCodeAt(i))) return '';
  let j = i + 1;
  while (j < n && isWord(sql.charCodeAt(j))) j++;
  return sql.slice(i, j).toLowerCase();
}
