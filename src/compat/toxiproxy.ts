/**
 * A drop-in Toxiproxy HTTP API (Shopify/toxiproxy v2.12 `api.go`) on top of a Switchyard, so toxiproxy-node-client,
 * toxiproxy-cli, the Go client and Testcontainers' Toxiproxy module work unchanged. Routes, status codes, bodies and
 * error messages follow Toxiproxy; the deliberate differences are listed in docs/toxiproxy-compat.md.
 */
import { randomBytes } from 'node:crypto';
import type { Address } from '../core/address.js';
import type { Switchyard } from '../runtime/switchyard.js';
import type { Logger } from '../core/log.js';
import { VERSION } from '../core/version.js';
import type { AccessNames, AccessPolicy } from '../http-kit/access.js';
import { ApiServer, type Handler } from '../http-kit/api-server.js';
import type { RequestContext } from '../http-kit/context.js';
import { HttpError, errorMessage } from '../http-kit/http-error.js';
import type { Reply } from '../http-kit/reply.js';
import { RouteTable } from '../http-kit/route-table.js';
import { BODY_RULES, decodeProxy } from './toxiproxy-json.js';
import { ToxiproxyCollection } from './toxiproxy-proxies.js';
import { addToxic, getToxic, listToxics, removeToxic, updateToxic } from './toxiproxy-toxics.js';

/** Where the Toxiproxy-compatible API listens, and how it is protected (docs/security.md). */
export interface ToxiproxyApiOptions extends AccessPolicy {
  /** Where the API listens (Toxiproxy's default is localhost:8474). */
  listen: Address;
  /** The settings named when a Host or Origin is refused (default: the config keys). */
  accessNames?: AccessNames | undefined;
  /** Default: the yard's logger. */
  logger?: Logger | undefined;
}

const ID_ALPHABET = '0123456789abcdefghijklmnopqrstuv';

/** A request id like Toxiproxy's (xid: 20 characters of base32hex). */
function requestId(): string {
  const bytes = randomBytes(20);
  let id = '';
  for (const b of bytes) id += ID_ALPHABET[b & 31];
  return id;
}

/** Go's http.Error and friends: text/plain, nosniff. */
const TEXT = 'text/plain; charset=utf-8';
const NOSNIFF = { 'x-content-type-options': 'nosniff' } as const;

/** How the config keys protect a non-loopback listen address. */
const TOXIPROXY_FIX = 'Set toxiproxy.token or toxiproxy.tokenFile (or the environment variable SWITCHYARD_TOXIPROXY_TOKEN), or toxiproxy.insecure: true to allow it';

/** The Toxiproxy-compatible API server. */
export class ToxiproxyApi {
  readonly yard: Switchyard;
  readonly proxies: ToxiproxyCollection;
  readonly #logger: Logger;
  readonly #listen: Address;
  readonly #api: ApiServer;

