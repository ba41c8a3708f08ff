/**
 * HTTP/2 client sessions toward one cluster's endpoints, shared by many streams. A session is reused while it has
 * room under the peer's `maxConcurrentStreams`; when every session of the endpoint is full another one is opened.
 * A session that goes away (GOAWAY, socket error, close) is forgotten at once, so the next stream opens a fresh one;
 * the streams it carried see their `close` and are answered UNAVAILABLE by the call (see {@link sessionLost}).
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Address } from '../core/address.js';
import { formatAddress } from '../core/address.js';
import { buildClientTlsOptions } from '../core/tls.js';
import type { Cluster } from '../upstream/cluster.js';

/** Window sizes toward upstreams: large enough for throughput, still a bound on what one stream may buffer. */
export const STREAM_WINDOW = 1024 * 1024;
export const SESSION_WINDOW = 16 * 1024 * 1024;

interface PooledSession {
  readonly session: ClientHttp2Session;
  /** Resolves once the session is connected (rejects when it could not connect). */
  readonly ready: Promise<void>;
  streams: number;
  dead: boolean;
  /** The peer's SETTINGS arrived (`ready` resolved): a stream can be opened at once. */
  connected: boolean;
}

const lost = new WeakSet<ClientHttp2Session>();

/** True when the stream's session went away (GOAWAY, socket error or close) — its reset means "connection dropped". */
export function sessionLost(stream: ClientHttp2Stream): boolean {
  return lost.has(stream.session as ClientHttp2Session) || stream.session === undefined || stream.session.destroyed;
}

/** The peer's maxConcurrentStreams (Node reports 2^32-1 until its SETTINGS arrive). */
function maxStreams(session: ClientHttp2Session): number {
  return session.remoteSettings.maxConcurrentStreams ?? 100;
}

export class UpstreamError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UpstreamError';
  }
}

/** One cluster's HTTP/2 sessions, by endpoint. */
export class H2Pool {
  readonly #cluster: Cluster;
  readonly #byEndpoint = new Map<string, PooledSession[]>();
  #closed = false;
  /** Sessions opened since start (admin API, tests). */
  sessionsOpened = 0;

  constructor(cluster: Cluster) {
    this.#cluster = cluster;
  }

  get cluster(): Cluster {
    return this.#cluster;
  }

