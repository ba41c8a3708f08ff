/**
 * A drop-in Toxiproxy HTTP API (Shopify/toxiproxy v2.12 `api.go`) on top of a Switchyard, so toxiproxy-node-client,
 * toxiproxy-cli, the Go client and Testcontainers' Toxiproxy module work unchanged. Routes, status codes, bodies and
 * error messages follow Toxiproxy; the deliberate differences are listed in docs/toxiproxy-compat.md.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Address } from '../config/types.js';
import type { Switchyard } from '../runtime/switchyard.js';
import type { Logger } from '../core/log.js';
import { formatAddress } from '../core/address.js';
import { VERSION } from '../core/version.js';
import { decodeProxy, ToxiproxyApiError, ToxiproxyCollection } from './toxiproxy-proxies.js';

export { ToxiproxyApiError, ToxiproxyCollection } from './toxiproxy-proxies.js';
export type { ProxyJson, ToxicJson, ProxyInput } from './toxiproxy-proxies.js';

export interface ToxiproxyApiOptions {
  /** Where the API listens (Toxiproxy's default is localhost:8474). */
  listen: Address;
  /** Default: the yard's logger. */
  logger?: Logger | undefined;
}

const MAX_BODY = 1024 * 1024;

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], body: () => Promise<string>) => Promise<void> | void;
interface RouteDef {
  /** Path segments; `*` matches one segment (a proxy or toxic name). */
  readonly path: readonly string[];
  /** Method → handler; undefined methods = any method. */
  readonly methods: Readonly<Record<string, Handler>> | Handler;
}

const ID_ALPHABET = '0123456789abcdefghijklmnopqrstuv';

/** A request id like Toxiproxy's (xid: 20 characters of base32hex). */
function requestId(): string {
  const bytes = randomBytes(20);
  let id = '';
  for (const b of bytes) id += ID_ALPHABET[b & 31];
  return id;
}

/** The Toxiproxy-compatible API server. */
export class ToxiproxyApi {
  readonly yard: Switchyard;
  readonly proxies: ToxiproxyCollection;
  readonly #logger: Logger;
  readonly #server: http.Server;
  readonly #listen: Address;
  readonly #routes: RouteDef[];
  #bound: Address | undefined;

  constructor(yard: Switchyard, options: ToxiproxyApiOptions) {
    this.yard = yard;
    this.proxies = new ToxiproxyCollection(yard);
    this.#logger = options.logger ?? yard.logger;
    this.#listen = options.listen;
    this.#routes = this.#table();
    this.#server = http.createServer((req, res) => this.#serve(req, res));
    this.#server.keepAliveTimeout = 5000;
  }

  /** Start the API; `close()` stops it (the proxies stay: they belong to the yard). */
  static async start(yard: Switchyard, options: ToxiproxyApiOptions): Promise<ToxiproxyApi> {
    const api = new ToxiproxyApi(yard, options);
    await api.#start();
    return api;
  }

  get address(): Address | undefined {
    return this.#bound;
  }

  /** Base URL, e.g. http://127.0.0.1:8474. */
  get url(): string {
    const a = this.#bound;
    if (!a || a.kind !== 'tcp') return '';
    return `http://${formatAddress(a)}`;
  }

