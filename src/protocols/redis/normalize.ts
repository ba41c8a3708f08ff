/**
 * The Redis lifter: one RESP2/RESP3 value (reply) or command (request) → a comparable tree for N-variant
 * comparison (the contract is in `../lift.ts`).
 *
 * Replies: simple string `{ "+": "OK" }`; error and bulk error `{ "-": "ERR ..." }`; integer → number (`{ ":": "..." }`
 * beyond 2^53); bulk / verbatim string → string (UTF-8) or `{ base64 }`; null bulk / null array / `_` → null;
 * `#t` → true; double → number (`{ ",": "inf" }` for inf / -inf / nan); big number → number or `{ "(": "..." }`;
 * array → array; map → object (non-string keys as their canonical JSON); set → array sorted by canonical JSON
 * (sets are unordered); push → `{ ">": [...] }`; attributes are dropped. Requests: the command as an array of
 * argument strings (inline commands are split on whitespace). Bytes after the value make it `invalid`.
 */
import { bytesLeaf, concat, fail, guarded, setKey, shorten, stable, type Lifter, type MTree } from '../lift.js';

// ---------------------------------------------------------------------------------------------------------------
// redis

const MAX_RESP_DEPTH = 128;

interface RespReader {
  buf: Buffer;
  pos: number;
}

function respLine(r: RespReader): string {
  const lf = r.buf.indexOf(0x0a, r.pos);
  if (lf < 0 || lf === r.pos || r.buf[lf - 1] !== 0x0d) fail(lf < 0 ? 'redis: reply truncated (no CRLF)' : 'redis: line does not end in CRLF');
  const s = r.buf.toString('utf8', r.pos, lf - 1);
  r.pos = lf + 1;
  return s;
}

function respLength(s: string, what: string): number {
  if (!/^-?\d{1,15}$/.test(s)) fail(`redis: invalid ${what} length ${JSON.stringify(shorten(s, 30))}`);
  return Number(s);
}

function respBulk(r: RespReader, n: number): Buffer {
  if (r.pos + n + 2 > r.buf.length) fail(`redis: bulk string truncated (${n} bytes declared, ${Math.max(0, r.buf.length - r.pos - 2)} present)`);
  const data = r.buf.subarray(r.pos, r.pos + n);
  if (r.buf[r.pos + n] !== 0x0d || r.buf[r.pos + n + 1] !== 0x0a) fail('redis: bulk string not followed by CRLF');
  r.pos += n + 2;
  return data;
}

function respCount(r: RespReader, s: string, what: string, per: number): number {
  const n = respLength(s, what);
  if (n > (r.buf.length - r.pos) / per + 1) fail(`redis: ${what} of ${n} elements truncated`);
  return n;
}

function respInteger(s: string, tag: ':' | '('): MTree {
  if (!/^[-+]?\d+$/.test(s)) fail(`redis: invalid ${tag === ':' ? 'integer' : 'big number'} ${JSON.stringify(shorten(s, 30))}`);
  const n = Number(s);
  if (Number.isSafeInteger(n)) return n;
  return { [tag]: s.replace(/^\+/, '') };
}

