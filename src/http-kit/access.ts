/**
 * Who may call a control API: the cross-site refusals (Host, Origin, body content type) and the bearer token, all
 * checked from the request's headers before its body is read (docs/security.md). A refusal closes the connection,
 * so an unread body is never waited for.
 */
import os from 'node:os';
import { timingSafeEqual } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { ErrorCodes } from '../core/errors.js';
import type { Address } from '../core/address.js';
import { isLoopbackHost } from '../core/exposure.js';
import { HttpError } from './http-error.js';

/** How one control API is protected. */
export interface AccessPolicy {
  /** Bearer token required on every request when set. */
  readonly token?: string | undefined;
  /** Extra `Host` values accepted: `name` (any port), `name:port`, `[v6]:port`; `*` accepts any Host. */
  readonly allowedHosts?: readonly string[] | undefined;
  /** Extra `Origin` values accepted (`https://ui.example:8443`); `*` accepts any Origin. */
  readonly allowedOrigins?: readonly string[] | undefined;
  /** Start on a non-loopback address without a token (only the listen-time refusal is affected). */
  readonly insecure?: boolean | undefined;
  /** What the user set the address with, for the listen-time refusal (`admin.listen`, `--admin`, ...). */
  readonly setting?: string | undefined;
  /** The settings that take the token or the insecure mark, for the listen-time refusal. */
  readonly fix?: string | undefined;
}

/** Body content types a route admits besides JSON. */
export interface BodyTypes {
  readonly test: RegExp;
  /** How the refusal names every admitted type. */
  readonly expected: string;
}

/** The settings named in refusals, so a refused user knows what to change. */
export interface AccessNames {
  /** e.g. `admin.allowedHosts (--admin-allowed-host)`. */
  readonly allowedHosts: string;
  readonly allowedOrigins: string;
}

/** A 403/401/415 that closes the connection (the body, if any, is never read). */
function refusal(status: number, code: (typeof ErrorCodes)[keyof typeof ErrorCodes], message: string, headers: Record<string, string> = {}): HttpError {
  return new HttpError(status, code, message, { headers: { ...headers, connection: 'close' } });
}

/** The host names a request may carry in `Host` for a server bound to `bound`. */
function boundNames(bound: Address): Set<string> {
  const names = new Set<string>();
  if (bound.kind !== 'tcp') return names;
  const host = bound.host.toLowerCase();
  const wildcard = host === '0.0.0.0' || host === '::' || host === '0:0:0:0:0:0:0:0';
  names.add(host);
  if (wildcard || isLoopbackHost(host)) for (const n of ['localhost', '127.0.0.1', '::1']) names.add(n);
  if (wildcard) {
    names.add(os.hostname().toLowerCase());
    for (const list of Object.values(os.networkInterfaces())) {
      for (const i of list ?? []) names.add(i.address.toLowerCase().replace(/%.*$/, ''));
    }
  }
  return names;
}

/** `Host` split into a lower-case name (no brackets, no trailing dot) and a port (undefined when absent). */
export function splitHost(value: string): { name: string; port: number | undefined } | undefined {
  const v = value.trim().toLowerCase();
  const m = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/.exec(v) ?? /^([^:[\]]+)(?::(\d{1,5}))?$/.exec(v);
  if (!m) return undefined;
  const name = m[1]!.replace(/\.$/, '');
  if (m[0].startsWith('[') && !isIPv6(name)) return undefined;
  return { name, port: m[2] === undefined ? undefined : Number(m[2]) };
}

/** The header checks of one control API; `check` throws the refusal. */
export class AccessGuard {
  readonly #policy: AccessPolicy;
  readonly #names: AccessNames;
  #bound: Address | undefined;
  #hostNames = new Set<string>();

  constructor(policy: AccessPolicy, names: AccessNames) {
    this.#policy = policy;
    this.#names = names;
  }

  /** Called once the server listens: `Host` must name this address. */
  bind(bound: Address): void {
    this.#bound = bound;
    this.#hostNames = boundNames(bound);
  }

