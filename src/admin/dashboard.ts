/**
 * The dashboard's files, served by the admin API (docs/dashboard.md):
 *   GET /            index.html for a browser (Accept: text/html); other clients keep the JSON endpoint index
 *   GET /ui/, /ui    index.html
 *   GET /ui/FILE     the bundle's hashed files (app-HASH.js, app-HASH.css), cached for a year (immutable)
 * The page and its files hold nothing secret, so they are served without the token (the API calls the page makes
 * need it, as every other client's do); the Host and Origin checks apply as to every request. Every answer carries a
 * content-security policy that allows only this origin: no inline script, no other site, no framing.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ErrorCodes } from '../core/errors.js';
import type { RequestContext } from '../http-kit/context.js';
import { HttpError } from '../http-kit/http-error.js';

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** Where the built bundle is: next to the compiled admin module (dist/), or dist/ of the checkout when run from src/. */
const CANDIDATES = [new URL('../dashboard/', import.meta.url), new URL('../../dist/dashboard/', import.meta.url)];

interface Bundle {
  dir: string;
  files: Map<string, { body: Buffer; type: string }>;
}

let cached: { dir: string; mtime: number; bundle: Bundle } | undefined;

/** The bundle's files (read once; read again when index.html changes, e.g. after a rebuild). */
function bundle(): Bundle | undefined {
  for (const url of CANDIDATES) {
    const dir = fileURLToPath(url);
    let mtime: number;
    try {
      mtime = statSync(`${dir}index.html`).mtimeMs;
    } catch {
      continue;
    }
    if (cached && cached.dir === dir && cached.mtime === mtime) return cached.bundle;
    const files = new Map<string, { body: Buffer; type: string }>();
    for (const name of readdirSync(dir)) {
      const ext = /\.[a-z]+$/.exec(name)?.[0] ?? '';
      const type = TYPES[ext];
      if (type === undefined || name.startsWith('.')) continue;
      try {
        files.set(name, { body: readFileSync(`${dir}${name}`), type });
      } catch {
        // removed by a rebuild since the listing: the new index.html does not name it
      }
    }
    cached = { dir, mtime, bundle: { dir, files } };
    return cached.bundle;
  }
  return undefined;
}

/** `Vary` with `Accept` added to what is already set (`Origin`, for an allowed cross-origin page). */
export function varyAccept(ctx: RequestContext): string {
  const set = ctx.res.getHeader('vary');
  return set === undefined ? 'Accept' : `${String(set)}, Accept`;
}

/** A browser navigating to `/` (it asks for HTML first); curl, fetch and the API clients get JSON. */
export function wantsHtml(ctx: RequestContext): boolean {
  const accept = ctx.req.headers.accept ?? '';
  return /(^|,)\s*text\/html\s*(;|,|$)/i.test(accept);
}

/** Requests the dashboard answers without the token: GET/HEAD of its own files. */
export function isDashboardRequest(ctx: RequestContext): boolean {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return false;
  const path = ctx.url.pathname;
  return path === '/ui' || path.startsWith('/ui/') || (path === '/' && wantsHtml(ctx));
}

function send(ctx: RequestContext, name: string, cache: string): void {
  const b = bundle();
  if (!b) {
    throw new HttpError(503, ErrorCodes.NOT_FOUND, 'the dashboard is not built: run `npm run build` (it writes dist/dashboard/); the admin API itself works without it');
  }
  const file = b.files.get(name);
  if (!file) throw new HttpError(404, ErrorCodes.NOT_FOUND, `no such dashboard file: ${ctx.url.pathname}`);
  const res = ctx.res;
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': file.type, 'content-length': file.body.length, 'cache-control': cache, vary: varyAccept(ctx) });
  res.end(ctx.method === 'HEAD' ? undefined : file.body);
}

/** The page itself: never cached (it names the current bundle's files). */
export function dashboardPage(ctx: RequestContext): void {
  send(ctx, 'index.html', 'no-cache');
}

/** `/ui/:file`: a hashed bundle file (immutable), or the page for `/ui/index.html`. */
export function dashboardFile(ctx: RequestContext): void {
  const name = ctx.param('file');
  if (name === 'index.html' || name === '') return dashboardPage(ctx);
  send(ctx, name, /^app-[A-Z0-9]+\.(js|css)$/.test(name) ? 'public, max-age=31536000, immutable' : 'no-cache');
}
