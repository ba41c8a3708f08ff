/**
 * PostgreSQL authentication, server side: {@link FrontendAuth} plays the server toward ONE client (a merge variant)
 * — trust, cleartext password, MD5 or SCRAM-SHA-256 — answering with PostgreSQL's own messages and SQLSTATEs. Pure
 * and I/O-free: it takes complete messages (type byte + int32 length + payload) and returns the messages to write;
 * malformed input yields an error step, never an exception.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { AUTH, PG_AUTH_METHODS, cstr, encodeAuthentication, md5PasswordResponse, splitMessage, type PgAuthMethod } from './auth-messages.js';
import { FE, encodeErrorResponse, readCString, typeName } from './messages.js';
import {
  SCRAM_DEFAULT_ITERATIONS,
  SCRAM_KEY_LENGTH,
  SCRAM_MECHANISM,
  SCRAM_SALT_LENGTH,
  bytesEqual,
  isBase64,
  isScramPrintable,
  parseScramAttributes,
  scramNonce,
  scramSecret,
  scramServerSignature,
  scramVerifyProof,
  type ScramSecret,
} from './scram.js';

const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

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
  readonly #config: FrontendAuthConfig;
  readonly #makeNonce: () => string;
  #state: FrontState = 'init';
  #user = '';
  /** The password of the user, when the user is in the config. */
  #password: string | undefined;
  #md5Salt: Buffer | undefined;
  #scram: ScramServerState | undefined;

  constructor(config: FrontendAuthConfig, options: { nonce?: () => string } = {}) {
    if (!PG_AUTH_METHODS.includes(config.method)) {
      throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `postgres auth: unknown method "${String(config.method)}" (expected ${PG_AUTH_METHODS.join(', ')})`, {
        details: { method: config.method },
      });
    }
    this.#config = config;
    this.#makeNonce = options.nonce ?? scramNonce;
  }

  /** True once the client is authenticated. */
  get done(): boolean {
    return this.#state === 'done';
  }

  /** `params` = the StartupMessage parameters (user, database, ...). Returns the first step. */
  begin(params: Readonly<Record<string, string>>): FrontendAuthStep {
    if (this.#state !== 'init') return this.#fail('08P01', 'authentication was already started for this connection');
    const user = params['user'];
    if (user === undefined || user === '') return this.#fail('28000', 'no PostgreSQL user name specified in startup packet');
    this.#user = user;
    const users = this.#config.users;
    this.#password = Object.hasOwn(users, user) && typeof users[user] === 'string' ? users[user] : undefined;
    switch (this.#config.method) {
      case 'trust':
        if (this.#password === undefined && Object.keys(users).length > 0) return this.#fail('28000', `role "${user}" does not exist`);
        return this.#ok([]);
      case 'password':
        this.#state = 'password';
        return { send: [encodeAuthentication(AUTH.CleartextPassword)] };
      case 'md5':
        this.#state = 'md5';
        this.#md5Salt = randomBytes(4);
        return { send: [encodeAuthentication(AUTH.MD5Password, this.#md5Salt)] };
      case 'scram-sha-256':
        this.#state = 'sasl-initial';
        return { send: [encodeAuthentication(AUTH.SASL, Buffer.concat([cstr(SCRAM_MECHANISM), Buffer.alloc(1)]))] };
    }
  }

  /** `message` = one complete frontend message (type byte + int32 length + payload). */
  next(message: Buffer): FrontendAuthStep {
    switch (this.#state) {
      case 'init':
        return this.#fail('08P01', 'authentication message received before the startup message');
      case 'done':
        return this.#fail('08P01', 'unexpected authentication message: authentication already completed');
      case 'failed':
        return this.#fail('08P01', 'unexpected authentication message: authentication already failed');
      default:
        break;
    }
    const msg = splitMessage(message);
    if (!msg) return this.#fail('08P01', 'invalid message length');
    const sasl = this.#state === 'sasl-initial' || this.#state === 'sasl-response';
    if (msg.type !== FE.Password) {
      return this.#fail('08P01', `expected ${sasl ? 'SASL' : 'password'} response, got ${typeName(msg.type, 'client')}`);
    }
    switch (this.#state) {
      case 'password':
      case 'md5':
        return this.#checkPassword(msg.payload);
      case 'sasl-initial':
        return this.#saslInitial(msg.payload);
      default:
        return this.#saslResponse(msg.payload);
    }
  }

  #checkPassword(payload: Buffer): FrontendAuthStep {
    const nul = payload.indexOf(0);
    if (nul !== payload.length - 1) return this.#fail('08P01', 'invalid password packet size');
    const given = payload.subarray(0, nul);
    if (this.#password === undefined || given.length === 0) return this.#denied();
    const expected = this.#state === 'md5' ? md5PasswordResponse(this.#user, this.#password, this.#md5Salt!) : this.#password;
    // Compare digests: constant time whatever the lengths.
    return bytesEqual(sha256(given), sha256(Buffer.from(expected, 'utf8'))) ? this.#ok([]) : this.#denied();
  }

  #saslInitial(payload: Buffer): FrontendAuthStep {
    const mech = readCString(payload, 0);
    if (!mech || mech.next + 4 > payload.length) return this.#malformed('Invalid SASLInitialResponse message.');
    if (mech.value !== SCRAM_MECHANISM) return this.#fail('08P01', 'client selected an invalid SASL authentication mechanism');
    const len = payload.readInt32BE(mech.next);
    const start = mech.next + 4;
    if (len < 0 || start + len !== payload.length) return this.#malformed('Invalid SASLInitialResponse length.');
    const data = payload.toString('utf8', start);

    const flag = data[0];
    if (flag === 'p') {
      return this.#malformed('The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.');
    }
    if (flag !== 'n' && flag !== 'y') return this.#malformed(`Unexpected channel-binding flag "${flag ?? ''}".`);
    if (data[1] !== ',') return this.#malformed('Comma expected after the channel-binding flag.');
    if (data[2] === 'a') return this.#fail('0A000', 'client uses authorization identity, but it is not supported');
    if (data[2] !== ',') return this.#malformed('Unexpected attribute in client-first-message.');
    const clientFirstBare = data.slice(3);
    const attrs = parseScramAttributes(clientFirstBare);
    if (attrs?.[0]?.[0] === 'm') return this.#fail('0A000', 'client requires an unsupported SCRAM extension');
    if (!attrs || attrs.length < 2 || attrs[0]![0] !== 'n' || attrs[1]![0] !== 'r') {
      return this.#malformed('client-first-message must be "n=<user>,r=<nonce>".');
    }
    const clientNonce = attrs[1]![1];
    if (!isScramPrintable(clientNonce)) return this.#malformed('The client nonce contains invalid characters.');

    const secret = this.#password === undefined ? mockSecret(this.#user) : userSecret(this.#config.users, this.#user, this.#password);
    const serverNonce = this.#makeNonce();
    if (!isScramPrintable(serverNonce)) return this.#fail('XX000', 'internal error: invalid SCRAM server nonce');
    const nonce = clientNonce + serverNonce;
    const serverFirst = `r=${nonce},s=${secret.salt.toString('base64')},i=${secret.iterations}`;
    this.#scram = { secret, gs2Header: data.slice(0, 3), clientFirstBare, serverFirst, nonce };
    this.#state = 'sasl-response';
    return { send: [encodeAuthentication(AUTH.SASLContinue, Buffer.from(serverFirst, 'utf8'))] };
  }

  #saslResponse(payload: Buffer): FrontendAuthStep {
    const s = this.#scram!;
    const data = payload.toString('utf8');
    const p = data.lastIndexOf(',p=');
    if (p < 0) return this.#malformed('Could not find proof in client-final-message.');
    const withoutProof = data.slice(0, p);
    const proofText = data.slice(p + 3);
    const attrs = parseScramAttributes(withoutProof);
    if (!attrs || attrs.length < 2 || attrs[0]![0] !== 'c' || attrs[1]![0] !== 'r') {
      return this.#malformed('client-final-message must be "c=<binding>,r=<nonce>,...,p=<proof>".');
    }
    if (attrs[0]![1] !== Buffer.from(s.gs2Header, 'utf8').toString('base64')) return this.#fail('08P01', 'SCRAM channel binding check failed');
    if (attrs[1]![1] !== s.nonce) return this.#malformed('Nonce does not match.');
    const proof = isBase64(proofText) ? Buffer.from(proofText, 'base64') : undefined;
    if (!proof || proof.length !== SCRAM_KEY_LENGTH) return this.#malformed('Malformed proof in client-final-message.');
    const authMessage = `${s.clientFirstBare},${s.serverFirst},${withoutProof}`;
    if (this.#password === undefined || !scramVerifyProof(s.secret, authMessage, proof)) return this.#denied();
    const signature = scramServerSignature(s.secret, authMessage).toString('base64');
    return this.#ok([encodeAuthentication(AUTH.SASLFinal, Buffer.from(`v=${signature}`, 'utf8'))]);
  }

  #ok(before: Buffer[]): FrontendAuthStep {
    this.#state = 'done';
    return { send: [...before, encodeAuthentication(AUTH.Ok)], done: true };
  }

  #denied(): FrontendAuthStep {
    return this.#fail('28P01', `password authentication failed for user "${this.#user}"`);
  }

  #malformed(detail: string): FrontendAuthStep {
    return this.#fail('08P01', 'malformed SCRAM message', detail);
  }

  #fail(sqlstate: string, message: string, detail?: string): FrontendAuthStep {
    this.#state = 'failed';
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
