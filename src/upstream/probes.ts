/**
 * Active health-check probes: one short exchange with one endpoint, over the cluster's TLS when it has one.
 * Each resolves when the endpoint answered as expected and rejects with an Error whose message says what went
 * wrong. The caller aborts `signal` at the check's timeout; every probe then destroys its socket at once.
 */
import http from 'node:http';
import https from 'node:https';
import net, { type LookupFunction, type Socket } from 'node:net';
import tls from 'node:tls';
import { createHash } from 'node:crypto';
import type { HealthCheckConfig, HttpHealthCheck, MysqlHealthCheck, PostgresHealthCheck, RedisHealthCheck } from '../config/types.js';
import type { Address } from '../core/address.js';
import { BackendAuth } from '../protocols/postgres/backend-auth.js';
import { cstr } from '../protocols/postgres/auth-messages.js';
import { PgMessageReader } from '../protocols/postgres/message-reader.js';
import { BE, FE, encodeMessage, parseErrorFields } from '../protocols/postgres/messages.js';
import { Cap } from '../protocols/mysql/constants.js';

const COM_PING = 0x0e;

/** Where a probe connects. */
export interface ProbeTarget {
  readonly address: Address;
  /** The cluster's DNS cache for host-name endpoints. */
  readonly lookup?: LookupFunction | undefined;
  /** Originate TLS with these options (the cluster's `tls`). */
  readonly tls?: tls.ConnectionOptions | undefined;
}

export type Probe = (target: ProbeTarget, signal: AbortSignal) => Promise<void>;

/** The probe a health-check config asks for. */
export function probeFor(check: HealthCheckConfig): Probe {
  switch (check.type) {
    case 'tcp':
      return tcpProbe;
    case 'http':
      return (t, s) => httpProbe(check, t, s);
    case 'redis':
      return (t, s) => redisProbe(check, t, s);
    case 'postgres':
      return (t, s) => postgresProbe(check, t, s);
    case 'mysql':
      return (t, s) => mysqlProbe(check, t, s);
  }
}

const aborted = (): Error => new Error('aborted');

/** Connect (and finish the TLS handshake); destroyed at once when `signal` aborts. */
export function dial(target: ProbeTarget, signal: AbortSignal): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    if (signal.aborted) {
      reject(aborted());
      return;
    }
    const a = target.address;
    const base: net.NetConnectOpts =
      a.kind === 'unix' ? { path: a.path } : target.lookup ? { host: a.host, port: a.port, lookup: target.lookup } : { host: a.host, port: a.port };
    const socket = target.tls ? tls.connect({ ...target.tls, ...base } as tls.ConnectionOptions) : net.connect(base);
    const onAbort = (): void => {
      socket.destroy();
      reject(aborted());
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', (err: Error) => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    });
    socket.once(target.tls ? 'secureConnect' : 'connect', () => {
      signal.removeEventListener('abort', onAbort);
      resolve(socket);
    });
  });
}

/**
 * Feed everything the endpoint sends to `step` until it returns true (passed) or throws (failed); the socket is
 * destroyed either way. A close, an error or the abort before that fails the probe.
 */
function converse(socket: Socket, signal: AbortSignal, step: (chunk: Buffer) => boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    const onAbort = (): void => finish(aborted());
    if (signal.aborted) {
      finish(aborted());
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('data', (chunk: Buffer) => {
      try {
        if (step(chunk)) finish();
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.once('error', (err) => finish(err));
    socket.once('close', () => finish(new Error('the endpoint closed the connection before answering')));
  });
}

/** tcp: the connection (and TLS handshake) succeeds. */
export async function tcpProbe(target: ProbeTarget, signal: AbortSignal): Promise<void> {
  const socket = await dial(target, signal);
  socket.destroy();
}

function statusText(ranges: ReadonlyArray<readonly [number, number]>): string {
  return ranges.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`)).join(', ');
}

/** http: `method path` answered with a status in `expectStatus`. */
export function httpProbe(check: HttpHealthCheck, target: ProbeTarget, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const a = target.address;
    const host = check.host ?? (a.kind === 'tcp' ? (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`) : 'localhost');
    const options: http.RequestOptions = {
      method: check.method,
      path: check.path,
      headers: { host, 'user-agent': 'switchyard-health-check', connection: 'close' },
      agent: false,
      signal,
      ...(a.kind === 'unix' ? { socketPath: a.path } : { host: a.host, port: a.port }),
      ...(target.lookup ? { lookup: target.lookup } : {}),
    };
    const req = target.tls ? https.request({ ...target.tls, ...options } as https.RequestOptions) : http.request(options);
    req.once('response', (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      req.destroy();
      if (check.expectStatus.some(([lo, hi]) => status >= lo && status <= hi)) resolve();
      else reject(new Error(`HTTP ${status} to ${check.method} ${check.path} (expected ${statusText(check.expectStatus)})`));
    });
    req.once('error', (err) => reject(err));
    req.end();
  });
}

