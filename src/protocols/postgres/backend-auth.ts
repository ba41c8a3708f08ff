/**
 * PostgreSQL authentication, client side: {@link BackendAuth} plays the client toward the real server with the
 * proxy's own credentials (cleartext, MD5, SCRAM-SHA-256 without channel binding, verifying the server signature)
 * and collects what the server says up to the first ReadyForQuery. Pure and I/O-free: it takes complete messages
 * (a `PgMessageReader` cuts a byte stream into them) and returns the messages to write; malformed input yields
 * an error step, never an exception.
 */
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { AUTH, cstr, int32, md5PasswordResponse, splitMessage } from './auth-messages.js';
import { BE, FE, MAX_STARTUP_LENGTH, PROTOCOL_3_0, encodeMessage, parseErrorFields, readCString, readyForQueryStatus, typeName } from './messages.js';
import { SCRAM_MECHANISM, SCRAM_PLUS_MECHANISM, bytesEqual, escapeSaslName, isBase64, isScramPrintable, parseScramAttributes, scramClientFinal, scramNonce } from './scram.js';

/** Most SCRAM iterations {@link BackendAuth} computes by default (pbkdf2 is synchronous; node-postgres' limit). */
export const DEFAULT_MAX_SCRAM_ITERATIONS = 100_000;


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
  readonly #config: BackendAuthConfig;
  readonly #makeNonce: () => string;
  readonly #maxIterations: number;
  #phase: BackPhase = 'auth';
  #sasl: ScramClientState | undefined;
  readonly #parameters = new Map<string, string>();
  readonly #parameterMessages: Buffer[] = [];
  #backendKey: { pid: number; secret: Buffer } | undefined;
  #failure: SwitchyardError | undefined;

  constructor(config: BackendAuthConfig, options: BackendAuthOptions = {}) {
    this.#config = config;
    this.#makeNonce = options.nonce ?? scramNonce;
    this.#maxIterations = options.maxIterations ?? DEFAULT_MAX_SCRAM_ITERATIONS;
  }

  /** The StartupMessage to send first (protocol 3.0). Throws SWY_CONFIG_INVALID for NUL bytes or an oversized packet. */
  startup(): Buffer {
    const pairs: Array<[string, string]> = [
      ['user', this.#config.user],
      ['database', this.#config.database],
    ];
    for (const [k, v] of Object.entries(this.#config.parameters ?? {})) {
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
    if (this.#phase === 'failed') return { send: [], error: this.#failure! };
    if (this.#phase === 'ready') return this.#protocolError('unexpected message after ReadyForQuery: authentication is already finished');
    const msg = splitMessage(message);
    if (!msg) return this.#malformed(`message length field does not match its ${message.length} bytes`);
    const { type, payload } = msg;
    switch (type) {
      case BE.ErrorResponse:
        return this.#serverError(payload);
      case BE.NoticeResponse:
        return { send: [] };
      case BE.Authentication:
        if (this.#phase !== 'auth') return this.#protocolError('server sent an authentication request after AuthenticationOk');
        return this.#authentication(payload);
      case BE.NegotiateProtocolVersion:
        // Only sent before authentication when the server lacks a requested minor version or _pq_ option: we ask
        // for neither, so whatever it says changes nothing for protocol 3.0.
        if (this.#phase !== 'auth') return this.#protocolError('server sent NegotiateProtocolVersion after AuthenticationOk');
        return { send: [] };
      case BE.ParameterStatus:
      case BE.BackendKeyData:
      case BE.ReadyForQuery:
        if (this.#phase !== 'params') return this.#protocolError(`server sent ${typeName(type, 'server')} before AuthenticationOk`);
        return this.#afterOk(type, payload, message);
      default:
        return this.#protocolError(`unexpected ${typeName(type, 'server')} during authentication`);
    }
  }

  #authentication(payload: Buffer): BackendAuthStep {
    if (payload.length < 4) return this.#malformed('Authentication message shorter than its 4-byte code');
    const code = payload.readInt32BE(0);
    const rest = payload.subarray(4);
    if (this.#sasl && code !== AUTH.SASLContinue && code !== AUTH.SASLFinal && code !== AUTH.Ok) {
      return this.#protocolError(`server sent authentication request ${code} in the middle of a SASL exchange`);
    }
    switch (code) {
      case AUTH.Ok:
        if (this.#sasl && this.#sasl.stage !== 'ok') {
          return this.#protocolError('server sent AuthenticationOk before completing the SCRAM exchange (no verified server signature)');
        }
        this.#phase = 'params';
        return { send: [] };
      case AUTH.CleartextPassword: {
        const password = this.#requirePassword('cleartext password');
        if (typeof password !== 'string') return password;
        return { send: [encodeMessage(FE.Password, cstr(password))] };
      }
      case AUTH.MD5Password: {
        if (rest.length !== 4) return this.#malformed(`AuthenticationMD5Password carries ${rest.length} salt bytes, expected 4`);
        const password = this.#requirePassword('MD5 password');
        if (typeof password !== 'string') return password;
        return { send: [encodeMessage(FE.Password, cstr(md5PasswordResponse(this.#config.user, password, rest)))] };
      }
      case AUTH.SASL:
        return this.#saslStart(rest);
      case AUTH.SASLContinue:
        if (this.#sasl?.stage !== 'continue') return this.#protocolError('server sent AuthenticationSASLContinue out of order');
        return this.#saslContinue(rest);
      case AUTH.SASLFinal:
        if (this.#sasl?.stage !== 'final') return this.#protocolError('server sent AuthenticationSASLFinal out of order');
        return this.#saslFinal(rest);
      default: {
        const name = AUTH_NAMES[code];
        return this.#fail(
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

  #saslStart(rest: Buffer): BackendAuthStep {
    if (this.#sasl) return this.#protocolError('server started a second SASL exchange');
    const mechanisms: string[] = [];
    let off = 0;
    for (;;) {
      const m = readCString(rest, off);
      if (!m) return this.#malformed('AuthenticationSASL mechanism list is not terminated');
      if (m.value === '') break;
      mechanisms.push(m.value);
      off = m.next;
    }
    if (!mechanisms.includes(SCRAM_MECHANISM)) {
      const only = mechanisms.includes(SCRAM_PLUS_MECHANISM);
      return this.#fail(
        new SwitchyardError(
          ErrorCodes.UPSTREAM_ERROR,
          only
            ? `postgres server offers only ${SCRAM_PLUS_MECHANISM} (channel binding), which switchyard does not support`
            : `postgres server offers no supported SASL mechanism (offered: ${mechanisms.join(', ') || 'none'}; supported: ${SCRAM_MECHANISM})`,
          { details: { reason: 'unsupported-auth-method', mechanisms } },
        ),
      );
    }
    const password = this.#requirePassword(SCRAM_MECHANISM);
    if (typeof password !== 'string') return password;
    const clientNonce = this.#makeNonce();
    if (!isScramPrintable(clientNonce)) {
      return this.#fail(new SwitchyardError(ErrorCodes.INTERNAL, 'SCRAM client nonce must be printable ASCII without commas', { details: { reason: 'bad-nonce' } }));
    }
    const clientFirstBare = `n=${escapeSaslName(this.#config.user)},r=${clientNonce}`;
    const data = Buffer.from(`n,,${clientFirstBare}`, 'utf8');
    this.#sasl = { stage: 'continue', clientNonce, clientFirstBare };
    return { send: [encodeMessage(FE.Password, Buffer.concat([cstr(SCRAM_MECHANISM), int32(data.length), data]))] };
  }

  #saslContinue(rest: Buffer): BackendAuthStep {
    const s = this.#sasl!;
    const serverFirst = rest.toString('utf8');
    const attrs = parseScramAttributes(serverFirst);
    if (attrs?.[0]?.[0] === 'm') return this.#scramError('server-first-message requires an unsupported SCRAM extension');
    if (!attrs || attrs.length < 3 || attrs[0]![0] !== 'r' || attrs[1]![0] !== 's' || attrs[2]![0] !== 'i') {
      return this.#scramError('malformed server-first-message (expected "r=<nonce>,s=<salt>,i=<iterations>")');
    }
    const nonce = attrs[0]![1];
    if (!isScramPrintable(nonce) || !nonce.startsWith(s.clientNonce) || nonce.length === s.clientNonce.length) {
      return this.#scramError('server nonce does not extend the client nonce');
    }
    const saltText = attrs[1]![1];
    if (saltText === '' || !isBase64(saltText)) return this.#scramError('server-first-message carries an invalid salt');
    const iterText = attrs[2]![1];
    const iterations = /^[1-9][0-9]{0,9}$/.test(iterText) ? Number(iterText) : NaN;
    if (!Number.isSafeInteger(iterations)) return this.#scramError(`server-first-message carries an invalid iteration count "${iterText}"`);
    if (iterations > this.#maxIterations) return this.#scramError(`SCRAM iteration count ${iterations} exceeds the limit ${this.#maxIterations}`);
    const final = scramClientFinal({
      password: this.#config.password!,
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

  #saslFinal(rest: Buffer): BackendAuthStep {
    const s = this.#sasl!;
    const attrs = parseScramAttributes(rest.toString('utf8'));
    if (attrs?.[0]?.[0] === 'e') return this.#scramError(`server rejected the SCRAM exchange: ${attrs[0][1]}`);
    if (!attrs || attrs[0]?.[0] !== 'v') return this.#scramError('malformed server-final-message (expected "v=<signature>")');
    const text = attrs[0][1];
    const signature = isBase64(text) ? Buffer.from(text, 'base64') : Buffer.alloc(0);
    if (!bytesEqual(signature, s.serverSignature!)) {
      return this.#fail(
        new SwitchyardError(ErrorCodes.UPSTREAM_ERROR, 'postgres server sent a wrong SCRAM server signature: it does not know the password', {
          details: { reason: 'scram-server-signature' },
        }),
      );
    }
    s.stage = 'ok';
    return { send: [] };
  }

  #afterOk(type: number, payload: Buffer, message: Buffer): BackendAuthStep {
    if (type === BE.ParameterStatus) {
      const name = readCString(payload, 0);
      const value = name && readCString(payload, name.next);
      if (!name || !value || value.next !== payload.length) return this.#malformed('malformed ParameterStatus');
      this.#parameters.set(name.value, value.value);
      this.#parameterMessages.push(message);
      return { send: [] };
    }
    if (type === BE.BackendKeyData) {
      // Protocol 3.0: 4-byte secret; 3.2 allows up to 256 bytes.
      if (payload.length < 8 || payload.length > 4 + 256) return this.#malformed(`BackendKeyData payload of ${payload.length} bytes`);
      this.#backendKey = { pid: payload.readInt32BE(0), secret: Buffer.from(payload.subarray(4)) };
      return { send: [] };
    }
    const status = readyForQueryStatus(payload);
    if (!status) return this.#malformed('malformed ReadyForQuery');
    this.#phase = 'ready';
    return {
      send: [],
      ready: { parameters: this.#parameters, parameterMessages: this.#parameterMessages, backendKey: this.#backendKey, txStatus: status },
    };
  }

  #requirePassword(what: string): string | BackendAuthStep {
    if (this.#config.password !== undefined) return this.#config.password;
    return this.#fail(
      new SwitchyardError(ErrorCodes.UPSTREAM_ERROR, `postgres server requested ${what} authentication for user "${this.#config.user}", but no password is configured`, {
        details: { reason: 'password-required', user: this.#config.user },
      }),
    );
  }

  #serverError(payload: Buffer): BackendAuthStep {
    const fields = parseErrorFields(payload);
    const sqlstate = fields['C'];
    const message = fields['M'] ?? 'unknown error';
    return this.#fail(
      new SwitchyardError(ErrorCodes.UPSTREAM_ERROR, `postgres server: ${message}${sqlstate ? ` (SQLSTATE ${sqlstate})` : ''}`, {
        details: { reason: 'server-error', sqlstate, severity: fields['V'] ?? fields['S'], message, fields },
      }),
    );
  }

  #scramError(message: string): BackendAuthStep {
    return this.#fail(new SwitchyardError(ErrorCodes.UPSTREAM_ERROR, `postgres SCRAM: ${message}`, { details: { reason: 'scram-protocol' } }));
  }

  #protocolError(message: string): BackendAuthStep {
    return this.#fail(new SwitchyardError(ErrorCodes.UPSTREAM_ERROR, `postgres: ${message}`, { details: { reason: 'protocol-violation' } }));
  }

  #malformed(message: string): BackendAuthStep {
    return this.#fail(new SwitchyardError(ErrorCodes.FRAME_MALFORMED, `postgres: ${message}`, { details: { reason: 'malformed-message' } }));
  }

  #fail(error: SwitchyardError): BackendAuthStep {
    if (this.#phase !== 'failed') {
      this.#phase = 'failed';
      this.#failure = error;
    }
    return { send: [], error: this.#failure! };
  }
}
