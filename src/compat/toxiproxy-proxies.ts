/**
 * The Toxiproxy model on top of a Switchyard: a proxy named N is a listener `N` (with a fault stage), a cluster
 * `N.upstream` holding its one upstream and a route `N.route` between them; its toxics are the faults of
 * `yard.faultSet(N)` (worked on by toxiproxy-toxics.ts). Everything Toxiproxy's API does to proxies lives here,
 * with Toxiproxy's error messages and status codes (api.go, proxy.go, proxy_collection.go).
 */
import type { Address } from '../core/address.js';
import type { Switchyard } from '../runtime/switchyard.js';
import type { FaultSet } from '../faults/fault-set.js';
import { formatAddress, parseAddress } from '../core/address.js';
import { parseObjectConfig } from '../runtime/config.js';
import { createToxiproxyMetricsRegistry, type ToxiproxyMetricSource } from '../runtime/metrics.js';
import type { Registry } from 'prom-client';
import { ID_PATTERN } from '../config/fields.js';
import { TcpListener } from '../listeners/tcp.js';
import { HttpError } from '../http-kit/http-error.js';
import { Errors, pickFields, parseJson, jsonKind, PROXY_FIELDS, toxicJson, type ProxyInput, type ProxyJson } from './toxiproxy-json.js';

/** Where a proxy without `listen` binds (Toxiproxy: every interface). */
export const DEFAULT_LISTEN = '127.0.0.1:0';

/** Derived ids leave room for the `.upstream` / `.route` suffixes inside the 128-character id limit. */
const MAX_NAME = 100;

interface ProxyEntry {
  readonly name: string;
  upstream: string;
  /** The listen address as requested (port 0 = any). */
  listen: Address;
  /** The last address the listener was bound to (kept while disabled: the port is reused when enabled again). */
  bound: Address | undefined;
}

/** The proxies of one Toxiproxy API (those created through it), kept as Switchyard run-time objects. */
export class ToxiproxyCollection {
  readonly yard: Switchyard;
  readonly #proxies = new Map<string, ProxyEntry>();
  /** Mutations of one proxy run one after the other; reads and other proxies never wait for them. */
  readonly #queues = new Map<string, Promise<void>>();

  /** Toxiproxy's `-proxy-metrics` series for these proxies (read from the listeners' stats at scrape time). */
  readonly metrics: Registry;

  constructor(yard: Switchyard) {
    this.yard = yard;
    this.metrics = createToxiproxyMetricsRegistry(() => this.#metricSources());
  }

  *#metricSources(): Iterable<ToxiproxyMetricSource> {
    for (const name of this.names()) {
      const e = this.#proxies.get(name);
      const listener = this.yard.listeners.get(name);
      if (e && listener) yield { proxy: name, listener: this.#listen(e), upstream: e.upstream, stats: listener.stats };
    }
  }

  /** The compatibility API's `/metrics`: the yard's own series, then Toxiproxy's proxy series. */
  async metricsText(): Promise<string> {
    return `${await this.yard.metrics.metrics()}${await this.metrics.metrics()}`;
  }

  #serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#queues.get(name) ?? Promise.resolve();
    const run = prev.then(fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(name, tail);
    void tail.then(() => {
      if (this.#queues.get(name) === tail) this.#queues.delete(name);
    });
    return run;
  }

  /** Forget proxies whose listener was removed behind our back (native admin API); never during an operation. */
  #prune(): void {
    for (const name of [...this.#proxies.keys()]) {
      if (this.yard.listeners.has(name) || this.#queues.has(name)) continue;
      this.#proxies.delete(name);
      void this.#dropObjects(name).catch(() => undefined);
    }
  }

  names(): string[] {
    this.#prune();
    return [...this.#proxies.keys()];
  }

  #entry(name: string): ProxyEntry {
    this.#prune();
    const e = this.#proxies.get(name);
    if (!e) throw Errors.proxyNotFound();
    return e;
  }

  #set(name: string): FaultSet {
    return this.yard.faultSet(name);
  }

  #listen(e: ProxyEntry): string {
    const a = this.yard.listeners.get(e.name)?.address;
    if (a) e.bound = a;
    return formatAddress(e.bound ?? e.listen);
  }

  proxyJson(name: string): ProxyJson {
    const e = this.#entry(name);
    const set = this.#set(name);
    return { name: e.name, listen: this.#listen(e), upstream: e.upstream, enabled: set.enabled, toxics: set.list().map(toxicJson) };
  }

  all(): Record<string, ProxyJson> {
    const out: Record<string, ProxyJson> = {};
    for (const name of this.names()) out[name] = this.proxyJson(name);
    return out;
  }

  // ---- proxies --------------------------------------------------------------------------------------------------

  /** POST /proxies: 201 with the proxy, 409 when the name is taken, 500 when it cannot listen. */
  async create(input: ProxyInput): Promise<ProxyJson> {
    const checked = this.#check(input, '');
    return this.#serial(checked.name, async () => {
      this.#prune();
      if (this.#proxies.has(checked.name) || this.#takenByOthers(checked.name)) throw Errors.proxyExists();
      await this.#start(checked.name, checked.listen, checked.upstream, checked.enabled);
      return this.proxyJson(checked.name);
    });
  }

  /** Validate a proxy's fields (Toxiproxy's checks, then ours: a usable id and parseable addresses). */
  #check(input: ProxyInput, suffix: string): { name: string; listen: Address; upstream: string; enabled: boolean } {
    if (!input.name) throw Errors.missing(`name${suffix}`);
    if (!input.upstream) throw Errors.missing(`upstream${suffix}`);
    const name = input.name;
    if (!ID_PATTERN.test(name) || name.length > MAX_NAME) {
      throw Errors.badRequest(`invalid proxy name ${JSON.stringify(name)}${suffix}: switchyard uses it as a listener id, so it must be 1-${MAX_NAME} letters, digits, "_", "." or "-", starting with a letter or digit`);
    }
    const listen = this.#address(input.listen || DEFAULT_LISTEN, 'listen', suffix);
    this.#address(input.upstream, 'upstream', suffix);
    return { name, listen, upstream: input.upstream, enabled: input.enabled ?? true };
  }