/** A RESP command. */
function resp(...args: string[]): Buffer {
  return Buffer.from(`*${args.length}\r\n${args.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join('')}`);
}

/** redis: (AUTH, then) PING answered +PONG. */
export async function redisProbe(check: RedisHealthCheck, target: ProbeTarget, signal: AbortSignal): Promise<void> {
  const socket = await dial(target, signal);
  const auth = check.password !== undefined;
  const expected = auth ? ['AUTH', 'PING'] : ['PING'];
  socket.write(
    Buffer.concat([
      ...(auth ? [check.username !== undefined ? resp('AUTH', check.username, check.password!) : resp('AUTH', check.password!)] : []),
      resp('PING'),
    ]),
  );
  let text = '';
  await converse(socket, signal, (chunk) => {
    text += chunk.toString('latin1');
    if (text.length > 64 * 1024) throw new Error('redis: answer too long for PING');
    let nl: number;
    while ((nl = text.indexOf('\r\n')) >= 0) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 2);
      const cmd = expected.shift();
      if (cmd === 'AUTH') {
        if (!line.startsWith('+')) throw new Error(`redis: AUTH answered ${line}`);
      } else if (cmd === 'PING') {
        if (line !== '+PONG') throw new Error(`redis: PING answered ${line.slice(0, 200)}`);
        return true;
      }
    }
    return false;
  });
}

/** postgres: startup with the configured user/database/password, then `SELECT 1` completed. */
export async function postgresProbe(check: PostgresHealthCheck, target: ProbeTarget, signal: AbortSignal): Promise<void> {
  const auth = new BackendAuth({ user: check.user, database: check.database, password: check.password, parameters: { application_name: 'switchyard-health-check' } });
  const startup = auth.startup();
  const socket = await dial(target, signal);
  socket.write(startup);
  const reader = new PgMessageReader();
  let querying = false;
  let completed = false;
  await converse(socket, signal, (chunk) => {
    reader.push(chunk);
    let m: Buffer | null;
    while ((m = reader.next()) !== null) {
      if (!querying) {
        const step = auth.next(m);
        for (const b of step.send) socket.write(b);
        if (step.error) throw new Error(`postgres: ${step.error.message}`);
        if (step.ready) {
          querying = true;
          socket.write(encodeMessage(FE.Query, cstr('SELECT 1')));
        }
        continue;
      }
      const type = m[0]!;
      if (type === BE.ErrorResponse) {
        const f = parseErrorFields(m.subarray(5));
        throw new Error(`postgres: SELECT 1 failed: ${f['M'] ?? 'error'} (${f['C'] ?? '?'})`);
      }
      if (type === BE.CommandComplete) completed = true;
      if (type === BE.ReadyForQuery) {
        if (!completed) throw new Error('postgres: SELECT 1 ended without CommandComplete');
        socket.write(encodeMessage(FE.Terminate, Buffer.alloc(0)));
        return true;
      }
    }
    return false;
  });
}

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
export async function mysqlProbe(check: MysqlHealthCheck, target: ProbeTarget, signal: AbortSignal): Promise<void> {
  const socket = await dial(target, signal);
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
