/**
 * `switchyard proxy --route 'MATCH -> UPSTREAM[,UPSTREAM...]'` (docs/routing.md "CLI"): one route per flag, tried
 * in the order given. MATCH is `key=value` conditions separated by `,` (all must hold); empty = everything.
 *
 * - `key=value`: the value as in a config file's match (exact, `*` wildcards, `/regex/`, a CIDR for sourceAddress);
 *   `a|b` = any of; digits-only values are numbers (`destinationPort=8443`);
 * - `key!=value`: must not match (`not:`);
 * - `header.NAME=value` and `query.NAME=value`: the `headers:` / `query:` map forms (HTTP).
 *
 * Values cannot contain `,` or `|` here (write a config file for those).
 */

/** One parsed `--route`: the match as a config file writes it (undefined = everything) and the upstream addresses. */
export interface RouteFlag {
  match: Record<string, unknown> | undefined;
  upstreams: string[];
}

const ARROW = '->';
const FORM = "'KEY=VALUE[,KEY=VALUE...] -> HOST:PORT[,HOST:PORT...]'";
const MAPS: Readonly<Record<string, string>> = { header: 'headers', query: 'query' };

function scalar(v: string): string | number {
  return /^\d{1,15}$/.test(v) ? Number(v) : v;
}

function valueOf(raw: string): string | number | Array<string | number> {
  const alternatives = raw.split('|').map((v) => v.trim());
  if (alternatives.some((v) => v === '')) throw new Error(`empty alternative in ${JSON.stringify(raw)}`);
  return alternatives.length === 1 ? scalar(alternatives[0]!) : alternatives.map(scalar);
}

/** Put `key = value` into `into`, the map forms (`header.x`) into their map. */
function put(into: Record<string, unknown>, key: string, value: unknown): void {
  const dot = key.indexOf('.');
  const map = dot > 0 ? MAPS[key.slice(0, dot)] : undefined;
  if (map !== undefined) {
    const name = key.slice(dot + 1);
    if (name === '') throw new Error(`${JSON.stringify(key)} names no ${key.slice(0, dot)}`);
    const inner = (into[map] ??= {}) as Record<string, unknown>;
    if (typeof inner !== 'object' || inner === null) throw new Error(`"${map}" given twice`);
    if (name in inner) throw new Error(`${JSON.stringify(key)} given twice`);
    inner[name] = value;
    return;
  }
  if (key in into) throw new Error(`${JSON.stringify(key)} given twice`);
  into[key] = value;
}

/** Parse one `--route` value; throws an Error whose message says what is wrong (the caller adds which flag). */
export function parseRouteFlag(text: string): RouteFlag {
  const at = text.indexOf(ARROW);
  if (at < 0) throw new Error(`missing "${ARROW}" (expected ${FORM})`);
  if (text.indexOf(ARROW, at + ARROW.length) >= 0) throw new Error(`"${ARROW}" given twice (expected ${FORM})`);
  const left = text.slice(0, at).trim();
  const upstreams = text
    .slice(at + ARROW.length)
    .split(',')
    .map((u) => u.trim());
  if (upstreams.length === 1 && upstreams[0] === '') throw new Error(`no upstream after "${ARROW}" (expected ${FORM})`);
  if (upstreams.some((u) => u === '')) throw new Error(`an empty upstream address in ${JSON.stringify(text.slice(at + ARROW.length).trim())}`);
  if (left === '') return { match: undefined, upstreams };
  const match: Record<string, unknown> = {};
  const not: Record<string, unknown> = {};
  for (const part of left.split(',')) {
    const cond = part.trim();
    const m = /^([A-Za-z_][\w.-]*)\s*(!?=)\s*(.*)$/.exec(cond);
    if (!m) throw new Error(`${JSON.stringify(cond)} is not KEY=VALUE or KEY!=VALUE (expected ${FORM})`);
    const [, key, op, raw] = m as unknown as [string, string, string, string];
    if (raw.trim() === '') throw new Error(`no value for "${key}" (write ${key}=VALUE; "*" matches any value)`);
    put(op === '=' ? match : not, key, valueOf(raw.trim()));
  }
  if (Object.keys(not).length > 0) match['not'] = not;
  return { match, upstreams };
}

/** The listener's routes and clusters for `--route` flags (in order), then `--upstream`s as the last catch-all. */
export function routesFromFlags(listener: string, flags: readonly string[], upstreams: readonly string[]): { clusters: Array<Record<string, unknown>>; routes: Array<Record<string, unknown>> } {
  const clusters: Array<Record<string, unknown>> = [];
  const routes: Array<Record<string, unknown>> = [];
  flags.forEach((text, i) => {
    let parsed: RouteFlag;
    try {
      parsed = parseRouteFlag(text);
    } catch (err) {
      throw new Error(`--route #${i + 1} ${JSON.stringify(text)}: ${(err as Error).message}`, { cause: err });
    }
    const id = `route-${i + 1}`;
    clusters.push({ id, endpoints: parsed.upstreams });
    routes.push({ id, listener, cluster: id, ...(parsed.match ? { match: parsed.match } : {}) });
  });
  if (upstreams.length > 0) {
    clusters.push({ id: 'upstream', endpoints: [...upstreams] });
    routes.push({ id: 'default', listener, cluster: 'upstream' });
  }
  return { clusters, routes };
}