  #address(text: string, field: 'listen' | 'upstream', suffix: string): Address {
    let a: Address;
    try {
      a = parseAddress(text, { role: field === 'listen' ? 'listen' : 'connect' });
    } catch (err) {
      throw Errors.badRequest(`invalid ${field}${suffix}: ${(err as Error).message}`);
    }
    if (a.kind !== 'tcp') throw Errors.badRequest(`invalid ${field}${suffix}: ${JSON.stringify(text)} is a unix socket; Toxiproxy proxies are TCP (HOST:PORT)`);
    return a;
  }

  #takenByOthers(name: string): boolean {
    return this.yard.listeners.has(name) || this.yard.clusters.has(`${name}.upstream`) || this.yard.routes.has(`${name}.route`);
  }

  /** Create cluster, route and listener (rolled back on failure). The fault set (toxics) is left as it is. */
  async #start(name: string, listen: Address, upstream: string, enabled: boolean): Promise<void> {
    const set = this.#set(name);
    const entry: ProxyEntry = { name, upstream, listen, bound: undefined };
    set.setEnabled(enabled);
    await this.#addUpstream(name, upstream);
    try {
      await this.#addListener(name, listen);
    } catch (err) {
      await this.#removeUpstream(name).catch(() => undefined);
      set.setEnabled(true);
      if (set.size === 0) this.yard.faultSets.delete(name);
      throw err;
    }
    this.#proxies.set(name, entry);
  }

  async #addUpstream(name: string, upstream: string): Promise<void> {
    const cluster = parseObjectConfig('cluster', { id: `${name}.upstream`, endpoints: [upstream] });
    await this.yard.addCluster(cluster);
    try {
      await this.yard.addRoute(parseObjectConfig('route', { id: `${name}.route`, listener: name, cluster: cluster.id }));
    } catch (err) {
      await this.yard.removeCluster(cluster.id).catch(() => undefined);
      throw err;
    }
  }

  async #removeUpstream(name: string): Promise<void> {
    if (this.yard.routes.has(`${name}.route`)) await this.yard.removeRoute(`${name}.route`);
    if (this.yard.clusters.has(`${name}.upstream`)) await this.yard.removeCluster(`${name}.upstream`);
  }

  async #addListener(name: string, listen: Address): Promise<void> {
    // `faults: []` puts every connection through the fault stage, so toxics reach live connections.
    const config = parseObjectConfig('listener', { id: name, listen: formatAddress(listen), faults: [] }, this.yard.framers);
    try {
      await this.yard.addListener(config);
    } catch (err) {
      // Toxiproxy answers listen errors with 500 and Go's error text (clients compare it).
      throw Errors.internal(goListenError(err, listen));
    }
  }

  async #dropObjects(name: string): Promise<void> {
    if (this.yard.listeners.has(name)) await this.yard.removeListener(name, { drainTimeout: 0 });
    await this.#removeUpstream(name);
  }

  /** Stop and forget a proxy, its toxics and its enabled state. */
  async #destroy(name: string): Promise<void> {
    this.#proxies.delete(name);
    await this.#dropObjects(name);
    const set = this.yard.faultSets.get(name);
    if (set) {
      set.clear();
      set.setEnabled(true);
      this.yard.faultSets.delete(name);
    }
  }

  /** DELETE /proxies/{name}: 204; live connections closed, port freed. */
  async remove(name: string): Promise<void> {
    this.#entry(name);
    await this.#serial(name, async () => {
      if (!this.#proxies.has(name)) throw Errors.proxyNotFound();
      await this.#destroy(name);
    });
  }

  /**
   * POST/PATCH /proxies/{name}: missing fields keep their values, `name` is ignored. A different listen or upstream
   * restarts the proxy (live connections closed, toxics kept); `enabled` takes it down or up on the same port.
   */
  async update(name: string, input: ProxyInput): Promise<ProxyJson> {
    this.#entry(name);
    const listen = input.listen ? this.#address(input.listen, 'listen', '') : undefined;
    if (input.upstream) this.#address(input.upstream, 'upstream', '');
    return this.#serial(name, async () => {
      const e = this.#proxies.get(name);
      if (!e) throw Errors.proxyNotFound();
      const set = this.#set(name);
      const newListen = listen && !this.#sameListen(e, listen) ? listen : undefined;
      const newUpstream = input.upstream && input.upstream !== e.upstream ? input.upstream : undefined;
      if (newListen || newUpstream) {
        await this.#restart(e, newListen, newUpstream, input.enabled ?? set.enabled);
      } else if (input.enabled !== undefined) {
        await this.#setEnabled(e, input.enabled);
      }
      return this.proxyJson(name);
    });
  }

  /** Same listen: as requested, or where it is bound now (a client sending back what GET showed). */
  #sameListen(e: ProxyEntry, listen: Address): boolean {
    const text = formatAddress(listen);
    return text === formatAddress(e.listen) || text === this.#listen(e);
  }

  async #restart(e: ProxyEntry, listen: Address | undefined, upstream: string | undefined, enabled: boolean): Promise<void> {
    const set = this.#set(e.name);
    this.#listen(e);
    const oldUpstream = e.upstream;
    // Re-listen on the bound port unless the listen address changes (an ephemeral port stays the same).
    const oldListen = e.bound ?? e.listen;
    if (this.yard.listeners.has(e.name)) await this.yard.removeListener(e.name, { drainTimeout: 0 });
    if (upstream) {
      await this.#removeUpstream(e.name);
      try {
        await this.#addUpstream(e.name, upstream);
      } catch (err) {
        await this.#addUpstream(e.name, oldUpstream).catch(() => undefined);
        await this.#addListener(e.name, oldListen).catch(() => undefined);
        throw err;
      }
      e.upstream = upstream;
    }
    set.setEnabled(enabled);
    try {
      await this.#addListener(e.name, listen ?? oldListen);
    } catch (err) {
      if (listen) {
        // The new address cannot be bound: keep the proxy where it was.
        await this.#addListener(e.name, oldListen).catch(() => undefined);
      }
      throw err;
    }
    if (listen) {
      e.listen = listen;
      e.bound = undefined;
    }
  }

  /** Take the listener down or up and wait until that happened (connections refused / port listening). */
  async #setEnabled(e: ProxyEntry, enabled: boolean): Promise<void> {
    const set = this.#set(e.name);
    this.#listen(e);
    set.setEnabled(enabled);
    const listener = this.yard.listeners.get(e.name);
    if (listener instanceof TcpListener) await listener.settled();
    if (!enabled) return;
    const l = this.yard.listeners.get(e.name);
    if (l && l.state === 'started') return;
    // The listener could not listen again (port taken meanwhile) or is gone: build it afresh.
    if (l) await this.yard.removeListener(e.name, { drainTimeout: 0 }).catch(() => undefined);
    try {
      await this.#addListener(e.name, e.bound ?? e.listen);
    } catch (err) {
      set.setEnabled(false);
      throw err;
    }
  }

  // ---- populate and reset ---------------------------------------------------------------------------------------

  /**
   * POST /populate, as Toxiproxy does it: first every entry is checked for Toxiproxy's own required fields (a
   * missing `name` or `upstream` → 400, nothing created or changed). Then, in order: the same name, listen and
   * upstream → kept untouched (toxics, enabled); a different one → replaced (toxics lost); new → created. Any other
   * error of an entry (a malformed address, a name switchyard cannot use as an id, a port in use) stops there with
   * a 500 (Toxiproxy finds bad addresses only when it listens); the proxies handled so far stay and are returned.
   */
  async populate(text: string): Promise<{ proxies: ProxyJson[]; error?: HttpError }> {
    const value = parseJson(text);
    const list = value === null ? [] : value;
    if (!Array.isArray(list)) throw Errors.badBody(`json: cannot unmarshal ${jsonKind(list)} into Go value of type []toxiproxy.Proxy`);
    const inputs = list.map((item: unknown, i): ProxyInput => {
      if (item === null) return {};
      if (typeof item !== 'object' || Array.isArray(item)) throw Errors.badBody(`json: cannot unmarshal ${jsonKind(item)} into Go value of type toxiproxy.Proxy (proxy ${i + 1})`);
      return pickFields(item as Record<string, unknown>, PROXY_FIELDS, 'Proxy');
    });
    inputs.forEach((input, i) => {
      if (!input.name) throw Errors.missing(`name at proxy ${i + 1}`);
      if (!input.upstream) throw Errors.missing(`upstream at proxy ${i + 1}`);
    });
    const done: ProxyJson[] = [];
    for (const [i, input] of inputs.entries()) {
      try {
        const c = this.#check(input, ` at proxy ${i + 1}`);
        await this.#serial(c.name, async () => {
          this.#prune();
          const e = this.#proxies.get(c.name);
          if (e && e.upstream === c.upstream && this.#sameListen(e, c.listen)) return;
          if (e) await this.#destroy(c.name);
          else if (this.#takenByOthers(c.name)) throw Errors.proxyExists();
          await this.#start(c.name, c.listen, c.upstream, c.enabled);
        });
        done.push(this.proxyJson(c.name));
      } catch (err) {
        // Toxiproxy's own answers (409 proxy already exists) keep their status; everything else is its 500.
        const error = err instanceof HttpError && err.status !== 400 ? err : Errors.internal((err as Error).message);
        return { proxies: done, error };
      }
    }
    return { proxies: done };
  }

  /** POST /reset: every proxy enabled again, every toxic removed; proxies stay. */
  async reset(): Promise<void> {
    const errors: Error[] = [];
    await Promise.all(
      this.names().map((name) =>
        this.#serial(name, async () => {
          const e = this.#proxies.get(name);
          if (!e) return;
          this.#set(name).clear();
          await this.#setEnabled(e, true);
        }).catch((err: Error) => errors.push(err)),
      ),
    );
    const first = errors[0];
    if (first) throw first instanceof HttpError ? first : Errors.internal(first.message);
  }

  // ---- toxics ---------------------------------------------------------------------------------------------------

  /** The fault set holding a proxy's toxics (404 `proxy not found` when there is no such proxy). */
  toxicsOf(proxy: string): FaultSet {
    this.#entry(proxy);
    return this.#set(proxy);
  }
}

/** Go's bind error codes as its `net` package words them (`syscall.Errno` strings). */
const GO_BIND_ERRORS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'cannot assign requested address',
  EACCES: 'permission denied',
};

/**
 * A listen failure in Toxiproxy's (Go's) wording, e.g. `listen tcp 127.0.0.1:3310: bind: address already in use`;
 * anything that is not a bind error keeps its own message.
 */
export function goListenError(err: unknown, listen: Address): string {
  const cause = (err as { cause?: unknown }).cause ?? err;
  const sys = cause as { code?: unknown; address?: unknown; port?: unknown; syscall?: unknown };
  const words = typeof sys.code === 'string' ? GO_BIND_ERRORS[sys.code] : undefined;
  if (!words) return (err as Error).message;
  let where = formatAddress(listen);
  if (typeof sys.address === 'string' && typeof sys.port === 'number') where = formatAddress({ kind: 'tcp', host: sys.address, port: sys.port });
  return `listen tcp ${where}: bind: ${words}`;
}
