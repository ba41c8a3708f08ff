/**
 * Vaurien's HTTP control API (mozilla-services/vaurien `webserver.py`) in front of a chaos listener, so
 * vaurienclient / vaurienctl work unchanged: `GET|PUT /behavior`, `GET /behaviors`, `GET|PUT /backend`. Bodies and
 * error shapes follow Vaurien (cornice's `{"status":"error","errors":[{location,name,description}]}`); the
 * differences are listed in docs/chaos-cli.md.
 */
import type { ClusterConfig } from '../config/types.js';
import { ErrorCodes } from '../core/errors.js';
import type { Switchyard } from '../runtime/switchyard.js';
import type { Logger } from '../core/log.js';
import { formatAddress, parseAddress, type Address } from '../core/address.js';
import type { AccessPolicy } from '../http-kit/access.js';
import { ApiServer, type Handler } from '../http-kit/api-server.js';
import type { BodyRules } from '../http-kit/body.js';
import type { RequestContext } from '../http-kit/context.js';
import { HttpError, errorMessage } from '../http-kit/http-error.js';
import { jsonReply, type JsonStyle, type Reply } from '../http-kit/reply.js';
import { RouteTable } from '../http-kit/route-table.js';
import { BehaviorError, type VaurienBehaviors } from './vaurien-behaviors.js';

/** The chaos control API: where it listens, what it steers, and how it is protected (docs/security.md). */
export interface VaurienApiOptions extends Pick<AccessPolicy, 'token' | 'allowedHosts' | 'allowedOrigins' | 'insecure'> {
  listen: Address;
  behaviors: VaurienBehaviors;
  /** The route whose cluster `PUT /backend` replaces. */
  routeId: string;
  logger?: Logger | undefined;
}

/** The chaos command's flags, named by refusals. */
const SETTING = 'chaos --http';
const FIX = 'Give --http-token-file FILE (or the environment variable SWITCHYARD_CHAOS_TOKEN), or --http-insecure to allow it';

/** One entry of a cornice error body. */
interface ApiError {
  location: string;
  name: string;
  description: string;
}

const JSON_STYLE: JsonStyle = { contentType: 'application/json; charset=UTF-8' };

/** A cornice-shaped error: `{"status":"error","errors":[{location, name, description}]}` (the message is the description). */
function apiError(status: number, location: string, name: string, description: string): HttpError {
  return new HttpError(status, ErrorCodes.BAD_REQUEST, description, { details: { location, name } });
}

const BODY_RULES: BodyRules = {
  maxBytes: 1024 * 1024,
  tooLarge: (max) => apiError(413, 'body', '', `body larger than ${max} bytes`),
  empty: () => ({}),
  invalid: (message) => apiError(400, 'body', '', `invalid JSON: ${message}`),
};

/** The control API server. */
export class VaurienApi {
  readonly yard: Switchyard;
  readonly behaviors: VaurienBehaviors;
  readonly #routeId: string;
  readonly #logger: Logger;
  readonly #api: ApiServer;
  #clusters = 0;
  /** PUT /backend calls run one at a time. */
  #backendChain: Promise<unknown> = Promise.resolve();

  constructor(yard: Switchyard, options: VaurienApiOptions) {
    this.yard = yard;
    this.behaviors = options.behaviors;
    this.#routeId = options.routeId;
    this.#logger = options.logger ?? yard.logger;
    this.#api = new ApiServer({
      name: 'chaos control API',
      logger: this.#logger,
      access: { token: options.token, allowedHosts: options.allowedHosts, allowedOrigins: options.allowedOrigins, insecure: options.insecure, setting: SETTING, fix: FIX },
      accessNames: { allowedHosts: '--http-allowed-host', allowedOrigins: '--http-allowed-origin' },
      // HEAD is answered like GET without being listed in `Allow`. POST is not PUT: Vaurien documents PUT only, and a
      // POST is what a cross-site form can send.
      routes: new RouteTable<Handler>(
        [
          ['GET', '/behavior', (c) => c.send(200, { behavior: this.behaviors.spec })],
          ['PUT', '/behavior', (c) => this.#putBehavior(c)],
          ['GET', '/behaviors', (c) => c.send(200, { behaviors: [...this.behaviors.names] })],
          ['GET', '/backend', (c) => c.send(200, { backend: this.backend })],
          ['PUT', '/backend', (c) => this.#putBackend(c)],
        ],
        { aliases: { HEAD: 'GET' } },
      ),
      body: BODY_RULES,
      json: JSON_STYLE,
      segments: (ctx) => pathOf(ctx).slice(1).split('/'),
      notFound: (ctx) => {
        throw apiError(404, 'url', 'path', `no route for ${ctx.method} ${pathOf(ctx)} (routes: /behavior, /behaviors, /backend)`);
      },
      notAllowed: (ctx, allow) => {
        throw new HttpError(405, ErrorCodes.BAD_REQUEST, `method not allowed (allowed: ${allow.join(', ')})`, {
          headers: { allow: allow.join(', ') },
          details: { location: 'method', name: ctx.method },
        });
      },
      errorReply: (err, status) => this.#errorReply(err, status),
    });
  }

