import { killWampSession, wampSession, wampSessions } from './wamp-routes.js';
import type { Address } from '../core/address.js';
import { ErrorCodes, errorCode, type SwitchyardError } from '../core/errors.js';
import type { Switchyard } from '../runtime/switchyard.js';
import type { AccessPolicy } from '../http-kit/access.js';
import { ApiServer, type Handler } from '../http-kit/api-server.js';
import type { BodyRules } from '../http-kit/body.js';
import type { RequestContext } from '../http-kit/context.js';
import { HttpError, errorMessage } from '../http-kit/http-error.js';
import { jsonReply, type JsonStyle, type Reply } from '../http-kit/reply.js';
import { RouteTable } from '../http-kit/route-table.js';
import { health, metrics, objectRoutes } from './object-routes.js';
import { CONFIG_BODY_TYPES, getConfig, putConfig } from './config-routes.js';
import { addFault, faultTypes, getFault, listFaults, protocols, removeFault, updateFault } from './fault-routes.js';
import { dashboardFile, dashboardPage, isDashboardRequest, varyAccept, wantsHtml } from './dashboard.js';
import { getTraffic, putTraffic } from './traffic-routes.js';
import { clearDivergences, divergence, divergences, events, noise, quarantine, restore, variants } from './replication-routes.js';

/** Where the admin API listens, and how it is protected (token, allowed hosts and origins: docs/security.md). */
export interface AdminServerOptions extends AccessPolicy {
  listen: Address;
}

/** The config keys (and the proxy command's flags) refusals name. */
export const ADMIN_ACCESS_NAMES = {
  allowedHosts: 'admin.allowedHosts (--admin-allowed-host)',
  allowedOrigins: 'admin.allowedOrigins (--admin-allowed-origin)',
} as const;

/** How the admin config keys protect a non-loopback listen address. */
export const ADMIN_FIX = 'Set admin.token or admin.tokenFile (or the environment variable SWITCHYARD_ADMIN_TOKEN), or admin.insecure: true to allow it';

const MAX_BODY = 1024 * 1024;

/** Pretty-printed, newline-terminated, UTF-8. */
const JSON_STYLE: JsonStyle = { contentType: 'application/json; charset=utf-8', indent: 2, newline: true };