  /**
   * The site checks (Host, Origin): throws a 403 HttpError, or returns the origin to answer with CORS headers
   * (an `allowedOrigins` entry; undefined for same-origin and non-browser requests).
   */
  checkSite(req: IncomingMessage): string | undefined {
    const host = req.headers.host;
    if (host !== undefined && !this.#hostAllowed(host)) {
      throw refusal(403, ErrorCodes.FORBIDDEN, `Host ${JSON.stringify(host)} is not this API's address; if you reach it under that name, add it to ${this.#names.allowedHosts}`);
    }
    const origin = req.headers.origin;
    if (origin === undefined) return undefined;
    if (this.#listedOrigin(origin)) return origin;
    if (!this.#sameOrigin(origin, host)) {
      throw refusal(403, ErrorCodes.FORBIDDEN, `cross-origin request from ${JSON.stringify(origin)} refused; if that page may call this API, add its origin to ${this.#names.allowedOrigins}`);
    }
    return undefined;
  }

  /**
   * The request checks (token, body content type): throws a 401 or 415 HttpError. `other` admits more body types
   * (a route whose method is never sent cross-site without a preflight, e.g. PUT with YAML): `test` sees the
   * content type ('' when absent) and `expected` names them in the refusal. `token: false` skips the token check
   * (files that hold nothing secret, such as the admin API's dashboard page).
   */
  checkRequest(req: IncomingMessage, other?: BodyTypes, options: { token?: boolean } = {}): void {
    if (options.token !== false) this.#checkToken(req);
    if (hasBody(req)) {
      const type = req.headers['content-type'] ?? '';
      if (!/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(type) && !(other?.test.test(type) ?? false)) {
        throw refusal(415, ErrorCodes.BAD_REQUEST, `expected content-type ${other?.expected ?? 'application/json'}, got ${type === '' ? 'none' : type}`);
      }
    }
  }

  #hostAllowed(value: string): boolean {
    const bound = this.#bound;
    if (!bound || bound.kind !== 'tcp') return true;
    const allowed = this.#policy.allowedHosts ?? [];
    if (allowed.includes('*')) return true;
    const h = splitHost(value);
    if (!h) return false;
    const port = h.port ?? 80;
    if (port === bound.port && this.#hostNames.has(h.name)) return true;
    for (const entry of allowed) {
      const a = splitHost(entry);
      if (a && a.name === h.name && (a.port === undefined || a.port === port)) return true;
    }
    return false;
  }

  /** An `allowedOrigins` entry (or `*`). */
  #listedOrigin(origin: string): boolean {
    const o = origin.trim().toLowerCase().replace(/\/$/, '');
    const allowed = (this.#policy.allowedOrigins ?? []).map((a) => a.trim().toLowerCase().replace(/\/$/, ''));
    return allowed.includes('*') || allowed.includes(o);
  }

  /** A page served from this very address (Host has passed its check); `null` never is. */
  #sameOrigin(origin: string, host: string | undefined): boolean {
    const o = origin.trim().toLowerCase().replace(/\/$/, '');
    if (host === undefined || o === 'null') return false;
    const h = splitHost(host);
    if (!h) return false;
    const self = `http://${h.name.includes(':') ? `[${h.name}]` : h.name}${h.port === undefined || h.port === 80 ? '' : `:${h.port}`}`;
    return o === self;
  }

  #checkToken(req: IncomingMessage): void {
    const token = this.#policy.token;
    if (token === undefined || token === '') return;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    const given = Buffer.from(m?.[1]?.trim() ?? '');
    const want = Buffer.from(token);
    if (given.length !== want.length || !timingSafeEqual(given, want)) {
      throw refusal(401, ErrorCodes.UNAUTHORIZED, m ? 'invalid bearer token' : 'missing bearer token (Authorization: Bearer <token>)', {
        'www-authenticate': 'Bearer realm="switchyard"',
      });
    }
  }
}

/** The request carries a body (a positive Content-Length, or chunked). */
function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && Number(length) > 0;
}