  static async start(yard: Switchyard, options: VaurienApiOptions): Promise<VaurienApi> {
    const api = new VaurienApi(yard, options);
    await api.#api.listen(options.listen);
    return api;
  }

  get address(): Address | undefined {
    return this.#api.address;
  }

  /** e.g. http://127.0.0.1:8080 */
  get url(): string {
    return this.#api.url;
  }

  close(): Promise<void> {
    return this.#api.close();
  }

  /** The backend new connections go to (`host:port`). */
  get backend(): string {
    const route = this.yard.routes.get(this.#routeId);
    const cluster = route ? this.yard.clusters.get(route.config.cluster ?? '') : undefined;
    const e = cluster?.config.endpoints[0];
    return e ? formatAddress(e.address) : '';
  }

  /**
   * Point new connections at another backend: a new cluster, the route swapped over to it (synchronously, so no
   * connection finds the listener without a route), the old cluster removed. Live connections keep their backend.
   */
  setBackend(text: string): Promise<void> {
    const run = async (): Promise<void> => {
      const address = parseAddress(text, { role: 'connect' });
      const route = this.yard.routes.get(this.#routeId);
      if (!route) throw new Error(`route '${this.#routeId}' is gone`);
      const oldId = route.config.cluster ?? '';
      const old = this.yard.clusters.get(oldId);
      let id: string;
      do id = `backend-${++this.#clusters}`;
      while (this.yard.clusters.has(id));
      const config: ClusterConfig = { ...(old?.config ?? ({} as ClusterConfig)), id, endpoints: [{ address, weight: 1 }] };
      await this.yard.addCluster(config);
      const removed = this.yard.removeRoute(this.#routeId);
      const added = this.yard.addRoute({ ...route.config, cluster: id });
      await Promise.all([removed, added]);
      if (old) await this.yard.removeCluster(oldId);
      this.#logger.info({ backend: formatAddress(address) }, 'vaurien api: backend changed');
    };
    const p = this.#backendChain.then(run, run);
    this.#backendChain = p.catch(() => undefined);
    return p;
  }

  async #putBehavior(ctx: RequestContext): Promise<void> {
    const { name, ...options } = await objectBody(ctx);
    if (name === undefined || name === null || name === '') throw apiError(400, 'body', 'name', 'name is missing');
    if (typeof name !== 'string') throw apiError(400, 'body', 'name', `name must be a string, got ${JSON.stringify(name)}`);
    const names = this.behaviors.names;
    if (!name.includes(':') && !name.includes(',') && !names.includes(name.trim())) {
      throw apiError(400, 'body', 'name', `the '${name}' behavior does not exist`);
    }
    try {
      this.behaviors.set(name, options);
    } catch (err) {
      if (err instanceof BehaviorError) throw apiError(400, 'body', err.field, err.message);
      throw err;
    }
    this.#logger.info({ behavior: this.behaviors.spec, options }, 'vaurien api: behavior changed');
    ctx.send(200, { status: 'ok' });
  }

  async #putBackend(ctx: RequestContext): Promise<void> {
    const backend = (await objectBody(ctx))['backend'];
    if (typeof backend !== 'string' || backend === '') throw apiError(400, 'body', 'backend', 'backend is missing: expected "host:port"');
    try {
      parseAddress(backend, { role: 'connect' });
    } catch (err) {
      throw apiError(400, 'body', 'backend', (err as Error).message);
    }
    await this.setBackend(backend);
    ctx.send(200, { status: 'ok' });
  }

  /** Cornice's error body; an error that is not an answer of ours is logged and described as a `body` error. */
  #errorReply(err: unknown, status: number): Reply {
    if (!(err instanceof HttpError)) this.#logger.warn({ err }, 'vaurien api: request failed');
    const details = err instanceof HttpError ? (err.details as Partial<ApiError> | undefined) : undefined;
    const error: ApiError = { location: details?.location ?? 'body', name: details?.name ?? '', description: errorMessage(err) };
    // Anything that is not one of the API's own answers is a 500, as before the HTTP kit (not the native API's mapping).
    return jsonReply(err instanceof HttpError ? status : 500, { status: 'error', errors: [error] }, JSON_STYLE);
  }
}

/** The path without trailing slashes (`/` for the root); not percent-decoded, as Vaurien's routes are plain words. */
function pathOf(ctx: RequestContext): string {
  return ctx.url.pathname.replace(/\/+$/, '') || '/';
}

/** The body as a JSON object (an empty body is `{}`). */
async function objectBody(ctx: RequestContext): Promise<Record<string, unknown>> {
  const body = await ctx.json();
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw apiError(400, 'body', '', 'expected a JSON object');
  return body as Record<string, unknown>;
}
