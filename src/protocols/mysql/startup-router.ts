/**
 * Startup routing for MySQL / MariaDB (routes matching `database`, `user`): the server speaks first and the client's
 * password scramble depends on the server's salt, so the proxy greets the client itself (its own salt), reads the
 * HandshakeResponse41 (user, database, attributes), lets the listener choose a route, then connects the chosen
 * server and re-runs the password step against it: an AuthSwitchRequest carrying the server's plugin and salt makes
 * the client answer the server's challenge; that answer goes to the server in a HandshakeResponse41 rebuilt from the
 * client's fields. The rest of the exchange (OK / ERR / caching_sha2 fast or full auth / further switches) is relayed
 * with sequence ids shifted by 2 (client seq = server seq + 2). Afterwards the session's codec is primed with the
 * greeting, the rebuilt response and the OK, so it starts in the command phase.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Attributes, LoginOutcome, ProtocolCodec, StartupReader, StartupRouterHooks, StartupStep } from '../protocol.js';
import { errPacket } from './codec.js';
import { Cap } from './constants.js';
import { cstring, lenenc, type Cursor } from './parse.js';

/** The version string of the proxy's greeting (the chosen server's is not known yet). */
export const PROXY_SERVER_VERSION = '8.0.0-switchyard';
const NATIVE_PASSWORD = 'mysql_native_password';
/** Largest HandshakeResponse / auth packet the proxy reads itself. */
const MAX_LOGIN_PACKET = 64 * 1024;

/** Capabilities the proxy's greeting offers: no SSL (the proxy does not terminate TLS), no compression. */
export const PROXY_CAPS =
  Cap.MYSQL |
  0x2 | // FOUND_ROWS
  0x4 | // LONG_FLAG
  Cap.CONNECT_WITH_DB |
  Cap.LOCAL_FILES |
  0x100 | // IGNORE_SPACE
  Cap.PROTOCOL_41 |
  0x400 | // INTERACTIVE
  0x1000 | // IGNORE_SIGPIPE
  Cap.TRANSACTIONS |
  Cap.SECURE_CONNECTION |
  Cap.MULTI_STATEMENTS |
  Cap.MULTI_RESULTS |
  Cap.PS_MULTI_RESULTS |
  Cap.PLUGIN_AUTH |
  Cap.CONNECT_ATTRS |
  Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA |
  Cap.SESSION_TRACK |
  Cap.DEPRECATE_EOF;

/** Capabilities that change packet formats: the client may use them only when the chosen server has them too. */
const FORMAT_CAPS: ReadonlyArray<readonly [number, string]> = [
  [Cap.DEPRECATE_EOF, 'CLIENT_DEPRECATE_EOF'],
  [Cap.SESSION_TRACK, 'CLIENT_SESSION_TRACK'],
];
const REQUIRED_CAPS: ReadonlyArray<readonly [number, string]> = [
  [Cap.PROTOCOL_41, 'CLIENT_PROTOCOL_41'],
  [Cap.SECURE_CONNECTION, 'CLIENT_SECURE_CONNECTION'],
  [Cap.PLUGIN_AUTH, 'CLIENT_PLUGIN_AUTH'],
];

