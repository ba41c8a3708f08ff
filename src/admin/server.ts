import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Address, ClusterConfig, ListenerConfig, RouteConfig } from '../config/types.js';
import { ErrorCodes, SwitchyardError, errorCode } from '../core/errors.js';
import type { Switchyard } from '../runtime/switchyard.js';
import { parseDuration } from '../core/units.js';
import { parseObjectConfig } from '../runtime/config.js';
import { replicationRoute, serveEvents } from './replication-routes.js';
import { faultRoute } from './fault-routes.js';

export interface AdminServerOptions {
  listen: Address;
  /** Bearer token required on every call when set. */
  token?: string | undefined;
}

const MAX_BODY = 1024 * 1024;

const STATUS: Record<string, number> = {
  [ErrorCodes.BAD_REQUEST]: 400,
  [ErrorCodes.CONFIG_INVALID]: 400,
  [ErrorCodes.UNAUTHORIZED]: 401,
  [ErrorCodes.NOT_FOUND]: 404,
  [ErrorCodes.CONFLICT]: 409,
  [ErrorCodes.LISTEN_FAILED]: 409,
};

type Kind = 'listeners' | 'clusters' | 'routes';

class HttpError extends SwitchyardError {
  constructor(readonly status: number, code: (typeof ErrorCodes)[keyof typeof ErrorCodes], message: string, readonly extraHeaders: Record<string, string> = {}) {
    super(code, message);
  }
}

/**
 * The native admin API (REST + Prometheus). Every answer is JSON (but /metrics); errors are
 * `{"error": {"code", "message"}}` with a fitting status.
 */
export class AdminServer {
  readonly #yard: Switchyard;
  readonly #opts: AdminServerOptions;
  readonly #server: http.Server;
  #bound: Address | undefined;