  constructor(yard: Switchyard, options: ToxiproxyApiOptions) {
    this.yard = yard;
    this.proxies = new ToxiproxyCollection(yard);
    this.#logger = options.logger ?? yard.logger;
    this.#listen = options.listen;
    this.#api = new ApiServer({
      name: 'Toxiproxy API',
      logger: this.#logger,
      access: { ...options, setting: options.setting ?? 'toxiproxy.listen', fix: options.fix ?? TOXIPROXY_FIX },
      accessNames: options.accessNames ?? { allowedHosts: 'toxiproxy.allowedHosts', allowedOrigins: 'toxiproxy.allowedOrigins' },
      routes: this.#table(),
      body: BODY_RULES,
      json: { contentType: 'application/json' },
      before: (ctx) => before(ctx),
      segments: (ctx) => pathSegments(ctx.req.url ?? '/'),
      notFound: (ctx) => ctx.sendText(404, '404 page not found\n', TEXT, NOSNIFF),
      // gorilla/mux: a known path with another method → 405, empty body.
      notAllowed: (ctx) => ctx.sendEmpty(405),
      errorReply: (err, status, ctx) => this.#errorReply(err, status, ctx),
    });
  }

  /** Start the API; `close()` stops it (the proxies stay: they belong to the yard). */
  static async start(yard: Switchyard, options: ToxiproxyApiOptions): Promise<ToxiproxyApi> {
    const api = new ToxiproxyApi(yard, options);
    await api.#api.listen(api.#listen);
    api.#logger.info({ toxiproxy: api.url || api.address }, 'Toxiproxy API started');
    return api;
  }

  get address(): Address | undefined {
    return this.#api.address;
  }

  /** Base URL, e.g. http://127.0.0.1:8474. */
  get url(): string {
    return this.#api.url;
  }

  close(): Promise<void> {
    return this.#api.close();
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

  /** Every route of api.go: method(s), path, handler. */
  #table(): RouteTable<Handler> {
    const p = this.proxies;
    return new RouteTable<Handler>([
      ['POST', '/reset', async (c) => {
        await p.reset();
        c.sendEmpty(204);
      }],
      ['GET', '/proxies', (c) => c.send(200, p.all())],
      ['POST', '/proxies', async (c) => c.send(201, await p.create(decodeProxy(await c.text())))],
      ['POST', '/populate', (c) => this.#populate(c)],
      ['GET', '/proxies/:proxy', (c) => c.send(200, p.proxyJson(c.param('proxy')))],
      ['POST PATCH', '/proxies/:proxy', (c) => this.#update(c)],
      ['DELETE', '/proxies/:proxy', async (c) => {
        await p.remove(c.param('proxy'));
        c.sendEmpty(204);
      }],
      ['GET', '/proxies/:proxy/toxics', (c) => c.send(200, listToxics(p.toxicsOf(c.param('proxy'))))],
      // 200, not 201, like Toxiproxy.
      ['POST', '/proxies/:proxy/toxics', async (c) => {
        const text = await c.text();
        c.send(200, addToxic(p.toxicsOf(c.param('proxy')), text));
      }],
      ['GET', '/proxies/:proxy/toxics/:toxic', (c) => c.send(200, getToxic(p.toxicsOf(c.param('proxy')), c.param('toxic')))],
      ['POST PATCH', '/proxies/:proxy/toxics/:toxic', async (c) => {
        const text = await c.text();
        c.send(200, updateToxic(p.toxicsOf(c.param('proxy')), c.param('toxic'), text));
      }],
      ['DELETE', '/proxies/:proxy/toxics/:toxic', (c) => {
        removeToxic(p.toxicsOf(c.param('proxy')), c.param('toxic'));
        c.sendEmpty(204);
      }],
      ['GET', '/version', (c) => c.sendText(200, `{"version": "${VERSION}"}\n`, 'application/json;charset=utf-8')],
      // Always served (Toxiproxy only with -proxy-metrics/-runtime-metrics): the yard's registry + Toxiproxy's series.
      ['*', '/metrics', async (c) => c.sendText(200, await p.metricsText(), this.yard.metrics.contentType)],
    ]);
  }

  async #update(ctx: RequestContext): Promise<void> {
    const name = ctx.param('proxy');
    if (ctx.method === 'POST') this.#logger.debug({ proxy: name }, 'ProxyUpdate: HTTP method POST is deprecated in Toxiproxy; PATCH works too');
    ctx.send(200, await this.proxies.update(name, decodeProxy(await ctx.text())));
  }

  /**
   * Populate answers errors as JSON too, with the proxies handled so far. We answer `[]` where Toxiproxy answers
   * `null` for no proxies (toxiproxy-node-client crashes on null).
   */
  async #populate(ctx: RequestContext): Promise<void> {
    let result: Awaited<ReturnType<ToxiproxyCollection['populate']>>;
    try {
      result = await this.proxies.populate(await ctx.text());
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      result = { proxies: [], error: err };
    }
    const { proxies, error } = result;
    if (error) ctx.send(error.status, { error: error.message, status: error.status, proxies });
    else ctx.send(201, { proxies });
  }

  /** Toxiproxy's error body `{"error":..,"status":..}` + newline, sent (like Go's http.Error) as text/plain. */
  #errorReply(err: unknown, status: number, ctx: RequestContext): Reply {
    const where = { method: ctx.req.method, url: ctx.req.url };
    if (!(err instanceof HttpError)) this.#logger.error({ err, ...where }, 'Toxiproxy API internal error');
    else if (status >= 500) this.#logger.warn({ err: err.message, ...where }, 'Toxiproxy API error');
    // Like Toxiproxy, anything that is not one of the API's own answers is a 500 (not the native API's code mapping).
    const code = err instanceof HttpError ? status : 500;
    return { status: code, contentType: TEXT, text: `${JSON.stringify({ error: errorMessage(err), status: code })}\n`, headers: NOSNIFF };
  }
}

/** Every answer carries a request id; browsers are refused (Toxiproxy's CSRF protection: plain text, 403). */
function before(ctx: RequestContext): boolean {
  ctx.res.setHeader('x-toxiproxy-request-id', requestId());
  ctx.req.on('error', () => undefined);
  if (!(ctx.req.headers['user-agent'] ?? '').startsWith('Mozilla/')) return false;
  ctx.sendText(403, 'User agent not allowed\n', TEXT, NOSNIFF);
  return true;
}

/** Percent-decoded segments; an empty segment (`/proxies/`, `//x`) or bad encoding matches no route (404). */
function pathSegments(target: string): string[] | undefined {
  const raw = (target.split('?')[0] ?? '/').split('/').slice(1);
  if (raw.some((s) => s === '')) return undefined;
  try {
    return raw.map(decodeURIComponent);
  } catch {
    return undefined;
  }
}
