/**
 * Edge authentication of WAMP clients (Crossbar's rules): anonymous with a configured role, ticket (static
 * principals or a dynamic authenticator module) and WAMP-CRA (salted or not). Each method either accepts with a
 * principal, challenges, or denies with an ABORT reason and message.
 */
import { createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { WampAuthConfig, WampTicketAuthenticator } from '../config/types.js';
import { type Dict, URI } from './messages.js';

export interface Principal {
  authid: string;
  authrole: string;
  authmethod: string;
  authprovider: string;
  authextra?: Dict | undefined;
}

export type AuthOutcome =
  | { kind: 'accept'; principal: Principal }
  | { kind: 'challenge'; method: string; extra: Dict; pending: PendingAuth }
  | { kind: 'deny'; reason: string; message: string };

export interface PendingAuth {
  authenticate(signature: unknown, extra: Dict): Promise<AuthOutcome> | AuthOutcome;
}

/** Auth methods WAMP peers may announce (Crossbar's list); anything else is refused by name. */
export const KNOWN_AUTHMETHODS: readonly string[] = ['anonymous', 'ticket', 'wampcra', 'cryptosign', 'scram', 'tls', 'cookie', 'anonymous-proxy', 'cryptosign-proxy'];

/** What the proxy knows of the client when it authenticates. */
export interface HelloInfo {
  realm: string;
  authid: string | undefined;
  authrole: string | undefined;
  authextra: Dict | undefined;
  sessionId: number;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function randomAuthid(): string {
  const s = randomBytes(6).toString('base64').replace(/[+/=]/g, '').toUpperCase();
  return `${s.slice(0, 4)}-${s.slice(4, 8)}`;
}

/** The WAMP-CRA key: the secret, or base64(PBKDF2-SHA256(secret, salt, iterations, keylen)) when salted. */
export function wampcraKey(secret: string, salt?: string, iterations = 1000, keylen = 32): string {
  if (salt === undefined) return secret;
  return pbkdf2Sync(secret, salt, iterations, keylen, 'sha256').toString('base64');
}

/** base64(HMAC-SHA256(key, challenge)). */
export function wampcraSign(key: string, challenge: string): string {
  return createHmac('sha256', key).update(challenge).digest('base64');
}

/** Dynamic ticket authenticators loaded from modules, by module path. */
export type AuthenticatorLoader = (module: string) => Promise<WampTicketAuthenticator>;

export class EdgeAuth {
  readonly #config: WampAuthConfig | undefined;
  readonly #loader: AuthenticatorLoader;

  constructor(config: WampAuthConfig | undefined, loader: AuthenticatorLoader) {
    this.#config = config;
    this.#loader = loader;
  }

  /** Try the client's methods in order (Crossbar's loop). */
  hello(methods: readonly string[], info: HelloInfo): AuthOutcome {
    const cfg = this.#config;
    if (cfg === undefined) {
      // No auth configured: anonymous under the role the client asked for (Crossbar's built-in policy).
      return { kind: 'accept', principal: { authid: info.authid ?? randomAuthid(), authrole: info.authrole ?? 'anonymous', authmethod: 'anonymous', authprovider: 'static' } };
    }
    for (const m of methods) {
      if (!KNOWN_AUTHMETHODS.includes(m)) return { kind: 'deny', reason: URI.authenticationFailed, message: `authmethod "${m}" not allowed` };
      if (m === 'anonymous' && cfg.anonymous) {
        return { kind: 'accept', principal: { authid: cfg.anonymous.authid ?? randomAuthid(), authrole: cfg.anonymous.role, authmethod: 'anonymous', authprovider: 'static' } };
      }
      if (m === 'ticket' && cfg.ticket) return this.#ticket(info);
      if (m === 'wampcra' && cfg.wampcra) return this.#wampcra(info);
    }
    return { kind: 'deny', reason: URI.noAuthMethod, message: 'no suitable authmethod found' };
  }

  #ticket(info: HelloInfo): AuthOutcome {
    const t = this.#config!.ticket!;
    const authid = info.authid;
    if (t.type === 'static') {
      const p = authid === undefined ? undefined : t.principals[authid];
      if (authid === undefined || !p) return { kind: 'deny', reason: 'wamp.error.no_such_principal', message: `no principal with authid "${authid ?? ''}" exists` };
      return {
        kind: 'challenge',
        method: 'ticket',
        extra: {},
        pending: {
          authenticate: (sig) =>
            typeof sig === 'string' && sameText(sig, p.ticket)
              ? { kind: 'accept', principal: { authid, authrole: p.role, authmethod: 'ticket', authprovider: 'static' } }
              : { kind: 'deny', reason: URI.authenticationFailed, message: 'ticket in static WAMP-Ticket authentication is invalid' },
        },
      };
    }
    const module = t.authenticator;
    return {
      kind: 'challenge',
      method: 'ticket',
      extra: {},
      pending: {
        authenticate: async (sig) => {
          try {
            const fn = await this.#loader(module);
            const r = await fn({ realm: info.realm, authid: authid ?? '', ticket: typeof sig === 'string' ? sig : '', authextra: info.authextra ?? {} });
            if (typeof r === 'string') return { kind: 'accept', principal: { authid: authid ?? randomAuthid(), authrole: r, authmethod: 'ticket', authprovider: 'dynamic' } };
            if (r && typeof r === 'object' && typeof r.role === 'string') {
              return { kind: 'accept', principal: { authid: r.authid ?? authid ?? randomAuthid(), authrole: r.role, authmethod: 'ticket', authprovider: 'dynamic', authextra: r.extra } };
            }
            return { kind: 'deny', reason: URI.authenticationFailed, message: 'dynamic authenticator denied the ticket' };
          } catch (err) {
            const e = err as { reason?: unknown; message?: unknown };
            const reason = typeof e.reason === 'string' && e.reason.startsWith('wamp.') ? e.reason : URI.authenticationFailed;
            return { kind: 'deny', reason, message: typeof e.message === 'string' ? e.message : String(err) };
          }
        },
      },
    };
  }

  #wampcra(info: HelloInfo): AuthOutcome {
    const c = this.#config!.wampcra!;
    const authid = info.authid;
    const user = authid === undefined ? undefined : c.users[authid];
    if (authid === undefined || !user) return { kind: 'deny', reason: 'wamp.error.no_such_principal', message: `no principal with authid "${authid ?? ''}" exists` };
    const challenge = JSON.stringify({
      authid,
      authrole: user.role,
      authmethod: 'wampcra',
      authprovider: 'static',
      session: info.sessionId,
      nonce: randomBytes(16).toString('base64'),
      timestamp: new Date().toISOString(),
    });
    const extra: Dict = { challenge };
    if (user.salt !== undefined) {
      extra['salt'] = user.salt;
      extra['iterations'] = user.iterations;
      extra['keylen'] = user.keylen;
    }
    const expected = wampcraSign(wampcraKey(user.secret, user.salt, user.iterations, user.keylen), challenge);
    return {
      kind: 'challenge',
      method: 'wampcra',
      extra,
      pending: {
        authenticate: (sig) =>
          typeof sig === 'string' && sameText(sig, expected)
            ? { kind: 'accept', principal: { authid, authrole: user.role, authmethod: 'wampcra', authprovider: 'static' } }
            : { kind: 'deny', reason: URI.authenticationFailed, message: 'WAMP-CRA signature is invalid' },
      },
    };
  }
}
