/**
 * A server's route table: method(s) + path pattern → handler, in the style of Toxiproxy's api.go
 * (`r.HandleFunc("/proxies/{proxy}", ...).Methods("GET")`). Patterns are literal segments and `:name` parameters;
 * a path matches a pattern with as many segments. A path no route has → not found; a path some route has, but not
 * with this method → not allowed, with the methods that are (in the order the table lists them).
 */

/** Methods separated by spaces (`'GET HEAD'`), or `'*'` for any method. */
export type Methods = string;

/** One row of a route table (the description is what an index of the API says about it). */
export type RouteEntry<H> = readonly [methods: Methods, pattern: string, handler: H, description?: string];

/** A route as an index lists it. */
export interface RouteInfo {
  /** undefined = any method. */
  readonly methods: readonly string[] | undefined;
  readonly path: string;
  readonly description: string | undefined;
}

export type RouteMatch<H> =
  | { readonly kind: 'found'; readonly handler: H; readonly params: Readonly<Record<string, string>> }
  | { readonly kind: 'not-allowed'; readonly allow: readonly string[] }
  | { readonly kind: 'not-found' };

interface CompiledRoute<H> {
  /** undefined = any method. */
  readonly methods: readonly string[] | undefined;
  /** Literal segments as they are; parameters as `:name`. */
  readonly segments: readonly string[];
  readonly handler: H;
  readonly pattern: string;
  readonly description: string | undefined;
}

export interface RouteTableOptions {
  /**
   * Methods served by another method's handler without being listed in `Allow` (Vaurien: `{ HEAD: 'GET', POST:
   * 'PUT' }`). A method the route lists itself goes to its own handler.
   */
  readonly aliases?: Readonly<Record<string, string>>;
}

const NOT_FOUND = { kind: 'not-found' } as const;

export class RouteTable<H> {
  readonly #routes: readonly CompiledRoute<H>[];
  readonly #aliases: Readonly<Record<string, string>>;

  constructor(entries: readonly RouteEntry<H>[], options: RouteTableOptions = {}) {
    this.#routes = entries.map(([methods, pattern, handler, description]) => compile(methods, pattern, handler, description));
    this.#aliases = options.aliases ?? {};
  }

  /** Every route in table order: methods, path pattern, description. */
  list(): RouteInfo[] {
    return this.#routes.map((r) => ({ methods: r.methods, path: r.pattern, description: r.description }));
  }

  /** The route for `method` on the path's (decoded) segments. */
  match(method: string, segments: readonly string[]): RouteMatch<H> {
    const alias = this.#aliases[method];
    const allow: string[] = [];
    for (const route of this.#routes) {
      const params = bind(route.segments, segments);
      if (!params) continue;
      const methods = route.methods;
      if (!methods || methods.includes(method) || (alias !== undefined && methods.includes(alias))) return { kind: 'found', handler: route.handler, params };
      for (const m of methods) if (!allow.includes(m)) allow.push(m);
    }
    return allow.length > 0 ? { kind: 'not-allowed', allow } : NOT_FOUND;
  }
}

function compile<H>(methods: Methods, pattern: string, handler: H, description: string | undefined): CompiledRoute<H> {
  if (!pattern.startsWith('/')) throw new TypeError(`route pattern must start with '/': ${pattern}`);
  const segments = pattern === '/' ? [] : pattern.slice(1).split('/');
  if (segments.some((s) => s === '' || s === ':')) throw new TypeError(`route pattern has an empty segment: ${pattern}`);
  const list = methods.trim() === '*' ? undefined : methods.trim().split(/\s+/);
  return { methods: list, segments, handler, pattern, description };
}

/** The parameters when `segments` match the pattern, else undefined. */
function bind(pattern: readonly string[], segments: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i]!;
    const got = segments[i]!;
    if (want.startsWith(':')) {
      if (got === '') return undefined;
      params[want.slice(1)] = got;
    } else if (want !== got) return undefined;
  }
  return params;
}
