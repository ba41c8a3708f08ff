/**
 * PostgreSQL authentication termination, as two pure, I/O-free state machines:
 *
 * - {@link FrontendAuth} plays the server toward ONE client (a variant): trust, cleartext password, MD5 or
 *   SCRAM-SHA-256, answering with PostgreSQL's own messages and SQLSTATEs.
 * - {@link BackendAuth} plays the client toward the real server with the proxy's own credentials (cleartext, MD5,
 *   SCRAM-SHA-256 without channel binding, verifying the server signature) and collects what the server says up
 *   to the first ReadyForQuery.
 *
 * Both take complete messages (type byte + int32 length + payload; {@link PgMessageReader} cuts a byte stream into
 * them) and return the messages to write. Malformed input yields an error step, never an exception.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { ByteList } from '../../core/byte-list.js';
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import {
  BE,
  FE,
  HEADER_LENGTH,
  MAX_STARTUP_LENGTH,
  PROTOCOL_3_0,
  encodeErrorResponse,
  encodeMessage,
  parseErrorFields,
  readCString,
  readyForQueryStatus,
  typeName,
} from './messages.js';
import {
  SCRAM_DEFAULT_ITERATIONS,
  SCRAM_KEY_LENGTH,
  SCRAM_MECHANISM,
  SCRAM_PLUS_MECHANISM,
  SCRAM_SALT_LENGTH,
  bytesEqual,
  escapeSaslName,
  isBase64,
  isScramPrintable,
  parseScramAttributes,
  scramClientFinal,
  scramNonce,
  scramSecret,
  scramServerSignature,
  scramVerifyProof,
  type ScramSecret,
} from './scram.js';

export type PgAuthMethod = 'trust' | 'password' | 'md5' | 'scram-sha-256';
export const PG_AUTH_METHODS: readonly PgAuthMethod[] = ['trust', 'password', 'md5', 'scram-sha-256'];

/** Authentication request codes (the int32 after 'R'). */
export const AUTH = {
  Ok: 0,
  KerberosV5: 2,
  CleartextPassword: 3,
  MD5Password: 5,
  SCMCredential: 6,
  GSS: 7,
  GSSContinue: 8,
  SSPI: 9,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;

/** Largest typed message {@link PgMessageReader} accepts by default (header included). */
export const MAX_AUTH_MESSAGE = 1024 * 1024;
/** Most SCRAM iterations {@link BackendAuth} computes by default (pbkdf2 is synchronous; node-postgres' limit). */
export const DEFAULT_MAX_SCRAM_ITERATIONS = 100_000;

const cstr = (s: string | Buffer): Buffer => Buffer.concat([typeof s === 'string' ? Buffer.from(s, 'utf8') : s, Buffer.alloc(1)]);
const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const md5hex = (data: string | Buffer): string => createHash('md5').update(data).digest('hex');
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

/** An Authentication* message ('R' + int32 code + extra). */
export function encodeAuthentication(code: number, extra: Buffer = Buffer.alloc(0)): Buffer {
  return encodeMessage(BE.Authentication, Buffer.concat([int32(code), extra]));
}

/** PostgreSQL's MD5 password response: `'md5' + md5hex(md5hex(password + user) + salt)`. */
export function md5PasswordResponse(user: string, password: string, salt: Buffer): string {
  return 'md5' + md5hex(Buffer.concat([Buffer.from(md5hex(password + user), 'latin1'), salt]));
}

/** Type byte and payload of a complete typed message, or undefined when the length field does not match. */
function splitMessage(message: Buffer): { type: number; payload: Buffer } | undefined {
  if (message.length < HEADER_LENGTH) return undefined;
  if (message.readUInt32BE(1) !== message.length - 1) return undefined;
  return { type: message[0]!, payload: message.subarray(HEADER_LENGTH) };
}

// ---------------------------------------------------------------------------------------------------------------
// Server side
// ---------------------------------------------------------------------------------------------------------------

/** Server side: answers ONE variant's startup. Users: name → password (ignored for trust). */
export interface FrontendAuthConfig {
  method: PgAuthMethod;
  /**
   * name → plain-text password. For `trust`, an empty map accepts every user name; otherwise only the listed
   * names are accepted (others get PostgreSQL's `role "x" does not exist`, 28000).
   */
  users: Readonly<Record<string, string>>;
}

export interface FrontendAuthError {
  sqlstate: string;
  message: string;
  /** PostgreSQL's DETAIL, when it gives one (malformed SCRAM messages). */
  detail?: string;
}

export type FrontendAuthStep =
  | { readonly send: Buffer[]; readonly done?: undefined; readonly error?: undefined }
  | { readonly send: Buffer[]; readonly done: true; readonly error?: undefined }
  | { readonly send: Buffer[]; readonly done?: undefined; readonly error: FrontendAuthError };

type FrontState = 'init' | 'password' | 'md5' | 'sasl-initial' | 'sasl-response' | 'done' | 'failed';

interface ScramServerState {
  secret: ScramSecret;
  gs2Header: string;
  clientFirstBare: string;
  serverFirst: string;
  nonce: string;
}

/** Per `users` object: user → (password, secret), so one config salts each user once, like a stored verifier. */
const secretCache = new WeakMap<object, Map<string, { password: string; secret: ScramSecret }>>();
/** Key for the mock salts of unknown users (stable within the process, as PostgreSQL's mock nonce). */
const MOCK_KEY = randomBytes(32);

function userSecret(users: Readonly<Record<string, string>>, user: string, password: string): ScramSecret {
  let byUser = secretCache.get(users);
  if (!byUser) {
    byUser = new Map();
    secretCache.set(users, byUser);
  }
  const hit = byUser.get(user);
  if (hit && hit.password === password) return hit.secret;
  const secret = scramSecret(password);
  byUser.set(user, { password, secret });
  return secret;
}

/** A secret that matches no proof, with a salt that is stable per user name (does not reveal the user is unknown). */
function mockSecret(user: string): ScramSecret {
  const salt = createHmac('sha256', MOCK_KEY).update(user).digest().subarray(0, SCRAM_SALT_LENGTH);
  return { salt, iterations: SCRAM_DEFAULT_ITERATIONS, storedKey: randomBytes(SCRAM_KEY_LENGTH), serverKey: randomBytes(SCRAM_KEY_LENGTH) };
}

export class FrontendAuth {
  private readonly config: FrontendAuthConfig;
  private readonly makeNonce: () => string;
  private state: FrontState = 'init';
  private user = '';
  /** The password of the user, when the user is in the config. */
  private password: string | undefined;
  private md5Salt: Buffer | undefined;
  private scram: ScramServerState | undefined;

  constructor(config: FrontendAuthConfig, options: { nonce?: () => string } = {}) {
    if (!PG_AUTH_METHODS.includes(config.method)) {
      throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `postgres auth: unknown method "${String(config.method)}" (expected ${PG_AUTH_METHODS.join(', ')})`, {
        details: { method: config.method },
      });
    }
    this.config = config;
    this.makeNonce = options.nonce ?? scramNonce;
  }

  /** True once the client is authenticated. */
  get done(): boolean {
    return this.state === 'done';
  }

  /** `params` = the StartupMessage parameters (user, database, ...). Returns the first step. */
  begin(params: Readonly<Record<string, string>>): FrontendAuthStep {
    if (this.state !== 'init') return this.fail('08P01', 'authentication was already started for this connection');
    const user = params['user'];
    if (user === undefined || user === '') return this.fail('28000', 'no PostgreSQL user name specified in startup packet');
    this.user = user;
    const users = this.config.users;
    this.password = Object.hasOwn(users, user) && typeof users[user] === 'string' ? users[user] : undefined;
    switch (this.config.method) {
      case 'trust':
        if (this.password === undefined && Object.keys(users).length > 0) return this.fail('28000', `role "${user}" does not exist`);
        return this.ok([]);
      case 'password':
        this.state = 'password';
        return { send: [encodeAuthentication(AUTH.CleartextPassword)] };
      case 'md5':
        this.state = 'md5';
        this.md5Salt = randomBytes(4);
        return { send: [encodeAuthentication(AUTH.MD5Password, this.md5Salt)] };
      case 'scram-sha-256':
        this.state = 'sasl-initial';
        return { send: [encodeAuthentication(AUTH.SASL, Buffer.concat([cstr(SCRAM_MECHANISM), Buffer.alloc(1)]))] };
    }
  }

  /** `message` = one complete frontend message (type byte + int32 length + payload). */
  next(message: Buffer): FrontendAuthStep {
    switch (this.state) {
      case 'init':
        return this.fail('08P01', 'authentication message received before the startup message');
      case 'done':
        return this.fail('08P01', 'unexpected authentication message: authentication already completed');
      case 'failed':
        return this.fail('08P01', 'unexpected authentication message: authentication already failed');
      default:
        break;
    }
    const msg = splitMessage(message);
    if (!msg) return this.fail('08P01', 'invalid message length');
    const sasl = this.state === 'sasl-initial' || this.state === 'sasl-response';
    if (msg.type !== FE.Password) {
      return this.fail('08P01', `expected ${sasl ? 'SASL' : 'password'} response, got ${typeName(msg.type, 'client')}`);
    }
    switch (this.state) {
      case 'password':
      case 'md5':
        return this.checkPassword(msg.payload);
      case 'sasl-initial':
        return this.saslInitial(msg.payload);
      default:
        return this.saslResponse(msg.payload);
    }
  }

  private checkPassword(payload: Buffer): FrontendAuthStep {
    const nul = payload.indexOf(0);
    if (nul !== payload.length - 1) return this.fail('08P01', 'invalid password packet size');
    const given = payload.subarray(0, nul);
    if (this.password === undefined || given.length === 0) return this.denied();
    const expected = this.state === 'md5' ? md5PasswordResponse(this.user, this.password, this.md5Salt!) : this.password;
    // Compare digests: constant time whatever the lengths.
    return bytesEqual(sha256(given), sha256(Buffer.from(expected, 'utf8'))) ? this.ok([]) : this.denied();
  }

  private saslInitial(payload: Buffer): FrontendAuthStep {
    const mech = readCString(payload, 0);
    if (!mech || mech.next + 4 > payload.length) return this.malformed('Invalid SASLInitialResponse message.');
    if (mech.value !== SCRAM_MECHANISM) return this.fail('08P01', 'client selected an invalid SASL authentication mechanism');
    const len = payload.readInt32BE(mech.next);
    const start = mech.next + 4;
    if (len < 0 || start + len !== payload.length) return this.malformed('Invalid SASLInitialResponse length.');
    const data = payload.toString('utf8', start);

    const flag = data[0];
    if (flag === 'p') {
      return this.malformed('The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.');
    }
    if (flag !== 'n' && flag !== 'y') return this.malformed(`Unexpected channel-binding flag "${flag ?? ''}".`);
    if (data[1] !== ',') return this.malformed('Comma expected after the channel-binding flag.');
    if (data[2] === 'a') return this.fail('0A000', 'client uses authorization identity, but it is not supported');
    if (data[2] !== ',') return this.malformed('Unexpected attribute in client-first-message.');
    const clientFirstBare = data.slice(3);
    const attrs = parseScramAttributes(clientFirstBare);
    if (attrs?.[0]?.[0] === 'm') return this.fail('0A000', 'client requires an unsupported SCRAM extension');
    if (!attrs || attrs.length < 2 || attrs[0]![0] !== 'n' || attrs[1]![0] !== 'r') {
      return this.malformed('client-first-message must be "n=<user>,r=<nonce>".');
    }
    const clientNonce = attrs[1]![1];
    if (!isScramPrintable(clientNonce)) return this.malformed('The client nonce contains invalid characters.');

    const secret = this.password === undefined ? mockSecret(this.user) : userSecret(this.config.users, this.user, this.password);
    const serverNonce = this.makeNonce();
    if (!isScramPrintable(serverNonce)) return this.fail('XX000', 'internal error: invalid SCRAM server nonce');
    const nonce = clientNonce + serverNonce;
    const serverFirst = `r=${nonce},s=${secret.salt.toString('base64')},i=${secret.iterations}`;
    this.scram = { secret, gs2Header: data.slice(0, 3), clientFirstBare, serverFirst, nonce };
    this.state = 'sasl-response';
    return { send: [encodeAuthentication(AUTH.SASLContinue, Buffer.from(serverFirst, 'utf8'))] };
  }

  private saslResponse(payload: Buffer): FrontendAuthStep {
    const s = this.scram!;
    const data = payload.toString('utf8');
    const p = data.lastIndexOf(',p=');
    if (p < 0) return this.malformed('Could not find proof in client-final-message.');
    const withoutProof = data.slice(0, p);
    const proofText = data.slice(p + 3);
    const attrs = parseScramAttributes(withoutProof);
    if (!attrs || attrs.length < 2 || attrs[0]![0] !== 'c' || attrs[1]![0] !== 'r') {
      return this.malformed('client-final-message must be "c=<binding>,r=<nonce>,...,p=<proof>".');
    }
    if (attrs[0]![1] !== Buffer.from(s.gs2Header, 'utf8').toString('base64')) return this.fail('08P01', 'SCRAM channel binding check failed');
    if (attrs[1]![1] !== s.nonce) return this.malformed('Nonce does not match.');
    const proof = isBase64(proofText) ? Buffer.from(proofText, 'base64') : undefined;
    if (!proof || proof.length !== SCRAM_KEY_LENGTH) return this.malformed('Malformed proof in client-final-message.');
    const authMessage = `${s.clientFirstBare},${s.serverFirst},${withoutProof}`;
    if (this.password === undefined || !scramVerifyProof(s.secret, authMessage, proof)) return this.denied();
    const signature = scramServerSignature(s.secret, authMessage).toString('base64');
    return this.ok([encodeAuthentication(AUTH.SASLFinal, Buffer.from(`v=${signature}`, 'utf8'))]);
  }

  private ok(before: Buffer[]): FrontendAuthStep {
    this.state = 'done';
    return { send: [...before, encodeAuthentication(AUTH.Ok)], done: true };
  }

  private denied(): FrontendAuthStep {
    return this.fail('28P01', `password authentication failed for user "${this.user}"`);
  }

  private malformed(detail: string): FrontendAuthStep {
    return this.fail('08P01', 'malformed SCRAM message', detail);
  }

  private fail(sqlstate: string, message: string, detail?: string): FrontendAuthStep {
    this.state = 'failed';
    const fields: Array<[string, string]> = [
      ['S', 'FATAL'],
      ['V', 'FATAL'],
      ['C', sqlstate],
      ['M', message],
    ];
    if (detail !== undefined) fields.push(['D', detail]);
    const error: FrontendAuthError = detail === undefined ? { sqlstate, message } : { sqlstate, message, detail };
    return { send: [encodeErrorResponse(fields)], error };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------------------------------------------

/** Client side: authenticates the proxy to the real server. */
export interface BackendAuthConfig {
  user: string;
  database: string;
  password?: string | undefined;
  /** Extra startup parameters, e.g. application_name, client_encoding (user/database here are ignored). */
  parameters?: Readonly<Record<string, string>>;
}

export interface BackendReady {
  /** ParameterStatus messages as received (name → value, in order). */
  readonly parameters: ReadonlyMap<string, string>;
  /** The raw ParameterStatus messages (to forward to variants verbatim). */
  readonly parameterMessages: Buffer[];
  readonly backendKey: { pid: number; secret: Buffer } | undefined;
  readonly txStatus: 'I' | 'T' | 'E';
}

export type BackendAuthStep =
  | { readonly send: Buffer[]; readonly ready?: undefined; readonly error?: undefined }
  | { readonly send: Buffer[]; readonly ready: BackendReady; readonly error?: undefined }
  | { readonly send: Buffer[]; readonly ready?: undefined; readonly error: SwitchyardError };

export interface BackendAuthOptions {
  /** SCRAM client nonce (tests); default 18 random bytes in base64. Must be printable ASCII without ','. */
  nonce?: () => string;
  /** Refuse SCRAM iteration counts above this (pbkdf2 blocks the event loop). Default 100000. */
  maxIterations?: number;
}

type BackPhase = 'auth' | 'params' | 'ready' | 'failed';

interface ScramClientState {
  stage: 'continue' | 'final' | 'ok';
  clientNonce: string;
  clientFirstBare: string;
  serverSignature?: Buffer;
}

const AUTH_NAMES: Record<number, string> = {
  [AUTH.KerberosV5]: 'Kerberos V5',
  [AUTH.SCMCredential]: 'SCM credentials',
  [AUTH.GSS]: 'GSSAPI',
  [AUTH.GSSContinue]: 'GSSAPI',
  [AUTH.SSPI]: 'SSPI',
};

export class BackendAuth {
  private readonly config: BackendAuthConfig;
  private readonly makeNonce: () => string;
  private readonly maxIterations: number;
  private phase: BackPhase = 'auth';
  private sasl: ScramClientState | undefined;
  private readonly parameters = new Map<string, string>();
  private readonly parameterMessages: Buffer[] = [];
  private backendKey: { pid: number; secret: Buffer } | undefined;
  private failure: SwitchyardError | undefined;

  constructor(config: BackendAuthConfig, options: BackendAuthOptions = {}) {
    this.config = config;
    this.makeNonce = options.nonce ?? scramNonce;
    this.maxIterations = options.maxIterations ?? DEFAULT_MAX_SCRAM_ITERATIONS;
  }

  /** The StartupMessage to send first (protocol 3.0). Throws SWY_CONFIG_INVALID for NUL bytes or an oversized packet. */
  startup(): Buffer {
    const pairs: Array<[string, string]> = [
      ['user', this.config.user],
      ['database', this.config.database],
    ];
    for (const [k, v] of Object.entries(this.config.parameters ?? {})) {
      if (k !== 'user' && k !== 'database') pairs.push([k, v]);
    }
    const parts: Buffer[] = [int32(PROTOCOL_3_0)];
    for (const [k, v] of pairs) {
      if (k === '' || k.includes('\0') || v.includes('\0')) {
        throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `postgres startup parameter "${k.replace(/\0/g, '\\0')}" must be non-empty text without NUL bytes`, {
          details: { parameter: k },
        });
      }
      parts.push(cstr(k), cstr(v));
    }
    parts.push(Buffer.alloc(1));
    const body = Buffer.concat(parts);
    if (body.length + 4 > MAX_STARTUP_LENGTH) {
      throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `postgres startup packet would be ${body.length + 4} bytes, above the server limit ${MAX_STARTUP_LENGTH}`, {
        details: { length: body.length + 4, limit: MAX_STARTUP_LENGTH },
      });
    }
    return Buffer.concat([int32(body.length + 4), body]);
  }

  /** Feed one complete backend message (type + length + payload). */
  next(message: Buffer): BackendAuthStep {
    if (this.phase === 'failed') return { send: [], error: this.failure! };
    if (this.phase === 'ready') return this.protocolError('unexpected message after ReadyForQuery: authentication is already finished');
    const msg = splitMessage(message);
    if (!msg) return this.malformed(`message length field does not match its ${message.length} bytes`);
    const { type, payload } = msg;
    switch (type) {
      case BE.ErrorResponse:
        return this.serverError(payload);
      case BE.NoticeResponse:
        return { send: [] };
      case BE.Authentication:
        if (this.phase !== 'auth') return this.protocolError('server sent an authentication request after AuthenticationOk');
        return this.authentication(payload);
      case BE.NegotiateProtocolVersion:
        // Only sent before authentication when the server lacks a requested minor version or _pq_ option: we ask
        // for neither, so whatever it says changes nothing for protocol 3.0.
        if (this.phase !== 'auth') return this.protocolError('server sent NegotiateProtocolVersion after AuthenticationOk');
        return { send: [] };
      case BE.ParameterStatus:
      case BE.BackendKeyData:
      case BE.ReadyForQuery:
        if (this.phase !== 'params') return this.protocolError(`server sent ${typeName(type, 'server')} before AuthenticationOk`);
        return this.afterOk(type, payload, message);
      default:
        return this.protocolError(`unexpected ${typeName(type, 'server')} during authentication`);
    }
  }

  private authentication(payload: Buffer): BackendAuthStep {
    if (payload.length < 4) return this.malformed('Authentication message shorter than its 4-byte code');
    const code = payload.readInt32BE(0);
    const rest = payload.subarray(4);
    if (this.sasl && code !== AUTH.SASLContinue && code !== AUTH.SASLFinal && code !== AUTH.Ok) {
      return this.protocolError(`server sent authentication request ${code} in the middle of a SASL exchange`);
    }
    switch (code) {
      case AUTH.Ok:
        if (this.sasl && this.sasl.stage !== 'ok') {
          return this.protocolError('server sent AuthenticationOk before completing the SCRAM exchange (no verified server signature)');
        }
        this.phase = 'params';
        return { send: [] };
      case AUTH.CleartextPassword: {
        const password = this.requirePassword('cleartext password');
        if (typeof password !== 'string') return password;
        return { send: [encodeMessage(FE.Password, cstr(password))] };
      }
      case AUTH.MD5Password: {
        if (rest.length !== 4) return this.malformed(`AuthenticationMD5Password carries ${rest.length} salt bytes, expected 4`);
        const password = this.requirePassword('MD5 password');
        if (typeof password !== 'string') return password;
        return { send: [encodeMessage(FE.Password, cstr(md5PasswordResponse(this.config.user, password, rest)))] };
      }
      case AUTH.SASL:
        return this.saslStart(rest);
      case AUTH.SASLContinue:
        if (this.sasl?.stage !== 'continue') return this.protocolError('server sent AuthenticationSASLContinue out of order');
        return this.saslContinue(rest);
      case AUTH.SASLFinal:
        if (this.sasl?.stage !== 'final') return this.protocolError('server sent AuthenticationSASLFinal out of order');
        return this.saslFinal(rest);
      default: {
        const name = AUTH_NAMES[code];
        return this.fail(
          new SwitchyardError(
            ErrorCodes.UPSTREAM_ERROR,
            name === undefined
              ? `postgres server requested unknown authentication method ${code}`
              : `postgres server requested ${name} authentication, which switchyard does not support`,
            { details: { reason: 'unsupported-auth-method', authCode: code } },
          ),
        );
      }
    }
  }

  private saslStart(rest: Buffer): BackendAuthStep {
    if (this.sasl) return this.protocolError('server started a second SASL exchange');
    const mechanisms: string[] = [];
    let off = 0;
    for (;;) {
      const m = readCString(rest, off);
      if (!m) return this.malformed('AuthenticationSASL mechanism list is not terminated');
      if (m.value === '') break;
      mechanisms.push(m.value);
      off = m.next;
    }
    if (!mechanisms.includes(SCRAM_MECHANISM)) {
      const only = mechanisms.includes(SCRAM_PLUS_MECHANISM);
      return this.fail(
        new SwitchyardError(
          ErrorCodes.UPSTREAM_ERROR,
          only
            ? `postgres server offers only ${SCRAM_PLUS_MECHANISM} (channel binding), which switchyard does not support`
            : `postgres server offers no supported SASL mechanism (offered: ${mechanisms.join(', ') || 'none'}; supported: ${SCRAM_MECHANISM})`,
          { details: { reason: 'unsupported-auth-method', mechanisms } },
        ),
      );
    }
    const password = this.requirePassword(SCRAM_MECHANISM);
    if (typeof password !== 'string') return password;
    const clientNonce = this.makeNonce();
    if (!isScramPrintable(clientNonce)) {
      return this.fail(new SwitchyardError(ErrorCodes.INTERNAL, 'SCRAM client nonce must be printable ASCII without commas', { details: { reason: 'bad-nonce' } }));
    }
    const clientFirstBare = `n=${escapeSaslName(this.config.user)},r=${clientNonce}`;
    const data = Buffer.from(`n,,${clientFirstBare}`, 'utf8');
    this.sasl = { stage: 'continue', clientNonce, clientFirstBare };
    return { send: [encodeMessage(FE.Password, Buffer.concat([cstr(SCRAM_MECHANISM), int32(data.length), data]))] };
  }

  private saslContinue(rest: Buffer): BackendAuthStep {
    const s = this.sasl!;
    const serverFirst = rest.toString('utf8');
    const attrs = parseScramAttributes(serverFirst);
    if (attrs?.[0]?.[0] === 'm') return this.scramError('server-first-message requires an unsupported SCRAM extension');
    if (!attrs || attrs.length < 3 || attrs[0]![0] !== 'r' || attrs[1]![0] !== 's' || attrs[2]![0] !== 'i') {
      return this.scramError('malformed server-first-message (expected "r=<nonce>,s=<salt>,i=<iterations>")');
    }
    const nonce = attrs[0]![1];
    if (!isScramPrintable(nonce) || !nonce.startsWith(s.clientNonce) || nonce.length === s.clientNonce.length) {
      return this.scramError('server nonce does not extend the client nonce');
    }
    const saltText = attrs[1]![1];
    if (saltText === '' || !isBase64(saltText)) return this.scramError('server-first-message carries an invalid salt');
    const iterText = attrs[2]![1];
    const iterations = /^[1-9][0-9]{0,9}$/.test(iterText) ? Number(iterText) : NaN;
    if (!Number.isSafeInteger(iterations)) return this.scramError(`server-first-message carries an invalid iteration count "${iterText}"`);
    if (iterations > this.maxIterations) return this.scramError(`SCRAM iteration count ${iterations} exceeds the limit ${this.maxIterations}`);
    const final = scramClientFinal({
      password: this.config.password!,
      salt: Buffer.from(saltText, 'base64'),
      iterations,
      clientFirstBare: s.clientFirstBare,
      serverFirst,
      nonce,
    });
    s.stage = 'final';
    s.serverSignature = final.serverSignature;
    return { send: [encodeMessage(FE.Password, Buffer.from(final.message, 'utf8'))] };
  }

  private saslFinal(rest: Buffer): BackendAuthStep {
    const s = this.sasl!;
    const attrs = parseScramAttributes(rest.toString('utf8'));
    if (attrs?.[0]?.[0] === 'e') return this.scramError(`server rejected the SCRAM exchange: ${attrs[0][1]}`);
    if (!attrs || attrs[0]?.[0] !== 'v') return this.scramError('malformed server-final-message (expected "v=<signature>")');
    const text = attrs[0][1];
    const signature = isBase64(text) ? Buffer.from(text, 'base64') : Buffer.alloc(0);
    if (!bytesEqual(signature, s.serverSignature!)) {
      return this.fail(
        new SwitchyardError(ErrorCodes.UPSTREAM_ERROR, 'postgres server sent a wrong SCRAM server signature: it does not know the password', {
          details: { reason: 'scram-server-signature' },
        }),
      );
    }
    s.stage = 'ok';
    return { send: [] };
  }

  private afterOk(type: number, payload: Buffer, message: Buffer): BackendAuthStep {
    if (type === BE.ParameterStatus) {
      const name = readCString(payload, 0);
      const value = name && readCString(payload, name.next);
      if (!name || !value || value.next !== payload.length) return this.malformed('malformed ParameterStatus');
      this.parameters.set(name.value, value.value);
      this.parameterMessages.push(message);
      return { send: [] };
    }
    if (type === BE.BackendKeyData) {
      // Protocol 3.0: 4-byte secret; 3.2 allows up to 256 bytes.
      if (payload.length < 8 || payload.length > 4 + 256) return this.malformed(`BackendKeyData payload of ${payload.length} bytes`);
      this.backendKey = { pid: payload.readInt32BE(0), secret: Buffer.from(payload.subarray(4)) };
      return { send: [] };
    }
    const status = readyForQueryStatus(payload);
    if (!status) return this.malformed('malformed ReadyForQuery');
    this.phase = 'ready';
    return {
      send: [],
      ready: { parameters: this.parameters, parameterMessages: this.parameterMessages, backendKey: this.backendKey, txStatus: status },
    };
  }

  private requirePassword(what: string): string | BackendAuthStep {
    if (this.config.password !== undefined) return this.config.password;
    return this.fail(
      new SwitchyardError(ErrorCodes.UPSTREAM_ERROR, `postgres server requested ${what} authentication for user "${this.config.user}", but no password is configured`, {
        details: { reason: 'password-required', user: this.config.user },
      }),
    );
  }

  private serverError(payload: Buffer): BackendAuthStep {
    const fields = parseErrorFields(payload);
    const sqlstate = fields['C'];
    const message = fields['M'] ?? 'unknown error';
    return this.fail(
      new SwitchyardError(ErrorCodes.UPSTREAM_ERROR, `postgres server: ${message}${sqlstate ? ` (SQLSTATE ${sqlstate})` : ''}`, {
        details: { reason: 'server-error', sqlstate, severity: fields['V'] ?? fields['S'], message, fields },
      }),
    );
  }

  private scramError(message: string): BackendAuthStep {
    return this.fail(new SwitchyardError(ErrorCodes.UPSTREAM_ERROR, `postgres SCRAM: ${message}`, { details: { reason: 'scram-protocol' } }));
  }

  private protocolError(message: string): BackendAuthStep {
    return this.fail(new SwitchyardError(ErrorCodes.UPSTREAM_ERROR, `postgres: ${message}`, { details: { reason: 'protocol-violation' } }));
  }

  private malformed(message: string): BackendAuthStep {
    return this.fail(new SwitchyardError(ErrorCodes.FRAME_MALFORMED, `postgres: ${message}`, { details: { reason: 'malformed-message' } }));
  }

  private fail(error: SwitchyardError): BackendAuthStep {
    if (this.phase !== 'failed') {
      this.phase = 'failed';
      this.failure = error;
    }
    return { send: [], error: this.failure! };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------------------------

/** Split a byte stream of typed PG messages (type + int32 length + payload) into whole messages. */
export class PgMessageReader {
  private readonly bytes = new ByteList();
  private readonly maxMessage: number;

  /** `maxMessage`: largest message accepted, header included (default 1 MiB). */
  constructor(options: { maxMessage?: number } = {}) {
    this.maxMessage = options.maxMessage ?? MAX_AUTH_MESSAGE;
  }

  /** Bytes held, not yet returned. */
  get buffered(): number {
    return this.bytes.length;
  }

  /** Append a chunk (kept by reference: do not mutate it afterwards). */
  push(chunk: Buffer): void {
    this.bytes.append(chunk);
  }

  /**
   * One whole message including its header, or null when more bytes are needed. Throws SWY_FRAME_MALFORMED for a
   * length field below 4 and SWY_FRAME_TOO_LARGE above the limit (the stream cannot be resynchronised after that).
   */
  next(): Buffer | null {
    if (this.bytes.length < HEADER_LENGTH) return null;
    const type = this.bytes.byteAt(0);
    const len = Number(this.bytes.readUIntBE(1, 4));
    if (len < 4) {
      throw new SwitchyardError(ErrorCodes.FRAME_MALFORMED, `postgres: message type 0x${type.toString(16).padStart(2, '0')} declares length ${len}, below the minimum 4`, {
        details: { type, length: len },
      });
    }
    if (len + 1 > this.maxMessage) {
      throw new SwitchyardError(ErrorCodes.FRAME_TOO_LARGE, `postgres: message type 0x${type.toString(16).padStart(2, '0')} declares ${len + 1} bytes, above the limit ${this.maxMessage}`, {
        details: { type, length: len + 1, limit: this.maxMessage },
      });
    }
    if (this.bytes.length < len + 1) return null;
    return this.bytes.consume(len + 1);
  }
}