  constructor(yard: Switchyard, options: AdminServerOptions) {
    this.#yard = yard;
    this.#opts = options;
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => this.#sendError(res, err));
    });
    this.#server.keepAliveTimeout = 5000;
  }

  static async start(yard: Switchyard, options: AdminServerOptions): Promise<AdminServer> {
    const admin = new AdminServer(yard, options);
    await admin.#listen();
    return admin;
  }

  get address(): Address | undefined {
    return this.#bound;
  }

  /** Base URL, e.g. http://127.0.0.1:9901 (TCP only). */
  get url(): string {
    const a = this.#bound;
    if (!a || a.kind !== 'tcp') return '';
    return `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
  }

  async #listen(): Promise<void> {
    const l = this.#opts.listen;
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      const opts = l.kind === 'unix' ? { path: l.path } : { host: l.host, port: l.port };
      this.#server.listen(opts, () => {
        this.#server.removeListener('error', reject);
        resolve();
      });
    });
    const a = this.#server.address();
    this.#bound = typeof a === 'string' || a === null ? l : { kind: 'tcp', host: a.address, port: a.port };
    this.#yard.logger.info({ admin: this.url || this.#bound }, 'admin API started');
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => {
      this.#server.close(() => r());
      this.#server.closeAllConnections();
    });
  }

  #authorize(req: IncomingMessage): void {
    const token = this.#opts.token;
    if (!token) return;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    const given = Buffer.from(m?.[1]?.trim() ?? '');
    const want = Buffer.from(token);
    if (given.length !== want.length || !timingSafeEqual(given, want)) {
      throw new HttpError(401, ErrorCodes.UNAUTHORIZED, m ? 'invalid bearer token' : 'missing bearer token (Authorization: Bearer <token>)', {
        'www-authenticate': 'Bearer realm="switchyard"',
      });
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#authorize(req);
    const url = new URL(req.url ?? '/', 'http://admin');
    let parts: string[];
    try {
      parts = url.pathname.split('/').filter((p) => p.length > 0).map(decodeURIComponent);
    } catch {
      throw new HttpError(400, ErrorCodes.BAD_REQUEST, `malformed percent-encoding in path: ${url.pathname}`);
    }
    const method = req.method ?? 'GET';

    if (url.pathname === '/healthz') {
      allow(method, ['GET', 'HEAD']);
      const listeners = [...this.#yard.listeners.values()];
      const failed = listeners.filter((l) => l.state === 'failed').map((l) => l.id);
      return sendJson(res, failed.length === 0 ? 200 : 503, { status: failed.length === 0 ? 'ok' : 'degraded', listeners: listeners.length, failed });
    }
    if (url.pathname === '/metrics') {
      allow(method, ['GET', 'HEAD']);
      const body = await this.#yard.metrics.metrics();
      res.writeHead(200, { 'content-type': this.#yard.metrics.contentType });
      res.end(body);
      return;
    }
    if (parts[0] === 'api' && parts[1] === 'v1' && parts[2] === 'events' && parts.length === 3) {
      allow(method, ['GET']);
      const last = req.headers['last-event-id'];
      serveEvents(this.#yard, url, res, typeof last === 'string' ? last : undefined);
      return;
    }
    if (parts[0] === 'api' && parts[1] === 'v1') {
      const replicated = await replicationRoute(this.#yard, method, parts, url, (methods) => allow(method, methods));
      if (replicated) return sendJson(res, replicated.status, replicated.body);
      const answer = await faultRoute(this.#yard, method, parts, () => readJson(req), (methods) => allow(method, methods));
      if (answer) return sendJson(res, answer.status, answer.body);
    }
    if (parts[0] !== 'api' || parts[1] !== 'v1' || parts.length < 3 || parts.length > 4) {
      throw new HttpError(404, ErrorCodes.NOT_FOUND, `no such endpoint: ${method} ${url.pathname}`);
    }
    const kind = parts[2] as Kind;
    if (kind !== 'listeners' && kind !== 'clusters' && kind !== 'routes') {
      throw new HttpError(404, ErrorCodes.NOT_FOUND, `no such collection '${parts[2]}' (listeners, clusters, routes)`);
    }
    const map = this.#collection(kind);
    const id = parts[3];
    if (id === undefined) {
      allow(method, ['GET', 'HEAD', 'POST']);
      if (method === 'POST') {
        const body = await readJson(req);
        const obj = await this.#create(kind, body);
        return sendJson(res, 201, obj.toJSON());
      }
      return sendJson(res, 200, [...map.values()].map((o) => o.toJSON()));
    }
    allow(method, ['GET', 'HEAD', 'DELETE']);
    if (method === 'DELETE') {
      const drainParam = url.searchParams.get('drain');
      let drainTimeout = 0;
      if (drainParam !== null) {
        try {
          drainTimeout = parseDuration(/^\d+$/.test(drainParam) ? Number(drainParam) : drainParam);
        } catch (err) {
          throw new HttpError(400, ErrorCodes.BAD_REQUEST, `drain: ${(err as Error).message}`);
        }
      }
      const removed = await this.#remove(kind, id, drainTimeout);
      return sendJson(res, 200, removed.toJSON());
    }
    const obj = map.get(id);
    if (!obj) throw new HttpError(404, ErrorCodes.NOT_FOUND, `${kind.slice(0, -1)} '${id}' not found`);
    return sendJson(res, 200, obj.toJSON());
  }

  #collection(kind: Kind): Map<string, { toJSON(): Record<string, unknown> }> {
    return kind === 'listeners' ? this.#yard.listeners : kind === 'clusters' ? this.#yard.clusters : this.#yard.routes;
  }

  async #create(kind: Kind, body: unknown): Promise<{ toJSON(): Record<string, unknown> }> {
    const yard = this.#yard;
    if (kind === 'clusters') return yard.addCluster(parseObjectConfig('cluster', body, yard.framers) as ClusterConfig);
    if (kind === 'routes') {
      const cfg = parseObjectConfig('route', body, yard.framers) as RouteConfig;
      if (!yard.listeners.has(cfg.listener)) {
        // A route may be created before its listener (the listener then picks it up), but say so if it is a typo.
        yard.logger.info({ route: cfg.id, listener: cfg.listener }, 'route created for a listener that does not exist yet');
      }
      return yard.addRoute(cfg);
    }
    return yard.addListener(parseObjectConfig('listener', body, yard.framers) as ListenerConfig);
  }

  async #remove(kind: Kind, id: string, drainTimeout: number): Promise<{ toJSON(): Record<string, unknown> }> {
    if (kind === 'listeners') return this.#yard.removeListener(id, { drainTimeout });
    if (kind === 'clusters') return this.#yard.removeCluster(id);
    return this.#yard.removeRoute(id);
  }

  #sendError(res: ServerResponse, err: unknown): void {
    const code = errorCode(err);
    const status = err instanceof HttpError ? err.status : STATUS[code] ?? 500;
    if (status >= 500) this.#yard.logger.error({ err }, 'admin API error');
    const body: Record<string, unknown> = { code, message: (err as Error).message ?? String(err) };
    const issues = (err as SwitchyardError).details?.['issues'];
    if (issues !== undefined) body['issues'] = issues;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(res, status, { error: body }, err instanceof HttpError ? err.extraHeaders : {});
  }
}

function allow(method: string, methods: string[]): void {
  if (!methods.includes(method)) {
    throw new HttpError(405, ErrorCodes.BAD_REQUEST, `method ${method} not allowed here (allowed: ${methods.join(', ')})`, { allow: methods.join(', ') });
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  // `curl -d` sends application/x-www-form-urlencoded and fetch() with a string body text/plain: both carry the
  // JSON as is, so accept them; refuse only types that say the body is something else (YAML, multipart, ...).
  if (type && !/^(application\/([\w.+-]+\+)?json|text\/plain|application\/x-www-form-urlencoded)\s*(;|$)/i.test(type)) {
    throw new HttpError(415, ErrorCodes.BAD_REQUEST, `expected content-type application/json, got ${type}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, ErrorCodes.BAD_REQUEST, `request body larger than ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, ErrorCodes.BAD_REQUEST, 'request body is empty; expected a JSON object');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, ErrorCodes.BAD_REQUEST, `request body is not valid JSON: ${(err as Error).message}`);
  }
}