function packet(seq: number, payload: Buffer): Buffer {
  const h = Buffer.allocUnsafe(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq & 0xff;
  return Buffer.concat([h, payload]);
}

function lenencInt(n: number): Buffer {
  if (n < 0xfb) return Buffer.from([n]);
  if (n <= 0xffff) {
    const b = Buffer.alloc(3);
    b[0] = 0xfc;
    b.writeUInt16LE(n, 1);
    return b;
  }
  const b = Buffer.alloc(4);
  b[0] = 0xfd;
  b.writeUIntLE(n, 1, 3);
  return b;
}

/** A salt of printable bytes (as servers make them: no NUL inside the NUL-terminated scramble). */
function salt(n: number): Buffer {
  const b = randomBytes(n);
  for (let i = 0; i < n; i++) b[i] = 0x21 + (b[i]! % 94);
  return b;
}

let nextConnectionId = 1;

/** The proxy's HandshakeV10 (sequence id 0). */
export function proxyGreeting(scramble: Buffer): Buffer {
  const version = Buffer.from(PROXY_SERVER_VERSION + '\0', 'latin1');
  const fixed = Buffer.alloc(4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10);
  let i = 0;
  fixed.writeUInt32LE(nextConnectionId++ & 0x7fffffff, i);
  i += 4;
  scramble.copy(fixed, i, 0, 8);
  i += 8 + 1; // filler
  fixed.writeUInt16LE(PROXY_CAPS & 0xffff, i);
  i += 2;
  fixed[i++] = 45; // utf8mb4_general_ci
  fixed.writeUInt16LE(0x0002, i); // SERVER_STATUS_AUTOCOMMIT
  i += 2;
  fixed.writeUInt16LE(PROXY_CAPS >>> 16, i);
  i += 2;
  fixed[i] = 21; // auth-plugin-data length (20 + NUL)
  const rest = Buffer.concat([scramble.subarray(8), Buffer.from([0]), Buffer.from(NATIVE_PASSWORD + '\0', 'latin1')]);
  return packet(0, Buffer.concat([Buffer.from([10]), version, fixed, rest]));
}

/** What the client's HandshakeResponse41 said. */
interface ClientLogin {
  readonly seq: number;
  readonly caps: number;
  readonly maxPacket: number;
  readonly charset: number;
  readonly user: string;
  readonly userRaw: Buffer;
  readonly database: Buffer | undefined;
  /** The raw connection-attribute block (lenenc length + content), when CLIENT_CONNECT_ATTRS. */
  readonly attrs: Buffer | undefined;
  readonly attributes: Record<string, string>;
}

/** What the server's greeting said. */
interface ServerGreeting {
  readonly caps: number;
  readonly scramble: Buffer;
  readonly plugin: string;
}

function parseHandshakeResponse(p: Buffer, seq: number): ClientLogin | string {
  if (p.length < 32) return `HandshakeResponse of ${p.length} bytes is too short (at least 32)`;
  const caps = p.readUInt32LE(0);
  for (const [bit, name] of REQUIRED_CAPS) if ((caps & bit) === 0) return `the client does not support ${name}, which the proxy needs to route MySQL logins`;
  const c: Cursor = { pos: 32 };
  const end = p.indexOf(0, c.pos);
  if (end < 0) return 'HandshakeResponse: user name is not NUL-terminated';
  const userRaw = p.subarray(c.pos, end);
  c.pos = end + 1;
  const authLen = (caps & Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA) !== 0 ? lenenc(p, c) : c.pos < p.length ? p[c.pos++] : undefined;
  if (authLen === undefined || c.pos + authLen > p.length) return 'HandshakeResponse: auth response does not fit';
  c.pos += authLen;
  let database: Buffer | undefined;
  if ((caps & Cap.CONNECT_WITH_DB) !== 0 && c.pos < p.length) {
    const e = p.indexOf(0, c.pos);
    if (e < 0) return 'HandshakeResponse: database name is not NUL-terminated';
    database = p.subarray(c.pos, e);
    c.pos = e + 1;
  }
  if (c.pos < p.length && cstring(p, c) === undefined) return 'HandshakeResponse: auth plugin name is not NUL-terminated';
  let attrs: Buffer | undefined;
  const attributes: Record<string, string> = { user: userRaw.toString('utf8') };
  if (database !== undefined && database.length > 0) attributes['database'] = database.toString('utf8');
  if ((caps & Cap.CONNECT_ATTRS) !== 0 && c.pos < p.length) {
    const start = c.pos;
    const total = lenenc(p, c);
    if (total === undefined || c.pos + total > p.length) return 'HandshakeResponse: connection attributes do not fit';
    attrs = p.subarray(start, c.pos + total);
  }
  return { seq, caps, maxPacket: p.readUInt32LE(4), charset: p[8]!, user: attributes['user']!, userRaw, database, attrs, attributes };
}

function parseGreeting(p: Buffer): ServerGreeting | string {
  if (p.length === 0 || p[0] === 0xff) return `the server refused the connection: ${p.length > 9 ? p.toString('utf8', 9) : 'ERR'}`;
  if (p[0] !== 10) return `the server speaks protocol version ${p[0]} (only 10 is supported)`;
  const nul = p.indexOf(0, 1);
  let i = nul + 1 + 4;
  if (nul < 0 || i + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10 > p.length) return 'the server greeting is too short';
  const part1 = p.subarray(i, i + 8);
  i += 8 + 1;
  let caps = p.readUInt16LE(i);
  i += 2 + 1 + 2;
  caps |= p.readUInt16LE(i) << 16;
  i += 2;
  const dataLen = p[i]!;
  i += 1 + 10;
  const n2 = Math.max(13, dataLen - 8);
  const part2 = p.subarray(i, Math.min(p.length, i + n2));
  i += n2;
  let end2 = part2.length;
  if (end2 > 0 && part2[end2 - 1] === 0) end2--;
  const c: Cursor = { pos: i };
  const plugin = (caps & Cap.PLUGIN_AUTH) !== 0 && i < p.length ? (cstring(p, c) ?? NATIVE_PASSWORD) : NATIVE_PASSWORD;
  return { caps, scramble: Buffer.concat([part1, part2.subarray(0, end2)]), plugin };
}

/** The HandshakeResponse41 sent to the server: the client's fields, `caps`, the answer to the server's salt. */
function rebuildResponse(login: ClientLogin, caps: number, auth: Buffer, plugin: string): Buffer {
  const head = Buffer.alloc(32);
  head.writeUInt32LE(caps >>> 0, 0);
  head.writeUInt32LE(login.maxPacket, 4);
  head[8] = login.charset;
  const parts: Buffer[] = [head, login.userRaw, Buffer.from([0])];
  if ((caps & Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA) !== 0) parts.push(lenencInt(auth.length), auth);
  else parts.push(Buffer.from([auth.length]), auth);
  if ((caps & Cap.CONNECT_WITH_DB) !== 0) parts.push(login.database ?? Buffer.alloc(0), Buffer.from([0]));
  parts.push(Buffer.from(plugin + '\0', 'latin1'));
  if ((caps & Cap.CONNECT_ATTRS) !== 0 && login.attrs !== undefined) parts.push(login.attrs);
  return packet(1, Buffer.concat(parts));
}

/** Cuts packets off a byte stream (the login's packets are small: one packet each). */
class Packets {
  #buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
  }
  /** The next whole packet (header included), undefined when incomplete; throws on an oversized one. */
  next(): Buffer | undefined {
    if (this.#buf.length < 4) return undefined;
    const len = this.#buf.readUIntLE(0, 3);
    if (len > MAX_LOGIN_PACKET) throw new Error(`login packet of ${len} bytes (at most ${MAX_LOGIN_PACKET})`);
    if (this.#buf.length < 4 + len) return undefined;
    const p = this.#buf.subarray(0, 4 + len);
    this.#buf = this.#buf.subarray(4 + len);
    return p;
  }
  rest(): Buffer {
    return this.#buf;
  }
}

function drain(f: { push(b: Buffer): void; next(): unknown }, b: Buffer): void {
  f.push(b);
  while (f.next() !== null);
}

class MysqlStartupReader implements StartupReader {
  readonly #packets = new Packets();
  readonly #scramble = salt(20);
  #login: ClientLogin | undefined;

  greeting(): Buffer {
    return proxyGreeting(this.#scramble);
  }

  push(chunk: Buffer): StartupStep {
    this.#packets.push(chunk);
    let p: Buffer | undefined;
    try {
      p = this.#packets.next();
    } catch (err) {
      return { kind: 'malformed', message: `mysql: ${(err as Error).message}` };
    }
    if (p === undefined) return { kind: 'more' };
    const seq = p[3]!;
    const payload = p.subarray(4);
    if (payload.length >= 4 && (payload.readUInt32LE(0) & Cap.SSL) !== 0) {
      return { kind: 'refuse', message: 'mysql: the client asked for TLS, which this listener does not offer', reply: [errPacket(seq + 1, 2026, 'HY000', 'SSL connection error: this listener does not offer TLS', true)] };
    }
    const login = parseHandshakeResponse(payload, seq);
    if (typeof login === 'string') return { kind: 'refuse', message: `mysql: ${login}`, reply: [errPacket(seq + 1, 1043, '08S01', login, true)] };
    this.#login = login;
    return { kind: 'ready', attributes: login.attributes, replay: p };
  }

  describe(attributes: Attributes): string {
    const parts: string[] = [];
    for (const k of ['user', 'database'] as const) if (attributes[k] !== undefined) parts.push(`${k} '${String(attributes[k])}'`);
    return parts.length > 0 ? parts.join(', ') : 'this connection';
  }

  async login(client: Socket, connect: () => Promise<Socket>, codec: ProtocolCodec, timeoutMs: number): Promise<LoginOutcome> {
    const login = this.#login;
    if (login === undefined) throw new Error('mysql: login() before the HandshakeResponse');
    const fail = (code: number, sqlState: string, message: string, seq = login.seq + 1): void => {
      client.on('error', () => undefined);
      client.end(errPacket(seq, code, sqlState, message, true));
    };
    let upstream: Socket;
    try {
      upstream = await connect();
    } catch (err) {
      fail(2003, 'HY000', `switchyard: cannot connect to the server: ${(err as Error).message}`);
      return { ok: false, message: (err as Error).message, kind: 'connect' };
    }
    const fromServer = new Packets();
    const fromClient = new Packets();
    let phase: 'greeting' | 'switch' | 'relay' | 'done' = 'greeting';
    let greeting: ServerGreeting | undefined;
    let greetingPacket: Buffer | undefined;
    let caps = 0;

    return new Promise<LoginOutcome>((resolve) => {
      let finished = false;
      const timer = setTimeout(() => end({ ok: false, message: 'login timed out', kind: 'timeout' }, 'switchyard: login timed out'), timeoutMs);
      timer.unref();
      function end(outcome: LoginOutcome, errMessage?: string, errSeq?: number): void {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        upstream.removeListener('data', onServer);
        client.removeListener('data', onClient);
        upstream.removeListener('error', onGone);
        upstream.removeListener('close', onGone);
        client.removeListener('error', onGone);
        client.removeListener('close', onGone);
        upstream.pause();
        client.pause();
        if (!outcome.ok) {
          upstream.on('error', () => undefined);
          upstream.destroy();
          if (errMessage !== undefined) fail(2013, 'HY000', errMessage, errSeq);
          else client.end();
        } else {
          const restS = fromServer.rest();
          const restC = fromClient.rest();
          if (restS.length > 0) upstream.unshift(restS);
          if (restC.length > 0) client.unshift(restC);
        }
        resolve(outcome);
      }
      function onGone(): void {
        end({ ok: false, message: 'connection lost during the login', kind: 'lost' });
      }
      function onServer(chunk: Buffer): void {
        try {
          fromServer.push(chunk);
          for (let p = fromServer.next(); p !== undefined && !finished; p = fromServer.next()) serverPacket(p);
        } catch (err) {
          end({ ok: false, message: (err as Error).message, kind: 'protocol' }, `switchyard: ${(err as Error).message}`);
        }
      }
      function onClient(chunk: Buffer): void {
        try {
          fromClient.push(chunk);
          for (let p = fromClient.next(); p !== undefined && !finished; p = fromClient.next()) clientPacket(p);
        } catch (err) {
          end({ ok: false, message: (err as Error).message, kind: 'protocol' });
        }
      }
      function serverPacket(p: Buffer): void {
        const payload = p.subarray(4);
        if (phase === 'greeting') {
          const g = parseGreeting(payload);
          if (typeof g === 'string') {
            end({ ok: false, message: g, kind: 'protocol' }, `switchyard: ${g}`);
            return;
          }
          const missing = [...REQUIRED_CAPS, ...FORMAT_CAPS].filter(([bit]) => (login!.caps & PROXY_CAPS & bit) !== 0 && (g.caps & bit) === 0).map(([, n]) => n);
          if (missing.length > 0) {
            const m = `the server lacks ${missing.join(', ')}, which the client negotiated with the proxy`;
            end({ ok: false, message: m, kind: 'protocol' }, `switchyard: ${m}`);
            return;
          }
          greeting = g;
          greetingPacket = p;
          caps = login!.caps & PROXY_CAPS & g.caps;
          phase = 'switch';
          // AuthSwitchRequest: the client answers the server's challenge
          const sw = Buffer.concat([Buffer.from([0xfe]), Buffer.from(g.plugin + '\0', 'latin1'), g.scramble, Buffer.from([0])]);
          client.write(packet(login!.seq + 1, sw));
          return;
        }
        if (phase !== 'relay') throw new Error(`unexpected packet from the server before the login (0x${(payload[0] ?? 0).toString(16)})`);
        const out = Buffer.from(p);
        out[3] = (p[3]! + 2) & 0xff;
        client.write(out);
        const b = payload[0];
        if (b === 0x00) {
          phase = 'done';
          // prime the session's codec: greeting, the login, its OK
          drain(codec.toDownstream, greetingPacket!);
          drain(codec.toUpstream, upstreamResponse!);
          drain(codec.toDownstream, p);
          end({ ok: true, upstream });
        } else if (b === 0xff) {
          phase = 'done';
          client.end();
          end({ ok: false, message: `the server refused the login: ${payload.toString('utf8', 9)}`, kind: 'refused' });
        }
      }
      let upstreamResponse: Buffer | undefined;
      function clientPacket(p: Buffer): void {
        if (phase === 'switch') {
          upstreamResponse = rebuildResponse(login!, caps, p.subarray(4), greeting!.plugin);
          upstream.write(upstreamResponse);
          phase = 'relay';
          return;
        }
        if (phase !== 'relay') throw new Error('unexpected packet from the client during the login');
        const out = Buffer.from(p);
        out[3] = (p[3]! - 2) & 0xff;
        upstream.write(out);
      }
      upstream.on('data', onServer);
      client.on('data', onClient);
      upstream.on('error', onGone);
      upstream.on('close', onGone);
      client.on('error', onGone);
      client.on('close', onGone);
      upstream.resume();
      client.resume();
    });
  }
}

export const mysqlStartupRouter: StartupRouterHooks = {
  create: () => new MysqlStartupReader(),
};
