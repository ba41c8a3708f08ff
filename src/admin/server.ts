import type { IncomingMessage } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Address } from '../core/address.js';
import { ErrorCodes, errorCode, type SwitchyardError } from '../core/errors.js';
import type { Switchyard } from '../runtime/switchyard.js';
import { ApiServer, type Handler } from '../http-kit/api-server.js';
import type { BodyRules } from '../http-kit/body.js';
import type { RequestContext } from '../http-kit/context.js';
import { HttpError, errorMessage } from '../http-kit/http-error.js';
import { jsonReply, type JsonStyle, type Reply } from '../http-kit/reply.js';
import { RouteTable } from '../http-kit/route-table.js';
import { health, metrics, objectRoutes } from './object-routes.js';
import { addFault, faultTypes, getFault, listFaults, protocols, removeFault, updateFault } from './fault-routes.js';
import { clearDivergences, divergence, divergences, events, noise, quarantine, restore, variants } from './replication-routes.js';

export interface AdminServerOptions {
  listen: Address;
  /** Bearer token required on every call when set. */
  token?: string | undefined;
}

const MAX_BODY = 1024 * 1024;

/** Pretty-printed, newline-terminated, UTF-8. */
const JSON_STYLE: JsonStyle = { contentType: 'application/json; charset=utf-8', indent: 2, newline: true };

const BODY_RULES: BodyRules = {
  maxBytes: MAX_BODY,
  tooLarge: (max) => new HttpError(413, ErrorCodes.BAD_REQUEST, `request body larger than ${max} bytes`),
  // `curl -d` sends application/x-www-form-urlencoded and fetch() with a string body text/plain: both carry the
  // JSON as is, so accept them; refuse only types that say the body is something else (YAML, multipart, ...).
  contentType: (type) => {
    if (type && !/^(application\/([\w.+-]+\+)?json|text\/plain|application\/x-www-form-urlencoded)\s*(;|$)/i.test(type)) {
      throw new HttpError(415, ErrorCodes.BAD_REQUEST, `expected content-type application/json, got ${type}`);
    }
  },
  empty: () => {
    throw new HttpError(400, ErrorCodes.BAD_REQUEST, 'request body is empty; expected a JSON object');
  },
  invalid: (message) => new HttpError(400, ErrorCodes.BAD_REQUEST, `request body is not valid JSON: ${message}`),
};

/**
 * The native admin API (REST + Prometheus). Every answer is JSON (but /metrics); errors are
 * `{"error": {"code", "message"}}` with a fitting status.
 */
export class AdminServer {
  readonly #yard: Switchyard;
  readonly #opts: AdminServerOptions;
  readonly #api: ApiServer;