const BODY_RULES: BodyRules = {
  maxBytes: MAX_BODY,
  tooLarge: (max) => new HttpError(413, ErrorCodes.BAD_REQUEST, `request body larger than ${max} bytes`),
  // The content type is checked before the body is read, with the other cross-site refusals (http-kit/access.ts).
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
  readonly #api: ApiServer;

  constructor(yard: Switchyard, options: AdminServerOptions) {
    this.#yard = yard;
    this.#api = new ApiServer({
      name: 'admin API',
      logger: yard.logger,
      access: { ...options, setting: options.setting ?? 'admin.listen', fix: options.fix ?? ADMIN_FIX },
      accessNames: ADMIN_ACCESS_NAMES,
      routes: this.#table(),
      body: BODY_RULES,
      json: JSON_STYLE,
      segments: (ctx) => pathSegments(ctx.url),
      publicRequest: (ctx) => isDashboardRequest(ctx),
      bodyTypes: (ctx) => (ctx.method === 'PUT' && /^\/api\/v1\/config\/?$/.test(ctx.url.pathname) ? CONFIG_BODY_TYPES : undefined),
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
    const table: RouteTable<Handler> = new RouteTable<Handler>([
      ['GET HEAD', '/', (c) => (wantsHtml(c) ? dashboardPage(c) : c.send(200, { name: 'switchyard admin API', docs: 'docs/admin-api.md', endpoints: endpointIndex(table) }, { vary: varyAccept(c) })), 'this index of every endpoint (a browser, Accept: text/html, gets the dashboard: docs/dashboard.md)'],
      ['GET HEAD', '/ui', (c) => dashboardPage(c), 'the dashboard page (docs/dashboard.md)'],
      ['GET HEAD', '/ui/:file', (c) => dashboardFile(c), "the dashboard's script and style files"],
      ['GET HEAD', '/healthz', (c) => health(y, c), 'health: 200 ok, or 503 degraded when a listener failed'],
      ['GET HEAD', '/metrics', (c) => metrics(y, c), 'Prometheus metrics (text format)'],
      ['GET', '/api/v1/events', (c) => events(y, c), 'divergence events live, as Server-Sent Events'],
      ['GET HEAD', '/api/v1/config', (c) => getConfig(y, c), 'the configuration running now (secrets redacted)'],
      ['PUT', '/api/v1/config', (c) => putConfig(y, c), 'replace the whole config, applied as a hot reload (body: YAML or JSON; ?dryRun=true: only the plan)'],
      ...objectRoutes(y, 'listeners'),
      ...objectRoutes(y, 'clusters'),
      ...objectRoutes(y, 'routes'),
      ['GET HEAD', '/api/v1/faults/types', (c) => faultTypes(y, c), 'the fault types and their attributes'],
      ['GET HEAD', '/api/v1/protocols', (c) => protocols(y, c), 'the protocol modules and what they can match and answer'],
      ['GET HEAD', '/api/v1/listeners/:id/faults', (c) => listFaults(y, c), "a listener's live faults"],
      ['POST', '/api/v1/listeners/:id/faults', (c) => addFault(y, c), 'add a fault to a listener (body: the fault, JSON)'],
      ['GET HEAD', '/api/v1/listeners/:id/faults/:name', (c) => getFault(y, c), 'one fault'],
      ['PATCH POST', '/api/v1/listeners/:id/faults/:name', (c) => updateFault(y, c), "change a fault's attributes, toxicity or match"],
      ['DELETE', '/api/v1/listeners/:id/faults/:name', (c) => removeFault(y, c), 'remove a fault'],
      ['GET HEAD', '/api/v1/listeners/:id/traffic', (c) => getTraffic(y, c), "a listener's traffic tail: the latest sampled requests (?since=SEQ&limit=N)"],
      ['PUT', '/api/v1/listeners/:id/traffic', (c) => putTraffic(y, c), "turn a listener's traffic tail on or off, or change its rate and size (body: {enabled?, perSecond?, keep?})"],
      ['GET HEAD', '/api/v1/divergences', (c) => divergences(y, c), 'the divergence events kept in memory'],
      ['DELETE', '/api/v1/divergences', (c) => clearDivergences(y, c), 'forget the divergence events'],
      ['GET HEAD', '/api/v1/divergences/:id', (c) => divergence(y, c), 'one divergence event'],
      ['GET HEAD', '/api/v1/routes/:id/variants', (c) => variants(y, c), "a replicate route's variants and their state"],
      ['POST', '/api/v1/routes/:id/variants/:name/quarantine', (c) => quarantine(y, c), 'take a variant out of the vote'],
      ['POST', '/api/v1/routes/:id/variants/:name/restore', (c) => restore(y, c), 'put a quarantined variant back'],
      ['GET HEAD', '/api/v1/routes/:id/noise', (c) => noise(y, c), "a replicate route's learned noise (fields that differ between identical variants)"],
      ['GET HEAD', '/api/v1/wamp/sessions', (c) => wampSessions(y, c), 'joined WAMP sessions of protocol: wamp listeners (?listener=ID)'],
      ['GET HEAD', '/api/v1/wamp/sessions/:id', (c) => wampSession(y, c), 'one WAMP session'],
      ['DELETE', '/api/v1/wamp/sessions/:id', (c) => killWampSession(y, c), 'kill a WAMP session (the client gets GOODBYE wamp.close.killed)'],
    ]);
    return table;
  }

  #errorReply(err: unknown, status: number): Reply {
    if (status >= 500) this.#yard.logger.error({ err }, 'admin API error');
    const body: Record<string, unknown> = { code: errorCode(err), message: errorMessage(err) };
    const issues = (err as Partial<SwitchyardError> | null)?.details?.['issues'];
    if (issues !== undefined) body['issues'] = issues;
    return jsonReply(status, { error: body }, JSON_STYLE);
  }
}

/** `GET /`: every route as method + path + one line, generated from the route table (HEAD is implied by GET). */
function endpointIndex(table: RouteTable<Handler>): Array<{ method: string; path: string; description: string }> {
  const out: Array<{ method: string; path: string; description: string }> = [];
  for (const r of table.list()) {
    for (const method of (r.methods ?? ['*']).filter((m) => m !== 'HEAD')) out.push({ method, path: r.path, description: r.description ?? '' });
  }
  return out;
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