  async #start(): Promise<void> {
    const l = this.#listen;
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
    this.#logger.info({ toxiproxy: this.url || this.#bound }, 'Toxiproxy API started');
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => {
      this.#server.close(() => r());
      this.#server.closeAllConnections();
    });
  }

  /**
   * Load a JSON array of proxies through the same code as POST /populate (Toxiproxy's `-config`). Errors are
   * logged, never thrown: the server keeps running. Returns how many proxies were populated.
   */
  async populateFromText(text: string, source = 'config'): Promise<number> {
    try {
      const { proxies, error } = await this.proxies.populate(text);
      if (error) {
        this.#logger.error({ config: source, err: error.message, populated: proxies.length }, 'Failed to populate proxies from file');
        return proxies.length;
      }
      this.#logger.info({ config: source, proxies: proxies.length }, 'Populated proxies from file');
      return proxies.length;
    } catch (err) {
      this.#logger.error({ config: source, err: (err as Error).message }, 'Failed to populate proxies from file');
      return 0;
    }
  }

  // ---- routing --------------------------------------------------------------------------------------------------

  #table(): RouteDef[] {
    const p = this.proxies;
    const update: Handler = async (req, res, [name], body) => {
      if (req.method === 'POST') this.#logger.debug({ proxy: name }, 'ProxyUpdate: HTTP method POST is deprecated in Toxiproxy; PATCH works too');
      sendJson(res, 200, await p.update(name!, decodeProxy(await body())));
    };
    const updateToxic: Handler = async (_req, res, [proxy, toxic], body) => sendJson(res, 200, p.updateToxic(proxy!, toxic!, await body()));
    return [
      {
        path: ['reset'],
        methods: {
          POST: async (_req, res) => {
            await p.reset();
            sendEmpty(res, 204);
          },
        },
      },
      {
        path: ['proxies'],
        methods: {
          GET: (_req, res) => sendJson(res, 200, p.all()),
          POST: async (_req, res, _params, body) => sendJson(res, 201, await p.create(decodeProxy(await body()))),
        },
      },
      {
        path: ['populate'],
        methods: {
          POST: async (_req, res, _params, body) => {
            // Populate answers errors as JSON too, with the proxies handled so far. We answer `[]` where Toxiproxy
            // answers `null` for no proxies (toxiproxy-node-client crashes on null).
            let result: Awaited<ReturnType<ToxiproxyCollection['populate']>>;
            try {
              result = await p.populate(await body());
            } catch (err) {
              if (!(err instanceof ToxiproxyApiError)) throw err;
              result = { proxies: [], error: err };
            }
            const { proxies, error } = result;
            if (error) sendJson(res, error.status, { error: error.message, status: error.status, proxies });
            else sendJson(res, 201, { proxies });
          },
        },
      },
      {
        path: ['proxies', '*'],
        methods: {
          GET: (_req, res, [name]) => sendJson(res, 200, p.proxyJson(name!)),
          POST: update,
          PATCH: update,
          DELETE: async (_req, res, [name]) => {
            await p.remove(name!);
            sendEmpty(res, 204);
          },
        },
      },
      {
        path: ['proxies', '*', 'toxics'],
        methods: {
          GET: (_req, res, [name]) => sendJson(res, 200, p.toxics(name!)),
          // 200, not 201, like Toxiproxy.
          POST: async (_req, res, [name], body) => sendJson(res, 200, p.addToxic(name!, await body())),
        },
      },
      {
        path: ['proxies', '*', 'toxics', '*'],
        methods: {
          GET: (_req, res, [proxy, toxic]) => sendJson(res, 200, p.toxic(proxy!, toxic!)),
          POST: updateToxic,
          PATCH: updateToxic,
          DELETE: (_req, res, [proxy, toxic]) => {
            p.removeToxic(proxy!, toxic!);
            sendEmpty(res, 204);
          },
        },
      },
      {
        path: ['version'],
        methods: {
          GET: (_req, res) => {
            const text = `{"version": "${VERSION}"}\n`;
            res.writeHead(200, { 'content-type': 'application/json;charset=utf-8', 'content-length': Buffer.byteLength(text) });
            res.end(text);
          },
        },
      },
      {
        // Always served (Toxiproxy only with -proxy-metrics/-runtime-metrics): the yard's Prometheus registry.
        path: ['metrics'],
        methods: async (_req, res) => {
          const text = await this.yard.metrics.metrics();
          res.writeHead(200, { 'content-type': this.yard.metrics.contentType, 'content-length': Buffer.byteLength(text) });
          res.end(text);
        },
      },
    ];
  }

  #match(segments: string[]): { route: RouteDef; params: string[] } | undefined {
    for (const route of this.#routes) {
      if (route.path.length !== segments.length) continue;
      const params: string[] = [];
      let ok = true;
      for (let i = 0; i < segments.length; i++) {
        const want = route.path[i]!;
        const got = segments[i]!;
        if (want === '*') params.push(got);
        else if (want !== got) ok = false;
      }
      if (ok) return { route, params };
    }
    return undefined;
  }

  #serve(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('x-toxiproxy-request-id', requestId());
    req.on('error', () => undefined);
    this.#handle(req, res).catch((err: unknown) => {
      if (err instanceof ToxiproxyApiError) {
        if (err.status >= 500) this.#logger.warn({ err: err.message, method: req.method, url: req.url }, 'Toxiproxy API error');
        sendError(res, err.status, err.message);
        return;
      }
      this.#logger.error({ err, method: req.method, url: req.url }, 'Toxiproxy API internal error');
      sendError(res, 500, (err as Error)?.message ?? String(err));
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if ((req.headers['user-agent'] ?? '').startsWith('Mozilla/')) {
      // Toxiproxy refuses browsers (CSRF protection): plain text, 403.
      sendText(res, 403, 'User agent not allowed\n');
      return;
    }
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    let segments: string[] | undefined;
    try {
      const raw = pathname.split('/').slice(1);
      segments = raw.some((s) => s === '') ? undefined : raw.map(decodeURIComponent);
    } catch {
      segments = undefined;
    }
    const match = segments && this.#match(segments);
    if (!match) {
      sendText(res, 404, '404 page not found\n');
      return;
    }
    const { route, params } = match;
    const handler = typeof route.methods === 'function' ? route.methods : route.methods[req.method ?? ''];
    if (!handler) {
      // gorilla/mux: a known path with another method → 405, empty body.
      sendEmpty(res, 405);
      return;
    }
    await handler(req, res, params, () => readBody(req));
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status);
  res.end();
}

/** Go's http.Error: text/plain, nosniff. */
function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Toxiproxy's error body `{"error":..,"status":..}` + newline, sent (like Go's http.Error) as text/plain. */
function sendError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendText(res, status, `${JSON.stringify({ error: message, status })}\n`);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ToxiproxyApiError(413, `bad request body: larger than ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