  constructor(yard: Switchyard, options: AdminServerOptions) {
    this.#yard = yard;
    this.#opts = options;
    this.#api = new ApiServer({
      routes: this.#table(),
      body: BODY_RULES,
      json: JSON_STYLE,
      before: (ctx) => {
        this.#authorize(ctx.req);
        return false;
      },
      segments: (ctx) => pathSegments(ctx.url),
      notFound: (ctx) => notFound(ctx),
      notAllowed: (ctx, allow) => {
        throw new HttpError(405, ErrorCodes.BAD_REQUEST, `method ${ctx.method} not allowed here (allowed: ${allow.join(', ')})`, { headers: { allow: allow.join(', ') } });
      },
      errorReply: (err, status) => this.#errorReply(err, status),
    });
  }

  static async start(yard: Switchyard, options: AdminServerOptions): Promise<AdminServer> {
    const admin = new AdminServer(yard, options);
    await admin.#api.listen(options.listen);
    yard.logger.info({ admin: admin.url || admin.address }, 'admin API started');
    return admin;
  }

  get address(): Address | undefined {
    return this.#api.address;
  }

  /** Base URL, e.g. http://127.0.0.1:9901 (TCP only). */
  get url(): string {
    return this.#api.url;
  }

  close(): Promise<void> {
    return this.#api.close();
  }

  /** Every route of the API: method(s), path, handler. */
  #table(): RouteTable<Handler> {
    const y = this.#yard;
    return new RouteTable<Handler>([
      ['GET HEAD', '/healthz', (c) => health(y, c)],
      ['GET HEAD', '/metrics', (c) => metrics(y, c)],
      ['GET', '/api/v1/events', (c) => events(y, c)],
      ...objectRoutes(y, 'listeners'),
      ...objectRoutes(y, 'clusters'),
      ...objectRoutes(y, 'routes'),
      ['GET HEAD', '/api/v1/faults/types', (c) => faultTypes(y, c)],
      ['GET HEAD', '/api/v1/protocols', (c) => protocols(y, c)],
      ['GET HEAD', '/api/v1/listeners/:id/faults', (c) => listFaults(y, c)],
      ['POST', '/api/v1/listeners/:id/faults', (c) => addFault(y, c)],
      ['GET HEAD', '/api/v1/listeners/:id/faults/:name', (c) => getFault(y, c)],
      ['PATCH POST', '/api/v1/listeners/:id/faults/:name', (c) => updateFault(y, c)],
      ['DELETE', '/api/v1/listeners/:id/faults/:name', (c) => removeFault(y, c)],
      ['GET HEAD', '/api/v1/divergences', (c) => divergences(y, c)],
      ['DELETE', '/api/v1/divergences', (c) => clearDivergences(y, c)],
      ['GET HEAD', '/api/v1/divergences/:id', (c) => divergence(y, c)],
      ['GET HEAD', '/api/v1/routes/:id/variants', (c) => variants(y, c)],
      ['POST', '/api/v1/routes/:id/variants/:name/quarantine', (c) => quarantine(y, c)],
      ['POST', '/api/v1/routes/:id/variants/:name/restore', (c) => restore(y, c)],
      ['GET HEAD', '/api/v1/routes/:id/noise', (c) => noise(y, c)],
    ]);
  }

  /** Throws 401 unless the request carries the configured bearer token (when one is set). */
  #authorize(req: IncomingMessage): void {
    const token = this.#opts.token;
    if (!token) return;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    const given = Buffer.from(m?.[1]?.trim() ?? '');
    const want = Buffer.from(token);
    if (given.length !== want.length || !timingSafeEqual(given, want)) {
      throw new HttpError(401, ErrorCodes.UNAUTHORIZED, m ? 'invalid bearer token' : 'missing bearer token (Authorization: Bearer <token>)', {
        headers: { 'www-authenticate': 'Bearer realm="switchyard"' },
      });
    }
  }

  #errorReply(err: unknown, status: number): Reply {
    if (status >= 500) this.#yard.logger.error({ err }, 'admin API error');
    const body: Record<string, unknown> = { code: errorCode(err), message: errorMessage(err) };
    const issues = (err as Partial<SwitchyardError> | null)?.details?.['issues'];
    if (issues !== undefined) body['issues'] = issues;
    return jsonReply(status, { error: body }, JSON_STYLE);
  }
}

/** Percent-decoded segments; empty ones (trailing or doubled slashes) are skipped. */
function pathSegments(url: URL): string[] {
  try {
    return url.pathname.split('/').filter((p) => p.length > 0).map(decodeURIComponent);
  } catch {
    throw new HttpError(400, ErrorCodes.BAD_REQUEST, `malformed percent-encoding in path: ${url.pathname}`);
  }
}

function notFound(ctx: RequestContext): never {
  const parts = pathSegments(ctx.url);
  if (parts[0] === 'api' && parts[1] === 'v1' && (parts.length === 3 || parts.length === 4)) {
    throw new HttpError(404, ErrorCodes.NOT_FOUND, `no such collection '${parts[2]}' (listeners, clusters, routes)`);
  }
  throw new HttpError(404, ErrorCodes.NOT_FOUND, `no such endpoint: ${ctx.method} ${ctx.url.pathname}`);
}
