/**
 * Vaurien's HTTP control API (mozilla-services/vaurien `webserver.py`) in front of a chaos listener, so
 * vaurienclient / vaurienctl work unchanged: `GET|PUT /behavior`, `GET /behaviors`, `GET|PUT /backend`. Bodies and
 * error shapes follow Vaurien (cornice's `{"status":"error","errors":[{location,name,description}]}`); the
 * differences are listed in docs/chaos-cli.md.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Address, ClusterConfig } from '../config/types.js';
import type { Switchyard } from '../runtime/switchyard.js';
import type { Logger } from '../core/log.js';
import { formatAddress, parseAddress, toListenOptions } from '../core/address.js';
import { BehaviorError, VaurienBehaviors } from './vaurien-behaviors.js';

export * from './vaurien-behaviors.js';

export interface VaurienApiOptions {
  listen: Address;
  behaviors: VaurienBehaviors;
  /** The route whose cluster `PUT /backend` replaces. */
  routeId: string;
  logger?: Logger | undefined;
}

interface ApiError {
  location: string;
  name: string;
  description: string;
}

const MAX_BODY = 1024 * 1024;

/** The control API server. */
export class VaurienApi {
  readonly yard: Switchyard;
  readonly behaviors: VaurienBehaviors;
  readonly #routeId: string;
  readonly #logger: Logger;
  readonly #server: http.Server;
  readonly #listen: Address;
  #bound: Address | undefined;
  #clusters = 0;
  /** PUT /backend calls run one at a time. */
  #backendChain: Promise<unknown> = Promise.resolve();

  constructor(yard: Switchyard, options: VaurienApiOptions) {
    this.yard = yard;
    this.behaviors = options.behaviors;
    this.#routeId = options.routeId;
    this.#listen = options.listen;
    this.#logger = options.logger ?? yard.logger;
    this.#server = http.createServer((req, res) => void this.#serve(req, res));
    this.#server.keepAliveTimeout = 5000;
  }

  static async start(yard: Switchyard, options: VaurienApiOptions): Promise<VaurienApi> {
    const api = new VaurienApi(yard, options);
    await new Promise<void>((resolve, reject) => {
      api.#server.once('error', reject);
      api.#server.listen(toListenOptions(options.listen), () => {
        api.#server.off('error', reject);
        resolve();
      });
    });
    const a = api.#server.address();
    api.#bound = a && typeof a === 'object' ? { kind: 'tcp', host: a.address, port: a.port } : api.#listen;
    return api;
  }

  get address(): Address | undefined {
    return this.#bound;
  }

  /** e.g. http://127.0.0.1:8080 */
  get url(): string {
    const a = this.#bound;
    return a && a.kind === 'tcp' ? `http://${formatAddress(a)}` : '';
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /** The backend new connections go to (`host:port`). */
  get backend(): string {
    const route = this.yard.routes.get(this.#routeId);
    const cluster = route ? this.yard.clusters.get(route.config.cluster ?? "") : undefined;
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
      const oldId = route.config.cluster ?? "";
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

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = new URL(req.url ?? '/', 'http://x').pathname.replace(/\/+$/, '') || '/';
      const method = req.method ?? 'GET';
      switch (path) {
        case '/behavior':
          if (method === 'GET' || method === 'HEAD') return send(res, 200, { behavior: this.behaviors.spec });
          if (method === 'PUT' || method === 'POST') return await this.#putBehavior(req, res);
          return notAllowed(res, 'GET, PUT');
        case '/behaviors':
          if (method === 'GET' || method === 'HEAD') return send(res, 200, { behaviors: [...this.behaviors.names] });
          return notAllowed(res, 'GET');
        case '/backend':
          if (method === 'GET' || method === 'HEAD') return send(res, 200, { backend: this.backend });
          if (method === 'PUT' || method === 'POST') return await this.#putBackend(req, res);
          return notAllowed(res, 'GET, PUT');
        default:
          return fail(res, 404, [{ location: 'url', name: 'path', description: `no route for ${method} ${path} (routes: /behavior, /behaviors, /backend)` }]);
      }
    } catch (err) {
      this.#logger.warn({ err }, 'vaurien api: request failed');
      if (!res.headersSent) fail(res, 500, [{ location: 'body', name: '', description: (err as Error).message }]);
      else res.destroy();
    }
  }

  async #putBehavior(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req, res);
    if (body === undefined) return;
    const { name, ...options } = body;
    if (name === undefined || name === null || name === '') return fail(res, 400, [{ location: 'body', name: 'name', description: 'name is missing' }]);
    if (typeof name !== 'string') return fail(res, 400, [{ location: 'body', name: 'name', description: `name must be a string, got ${JSON.stringify(name)}` }]);
    const names = this.behaviors.names;
    if (!name.includes(':') && !name.includes(',') && !names.includes(name.trim())) {
      return fail(res, 400, [{ location: 'body', name: 'name', description: `the '${name}' behavior does not exist` }]);
    }
    try {
      this.behaviors.set(name, options);
    } catch (err) {
      if (err instanceof BehaviorError) return fail(res, 400, [{ location: 'body', name: err.field, description: err.message }]);
      throw err;
    }
    this.#logger.info({ behavior: this.behaviors.spec, options }, 'vaurien api: behavior changed');
    send(res, 200, { status: 'ok' });
  }

  async #putBackend(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req, res);
    if (body === undefined) return;
    const backend = body['backend'];
    if (typeof backend !== 'string' || backend === '') {
      return fail(res, 400, [{ location: 'body', name: 'backend', description: 'backend is missing: expected "host:port"' }]);
    }
    try {
      parseAddress(backend, { role: 'connect' });
    } catch (err) {
      return fail(res, 400, [{ location: 'body', name: 'backend', description: (err as Error).message }]);
    }
    await this.setBackend(backend);
    send(res, 200, { status: 'ok' });
  }
}

/** Read a JSON object body; on failure answers 400 itself and returns undefined. */
async function readJson(req: IncomingMessage, res: ServerResponse): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) {
      fail(res, 413, [{ location: 'body', name: '', description: `body larger than ${MAX_BODY} bytes` }]);
      return undefined;
    }
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let body: unknown;
  try {
    body = text.trim() === '' ? {} : JSON.parse(text);
  } catch (err) {
    fail(res, 400, [{ location: 'body', name: '', description: `invalid JSON: ${(err as Error).message}` }]);
    return undefined;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    fail(res, 400, [{ location: 'body', name: '', description: 'expected a JSON object' }]);
    return undefined;
  }
  return body as Record<string, unknown>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

function fail(res: ServerResponse, status: number, errors: ApiError[]): void {
  send(res, status, { status: 'error', errors });
}

function notAllowed(res: ServerResponse, allow: string): void {
  res.setHeader('allow', allow);
  fail(res, 405, [{ location: 'method', name: res.req.method ?? '', description: `method not allowed (allowed: ${allow})` }]);
}
