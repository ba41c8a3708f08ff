/**
 * The `mysql` health check: handshake and login (mysql_native_password, or caching_sha2_password's fast path),
 * then COM_PING answered OK.
 */
import type { Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { converse, stringOption, type HealthProbe, type HealthProbeOptions } from '../health-probe.js';
import { Cap } from './constants.js';

const COM_PING = 0x0e;

const sha1 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
};
const sha256 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const xor = (a: Buffer, b: Buffer): Buffer => Buffer.from(a.map((x, i) => x ^ b[i]!));

/** The auth response of a MySQL auth plugin; undefined for plugins the probe cannot answer. */
export function mysqlScramble(plugin: string, password: string, salt: Buffer): Buffer | undefined {
  if (password === '') return Buffer.alloc(0);
  const pw = Buffer.from(password, 'utf8');
  if (plugin === 'mysql_native_password') {
    const p1 = sha1(pw);
    return xor(p1, sha1(salt, sha1(p1)));
  }
  if (plugin === 'caching_sha2_password') {
    const p1 = sha256(pw);
    return xor(p1, sha256(sha256(p1), salt));
  }
  return undefined;
}

function mysqlPacket(seq: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  head[3] = seq & 0xff;
  return Buffer.concat([head, payload]);
}

function mysqlError(payload: Buffer, during: string): Error {
  const code = payload.length >= 3 ? payload.readUInt16LE(1) : 0;
  let rest = payload.subarray(3);
  let state = '';
  if (rest[0] === 0x23) {
    state = rest.subarray(1, 6).toString('latin1');
    rest = rest.subarray(6);
  }
  return new Error(`mysql: ${during}: error ${code}${state ? ` (${state})` : ''}: ${rest.toString('utf8').slice(0, 300)}`);
}

function cString(buf: Buffer, at: number): { value: string; next: number } {
  const end = buf.indexOf(0, at);
  const stop = end < 0 ? buf.length : end;
  return { value: buf.toString('latin1', at, stop), next: stop + 1 };
}

/**
 * mysql: handshake and login as `user` (mysql_native_password or caching_sha2_password's fast path), then
 * COM_PING answered OK. caching_sha2_password's full authentication (password not cached by the server yet, which
 * wants TLS or RSA) is reported as a failure saying so.
 */
export function mysqlHealthProbe(options: HealthProbeOptions): HealthProbe {
  const check = { user: stringOption(options, 'user') ?? 'root', password: stringOption(options, 'password'), database: stringOption(options, 'database') };
  return (socket, signal) => mysqlProbe(check, socket, signal);
}

async function mysqlProbe(check: { user: string; password: string | undefined; database: string | undefined }, socket: Socket, signal: AbortSignal): Promise<void> {
  const password = check.password ?? '';
  let buf: Buffer = Buffer.alloc(0);
  let phase: 'handshake' | 'auth' | 'ping' = 'handshake';
  await converse(socket, signal, (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 4) {
      const len = buf.readUIntLE(0, 3);
      if (buf.length < 4 + len) break;
      const seq = buf[3]!;
      const p = buf.subarray(4, 4 + len);
      buf = buf.subarray(4 + len);
      if (phase === 'handshake') {
        if (p[0] === 0xff) throw mysqlError(p, 'handshake');
        if (p[0] !== 10) throw new Error(`mysql: unexpected handshake protocol version ${p[0] ?? 'none'}`);
        let c = cString(p, 1).next + 4; // server version, thread id
        const salt1 = p.subarray(c, c + 8);
        c += 9; // salt part 1 + filler
        const capsLow = p.readUInt16LE(c);
        c += 2 + 1 + 2; // capabilities (low), charset, status
        const capsHigh = c + 2 <= p.length ? p.readUInt16LE(c) : 0;
        c += 2;
        const saltLen = p[c] ?? 0;
        c += 1 + 10;
        const serverCaps = (capsLow | (capsHigh << 16)) >>> 0;
        const part2 = Math.max(13, saltLen - 8);
        const salt = Buffer.concat([salt1, p.subarray(c, c + part2 - 1)]);
        c += part2;
        const plugin = serverCaps & Cap.PLUGIN_AUTH ? cString(p, c).value || 'mysql_native_password' : 'mysql_native_password';
        let answerPlugin = plugin;
        let answer = mysqlScramble(plugin, password, salt);
        if (answer === undefined) {
          answerPlugin = 'mysql_native_password';
          answer = mysqlScramble(answerPlugin, password, salt)!;
        }
        let caps = Cap.MYSQL | 0x4 /* LONG_FLAG */ | Cap.PROTOCOL_41 | Cap.TRANSACTIONS | Cap.SECURE_CONNECTION | Cap.PLUGIN_AUTH;
        if (check.database !== undefined) caps |= Cap.CONNECT_WITH_DB;
        const head = Buffer.alloc(32);
        head.writeUInt32LE(caps >>> 0, 0);
        head.writeUInt32LE(16 * 1024 * 1024, 4);
        head[8] = 33; // utf8_general_ci
        const parts = [head, Buffer.from(`${check.user}\0`, 'utf8'), Buffer.from([answer.length]), answer];
        if (check.database !== undefined) parts.push(Buffer.from(`${check.database}\0`, 'utf8'));
        parts.push(Buffer.from(`${answerPlugin}\0`, 'latin1'));
        socket.write(mysqlPacket(seq + 1, Buffer.concat(parts)));
        phase = 'auth';
        continue;
      }
      if (phase === 'auth') {
        const kind = p[0];
        if (kind === 0x00) {
          phase = 'ping';
          socket.write(mysqlPacket(0, Buffer.from([COM_PING])));
        } else if (kind === 0xff) {
          throw mysqlError(p, `login as ${check.user}`);
        } else if (kind === 0xfe) {
          // AuthSwitchRequest: plugin name, then its salt.
          const name = cString(p, 1);
          let salt = p.subarray(name.next);
          if (salt.length > 0 && salt[salt.length - 1] === 0) salt = salt.subarray(0, salt.length - 1);
          const answer = mysqlScramble(name.value, password, salt);
          if (answer === undefined) throw new Error(`mysql: the server asks for the auth plugin "${name.value}", which the health check does not speak (use mysql_native_password or caching_sha2_password)`);
          socket.write(mysqlPacket(seq + 1, answer));
        } else if (kind === 0x01) {
          // caching_sha2_password: 0x03 fast auth succeeded (OK follows), 0x04 full authentication required.
          if (p[1] === 0x04) {
            throw new Error(
              'mysql: caching_sha2_password asks for full authentication (the password is not in the server cache), which needs TLS or RSA: not supported by the health check; use a mysql_native_password user for the check',
            );
          }
        } else {
          throw new Error(`mysql: unexpected packet 0x${(kind ?? 0).toString(16)} during login`);
        }
        continue;
      }
      if (p[0] === 0x00) return true;
      if (p[0] === 0xff) throw mysqlError(p, 'COM_PING');
      throw new Error(`mysql: unexpected answer 0x${(p[0] ?? 0).toString(16)} to COM_PING`);
    }
    return false;
  });
}