  /** Live sessions now. */
  get sessions(): number {
    let n = 0;
    for (const list of this.#byEndpoint.values()) n += list.length;
    return n;
  }

  /**
   * Open a stream to the next endpoint. `headers` must not hold `:authority`/`:scheme` unless the caller wants them
   * kept (`authority` undefined = the endpoint's). Rejects with {@link UpstreamError} when no session can be had.
   */
  async open(headers: OutgoingHttpHeaders, authority: string | undefined): Promise<ClientHttp2Stream> {
    return this.openNow({ ...headers }, authority);
  }

  /**
   * {@link open} without a promise when it can: the stream itself when the endpoint has a connected session with
   * room (the common case, and the per-call path of the engine), else a promise of it. `headers` is taken over (the
   * pool adds `:scheme` and `:authority` to it). Throws (or rejects with) {@link UpstreamError}.
   */
  openNow(headers: OutgoingHttpHeaders, authority: string | undefined): ClientHttp2Stream | Promise<ClientHttp2Stream> {
    if (this.#closed) throw new UpstreamError(`cluster '${this.#cluster.id}' is closed`);
    let address: Address;
    try {
      address = this.#cluster.pickAddress();
    } catch (err) {
      throw new UpstreamError((err as Error).message, { cause: err });
    }
    const key = formatAddress(address);
    const pooled = this.#sessionFor(key, address);
    if (pooled.connected && pooled.streams < maxStreams(pooled.session)) {
      pooled.streams++;
      return this.#request(key, pooled, headers, authority);
    }
    return this.#openLater(key, address, pooled, headers, authority);
  }

  async #openLater(key: string, address: Address, first: PooledSession, headers: OutgoingHttpHeaders, authority: string | undefined): Promise<ClientHttp2Stream> {
    let pooled = first;
    // A new session's limit is known once its peer's SETTINGS arrived: a stream that finds it over the limit then
    // looks again (bounded; the last try takes the session as it is and lets the peer queue or refuse).
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) pooled = this.#sessionFor(key, address);
      const slot = pooled.streams++;
      try {
        await pooled.ready;
      } catch (err) {
        pooled.streams--;
        throw new UpstreamError(`cluster '${this.#cluster.id}': cannot reach ${key}: ${(err as Error).message}`, { cause: err });
      }
      if (slot < maxStreams(pooled.session) || attempt >= 8) break;
      pooled.streams--;
    }
    return this.#request(key, pooled, headers, authority);
  }

  /** The stream itself, on a session whose slot was taken (`streams` counted). */
  #request(key: string, pooled: PooledSession, headers: OutgoingHttpHeaders, authority: string | undefined): ClientHttp2Stream {
    headers[':scheme'] = this.#cluster.config.tls !== undefined ? 'https' : 'http';
    headers[':authority'] = authority ?? key;
    let stream: ClientHttp2Stream;
    try {
      stream = pooled.session.request(headers, { endStream: false });
    } catch (err) {
      pooled.streams--;
      this.#forget(key, pooled);
      throw new UpstreamError(`cluster '${this.#cluster.id}': ${key}: ${(err as Error).message}`, { cause: err });
    }
    // ('on', not 'once': a stream closes once, and 'once' wraps the listener in two more objects per call)
    stream.on('close', () => pooled.streams--);
    return stream;
  }

  #sessionFor(key: string, address: Address): PooledSession {
    let list = this.#byEndpoint.get(key);
    if (!list) {
      list = [];
      this.#byEndpoint.set(key, list);
    }
    for (const p of list) {
      if (p.dead || p.session.closed || p.session.destroyed) continue;
      if (p.streams < maxStreams(p.session)) return p;
    }
    const p = this.#connect(key, address);
    list.push(p);
    return p;
  }

  #connect(key: string, address: Address): PooledSession {
    const cfg = this.#cluster.config;
    const options: http2.SecureClientSessionOptions = {
      settings: { initialWindowSize: STREAM_WINDOW, enablePush: false },
      maxSessionMemory: 64,
    };
    let url: string;
    if (cfg.tls) {
      const host = address.kind === 'tcp' ? address.host : 'localhost';
      const tlsOptions = { ...buildClientTlsOptions(cfg.tls, host), ALPNProtocols: ['h2'] };
      url = `https://${address.kind === 'tcp' ? key : 'localhost'}`;
      const createConnection = (): Duplex => tls.connect({ ...tlsOptions, ...(address.kind === 'tcp' ? { host: address.host, port: address.port } : { path: address.path }) });
      options.createConnection = createConnection;
    } else {
      url = `http://${address.kind === 'tcp' ? key : 'localhost'}`;
      const createConnection = (): Duplex => (address.kind === 'tcp' ? net.connect({ host: address.host, port: address.port, noDelay: true }) : net.connect({ path: address.path }));
      options.createConnection = createConnection;
    }
    const session = http2.connect(url, options);
    this.sessionsOpened++;
    const pooled: PooledSession = { session, ready: Promise.resolve(), streams: 0, dead: false, connected: false };
    const gone = (): void => {
      lost.add(session);
      this.#forget(key, pooled);
    };
    (pooled as { ready: Promise<void> }).ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`connect timed out after ${cfg.connectTimeout} ms`));
        session.destroy();
      }, cfg.connectTimeout);
      // Ready once the peer's SETTINGS arrived (its maxConcurrentStreams is known then).
      session.once('remoteSettings', () => {
        clearTimeout(timer);
        session.setLocalWindowSize(SESSION_WINDOW);
        pooled.connected = true;
        resolve();
      });
      session.once('close', () => {
        clearTimeout(timer);
        reject(new Error('session closed before it connected'));
      });
      session.on('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    pooled.ready.catch(() => undefined);
    session.on('goaway', gone);
    session.on('close', gone);
    session.on('error', gone);
    session.on('frameError', () => undefined);
    return pooled;
  }

  #forget(key: string, pooled: PooledSession): void {
    pooled.dead = true;
    const list = this.#byEndpoint.get(key);
    if (!list) return;
    const i = list.indexOf(pooled);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#byEndpoint.delete(key);
  }

  /** Close every session (streams in flight are cancelled). */
  close(): void {
    this.#closed = true;
    for (const list of this.#byEndpoint.values()) for (const p of list) p.session.destroy();
    this.#byEndpoint.clear();
  }

  toJSON(): Record<string, unknown> {
    return { cluster: this.#cluster.id, sessions: this.sessions, sessionsOpened: this.sessionsOpened };
  }
}
