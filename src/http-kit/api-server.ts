/**
 * An HTTP API server: one route table, one dispatch, one error path. The server it serves (admin, Toxiproxy,
 * Vaurien) gives its routes, its body and JSON rules, how it reads a path into segments, and how it answers a
 * missing route, a wrong method and an error (its wire format); the status of an error comes from
 * {@link errorStatus}, its extra headers from {@link errorHeaders}.
 */
import http from 'node:http';
import { formatAddress, toListenOptions, type Address } from '../core/address.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { exposureProblem } from '../core/exposure.js';
import type { Logger } from '../core/log.js';
import { AccessGuard, type AccessNames, type AccessPolicy, type BodyTypes } from './access.js';
import type { BodyRules } from './body.js';
import { RequestContext } from './context.js';
import { errorHeaders, errorStatus } from './http-error.js';
import { sendReply, type JsonStyle, type Reply } from './reply.js';
import type { RouteTable } from './route-table.js';

/** A route's handler; it answers through the context (or throws). */
export type Handler = (ctx: RequestContext) => unknown;

export interface ApiServerOptions {
  /** The API's name in log lines (`admin API`, `Toxiproxy API`, `chaos control API`). */
  readonly name: string;
  /** Where refusals and mutations are logged. */
  readonly logger: Logger;
  /** Host/Origin/content-type refusals and the token, checked before `before` and before any body is read. */
  readonly access: AccessPolicy;
  /** The settings refusals name. */
  readonly accessNames: AccessNames;
  readonly routes: RouteTable<Handler>;
  readonly body: BodyRules;
  readonly json: JsonStyle;
  /** Body content types a request may carry besides JSON (undefined: JSON only), by request. */
  bodyTypes?(ctx: RequestContext): BodyTypes | undefined;
  /** Requests answered without the token (files that hold nothing secret); the Host/Origin checks still apply. */
  publicRequest?(ctx: RequestContext): boolean;
  /** Runs before routing (authentication, request ids, refusals); returns true when it answered the request. */
  before?(ctx: RequestContext): boolean;
  /** The path's segments to route on; undefined = no route can match. May throw (e.g. bad percent-encoding). */
  segments(ctx: RequestContext): readonly string[] | undefined;
  /** No route has this path: answer or throw. */
  notFound(ctx: RequestContext): void;
  /** A route has this path but not this method: answer or throw. */
  notAllowed(ctx: RequestContext, allow: readonly string[]): void;
  /** The answer to a thrown error (log it here if it deserves it); `status` is the kit's mapping of it. */
  errorReply(err: unknown, status: number, ctx: RequestContext): Reply;
}

export class ApiServer {
  readonly #opts: ApiServerOptions;
  readonly #server: http.Server;
  readonly #guard: AccessGuard;
  #bound: Address | undefined;

  constructor(options: ApiServerOptions) {
    this.#opts = options;
    this.#guard = new AccessGuard(options.access, options.accessNames);
    this.#server = http.createServer((req, res) => void this.#serve(new RequestContext(req, res, options.body, options.json)));
    this.#server.keepAliveTimeout = 5000;
  }

  /** Where it listens once started (a TCP port 0 resolved). */
  get address(): Address | undefined {
    return this.#bound;
  }

  /** Base URL, e.g. http://127.0.0.1:9901 ('' before start or on a Unix socket). */
  get url(): string {
    const a = this.#bound;
    return a && a.kind === 'tcp' ? `http://${formatAddress(a)}` : '';
  }

  /**
   * Listen on `address`. Refuses (before binding) a non-loopback TCP address without a token unless the policy is
   * marked insecure.
   */
  async listen(address: Address): Promise<Address> {
    const { access } = this.#opts;
    const problem = exposureProblem(address, access, access.fix ?? 'Set a token, or mark the API insecure');
    if (problem !== undefined) throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `${access.setting ?? this.#opts.name}: ${problem}`);
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(toListenOptions(address), () => {
        this.#server.removeListener('error', reject);
        resolve();
      });
    });
    const a = this.#server.address();
    this.#bound = a === null || typeof a === 'string' ? address : { kind: 'tcp', host: a.address, port: a.port };
    this.#guard.bind(this.#bound);
    return this.#bound;
  }

  /** Stop listening and close every connection (idle keep-alive ones included). */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #serve(ctx: RequestContext): Promise<void> {
    const opts = this.#opts;
    this.#logMutation(ctx);
    try {
      if (opts.before?.(ctx)) return;
      const cors = this.#guard.checkSite(ctx.req);
      if (cors !== undefined && this.#answerCors(ctx, cors)) return;
      this.#guard.checkRequest(ctx.req, opts.bodyTypes?.(ctx), { token: !(opts.publicRequest?.(ctx) ?? false) });
      const segments = opts.segments(ctx);
      const match = segments ? opts.routes.match(ctx.method, segments) : undefined;
      if (!match || match.kind === 'not-found') return opts.notFound(ctx);
      if (match.kind === 'not-allowed') return opts.notAllowed(ctx, match.allow);
      ctx.params = match.params;
      await match.handler(ctx);
    } catch (err) {
      const reply = opts.errorReply(err, errorStatus(err), ctx);
      if (ctx.res.headersSent) {
        ctx.res.destroy();
        return;
      }
      sendReply(ctx.res, { ...reply, headers: { ...reply.headers, ...errorHeaders(err) } });
    }
  }

  /**
   * A page of an `allowedOrigins` origin: its answers carry `Access-Control-Allow-Origin`, and its preflight
   * (OPTIONS with Access-Control-Request-Method, sent without credentials) is answered here, before the token
   * check. Returns true when it answered.
   */
  #answerCors(ctx: RequestContext, origin: string): boolean {
    const res = ctx.res;
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('vary', 'Origin');
    if (ctx.method !== 'OPTIONS' || ctx.req.headers['access-control-request-method'] === undefined) return false;
    res.writeHead(204, {
      'access-control-allow-methods': 'GET, HEAD, POST, PUT, PATCH, DELETE',
      'access-control-allow-headers': 'authorization, content-type',
      'access-control-max-age': '600',
    });
    res.end();
    return true;
  }

  /** Every request that may change something (not GET/HEAD/OPTIONS), and every refused one, is logged with its remote address. */
  #logMutation(ctx: RequestContext): void {
    const { req, res } = ctx;
    const mutation = !['GET', 'HEAD', 'OPTIONS'].includes(ctx.method);
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    res.once('finish', () => {
      const refused = res.statusCode === 401 || res.statusCode === 403 || res.statusCode === 415;
      if (!mutation && !refused) return;
      const line = { api: this.#opts.name, remote, method: ctx.method, path: req.url, status: res.statusCode };
      if (refused) this.#opts.logger.warn(line, `${this.#opts.name}: request refused`);
      else this.#opts.logger.info(line, `${this.#opts.name}: ${ctx.method} ${ctx.url.pathname}`);
    });
  }
}