function readResp(r: RespReader, depth: number): MTree {
  if (depth > MAX_RESP_DEPTH) fail(`redis: nesting deeper than ${MAX_RESP_DEPTH}`);
  if (r.pos >= r.buf.length) fail('redis: reply truncated');
  const type = r.buf[r.pos]!;
  r.pos++;
  const line = respLine(r);
  switch (type) {
    case 0x2b: // +
      return { '+': line };
    case 0x2d: // -
      return { '-': line };
    case 0x3a: // :
      return respInteger(line, ':');
    case 0x28: // (
      return respInteger(line, '(');
    case 0x24: {
      // $
      const n = respLength(line, 'bulk');
      if (n < 0) return null;
      return bytesLeaf(respBulk(r, n));
    }
    case 0x21: {
      // ! bulk error
      const n = respLength(line, 'bulk error');
      if (n < 0) fail('redis: negative bulk error length');
      return { '-': respBulk(r, n).toString('utf8') };
    }
    case 0x3d: {
      // = verbatim string: "txt:" prefix
      const n = respLength(line, 'verbatim');
      if (n < 0) fail('redis: negative verbatim string length');
      const data = respBulk(r, n);
      return bytesLeaf(data.length >= 4 && data[3] === 0x3a ? data.subarray(4) : data);
    }
    case 0x5f: // _
      return null;
    case 0x23: // #
      if (line === 't') return true;
      if (line === 'f') return false;
      return fail(`redis: invalid boolean ${JSON.stringify(shorten(line, 10))}`);
    case 0x2c: {
      // , double
      const l = line.toLowerCase();
      if (l === 'inf' || l === '+inf' || l === '-inf' || l === 'nan' || l === '-nan') return { ',': l.replace(/^\+/, '').replace('-nan', 'nan') };
      const n = Number(line);
      if (line.trim() === '' || !Number.isFinite(n)) fail(`redis: invalid double ${JSON.stringify(shorten(line, 30))}`);
      return n;
    }
    case 0x2a: // *
    case 0x7e: // ~
    case 0x3e: {
      // >
      const n = respCount(r, line, 'array', 3);
      if (n < 0) return null;
      const items: MTree[] = [];
      for (let i = 0; i < n; i++) items.push(readResp(r, depth + 1));
      if (type === 0x7e) {
        const keyed = items.map((v) => [stable(v), v] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        return keyed.map((k) => k[1]);
      }
      return type === 0x3e ? { '>': items } : items;
    }
    case 0x25: // %
    case 0x7c: {
      // | attribute: a map that decorates the next value
      const n = respCount(r, line, 'map', 6);
      if (n < 0) fail('redis: negative map length');
      const out: { [k: string]: MTree } = {};
      for (let i = 0; i < n; i++) {
        const k = readResp(r, depth + 1);
        const v = readResp(r, depth + 1);
        setKey(out, typeof k === 'string' ? k : stable(k), v);
      }
      if (type === 0x7c) return readResp(r, depth);
      return out;
    }
    default:
      return fail(`redis: unknown reply type byte 0x${type.toString(16).padStart(2, '0')}`);
  }
}

function respSummary(t: MTree, bytes: Buffer): string {
  if (t === null) return 'nil';
  if (typeof t === 'number' || typeof t === 'boolean') return `:${String(t)}`;
  if (typeof t === 'string') return `$${Buffer.byteLength(t)}`;
  if (Array.isArray(t)) return `*${t.length}`;
  const o = t;
  if (typeof o['+'] === 'string') return `+${shorten(o['+'], 60)}`;
  if (typeof o['-'] === 'string') return `-${shorten(o['-'], 60)}`;
  if ('base64' in o || 'sha256' in o) return `$${bytes.length}`;
  return `%${Object.keys(o).length}`;
}

function readRedisCommand(buf: Buffer): MTree {
  if (buf[0] === 0x2a) {
    const r: RespReader = { buf, pos: 1 };
    const n = respCount(r, respLine(r), 'command', 4);
    const args: MTree[] = [];
    for (let i = 0; i < n; i++) {
      if (r.buf[r.pos] !== 0x24) fail('redis: command argument is not a bulk string');
      r.pos++;
      const len = respLength(respLine(r), 'bulk');
      if (len < 0) fail('redis: null command argument');
      args.push(bytesLeaf(respBulk(r, len)));
    }
    if (r.pos !== buf.length) fail(`redis: ${buf.length - r.pos} bytes after the command`);
    return args;
  }
  // inline command
  const text = buf.toString('utf8').replace(/\r?\n$/, '');
  if (text.includes('\n') || text.includes('\0')) fail('redis: not a RESP command');
  return text.split(/[ \t]+/).filter((s) => s.length > 0);
}

/** The Redis lifter (it has no options). */
export function createRedisLifter(): Lifter {
  return {
    protocol: 'redis',
    liftWithSummary(frames, kind) {
      const buf = concat(frames);
      return guarded('redis', buf, () => {
        if (kind === 'request') {
          const tree = readRedisCommand(buf);
          const args = tree as MTree[];
          return { tree, summary: `${typeof args[0] === 'string' ? args[0].toUpperCase() : '?'} (${args.length} args)` };
        }
        const r: RespReader = { buf, pos: 0 };
        const tree = readResp(r, 0);
        if (r.pos !== buf.length) fail(`redis: ${buf.length - r.pos} bytes after the reply`);
        return { tree, summary: respSummary(tree, buf) };
      });
    },
    lift(frames, kind) {
      return this.liftWithSummary(frames, kind).tree;
    },
    endpoint(requestFrames) {
      const buf = concat(requestFrames);
      try {
        const args = readRedisCommand(buf) as MTree[];
        const first = args[0];
        return typeof first === 'string' && first.length > 0 ? shorten(first.toUpperCase(), 64) : '*';
      } catch {
        // a truncated or odd command: the name is still usually readable
        const m = /^\*\d+\r\n\$\d+\r\n([^\r\n]{1,64})\r\n/.exec(buf.toString('latin1', 0, 256));
        return m ? m[1]!.toUpperCase() : '*';
      }
    },
  };
}
