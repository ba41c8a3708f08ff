/**
 * Frame-level HTTP/2 client connections toward one cluster's endpoints, shared by the calls of every client
 * connection (the frame engine's {@link H2Pool}): endpoints are picked by the cluster's balancer; a connection is
 * used while it has room under the peer's SETTINGS_MAX_CONCURRENT_STREAMS, else another one is opened; a connection
 * that got GOAWAY or failed is forgotten at once (its streams end as its sinks are told).
 */
import net from 'node:net';
import type { Address } from '../../core/address.js';
import { formatAddress } from '../../core/address.js';
import type { Cluster } from '../../upstream/cluster.js';
import { SESSION_WINDOW, STREAM_WINDOW, UpstreamError } from '../pool.js';
import { ClientConnection } from './client.js';
import type { H2Stream, StreamSink } from './connection.js';

/** Index of `:authority`'s value in a request field list given to {@link FramePool.open} ('' = the endpoint's). */
export const AUTHORITY_SLOT = 7;

interface Pooled {
  conn: ClientConnection | undefined;
  ready: Promise<void>;
  connected: boolean;
  dead: boolean;
  /** Streams promised to callers waiting for the connection. */
  reserved: number;
}

export class FramePool {
  readonly #cluster: Cluster;
  readonly #byEndpoint = new Map<string, Pooled[]>();
  #closed = false;
  sessionsOpened = 0;

  constructor(cluster: Cluster) {
    this.#cluster = cluster;
  }

  get cluster(): Cluster {
    return this.#cluster;
  }

  get sessions(): number {
    let n = 0;
    for (const list of this.#byEndpoint.values()) n += list.length;
    return n;
  }

  /**
   * Open a stream on the next endpoint: `fields` is `[':method', m, ':scheme', s, ':path', p, ':authority', a, ...]`
   * (`a` '' = the endpoint's HOST:PORT, set here). The stream itself when a connected connection has room, else a
   * promise of it. Throws (rejects with) {@link UpstreamError}.
   */
  open(fields: string[], endStream: boolean, sink: StreamSink): H2Stream | Promise<H2Stream> {
    if (this.#closed) throw new UpstreamError(`cluster '${this.#cluster.id}' is closed`);
    let address: Address;
    try {
      address = this.#cluster.pickAddress();
    } catch (err) {
      throw new UpstreamError((err as Error).message, { cause: err });
    }
    const key = formatAddress(address);
    if (fields[AUTHORITY_SLOT] === '') fields[AUTHORITY_SLOT] = key;
    const p = this.#pick(key, address);
    if (p.connected && p.conn && p.conn.available) return p.conn.request(fields, endStream, sink);
    return this.#later(key, address, p, fields, endStream, sink);
  }

  async #later(key: string, address: Address, first: Pooled, fields: string[], endStream: boolean, sink: StreamSink): Promise<H2Stream> {
    let p = first;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) p = this.#pick(key, address);
      p.reserved++;
      try {
        await p.ready;
      } catch (err) {
        throw new UpstreamError(`cluster '${this.#cluster.id}': cannot reach ${key}: ${(err as Error).message}`, { cause: err });
      } finally {
        p.reserved--;
      }
      const c = p.conn;
      if (c && (c.available || (attempt >= 8 && !c.destroyed && !c.goawaySent && c.goawayReceived === undefined))) return c.request(fields, endStream, sink);
      if (attempt >= 8) throw new UpstreamError(`cluster '${this.#cluster.id}': ${key}: no connection with room for a stream`);
    }
  }

  #pick(key: string, address: Address): Pooled {
    let list = this.#byEndpoint.get(key);
    if (!list) this.#byEndpoint.set(key, (list = []));
    for (const p of list) {
      if (p.dead) continue;
      if (!p.connected) {
        // connecting: its room is not known yet; the first SETTINGS usually allow 100+
        if (p.reserved < 100) return p;
        continue;
      }
      const c = p.conn!;
      if (c.available && c.streams.size + p.reserved < c.peerMaxStreams) return p;
    }
    const p = this.#connect(key, address);
    list.push(p);
    return p;
  }

  #connect(key: string, address: Address): Pooled {
    const cfg = this.#cluster.config;
    this.sessionsOpened++;
    const p: Pooled = { conn: undefined, ready: Promise.resolve(), connected: false, dead: false, reserved: 0 };
    p.ready = new Promise<void>((resolve, reject) => {
      const socket = address.kind === 'tcp' ? net.connect({ host: address.host, port: address.port, noDelay: true }) : net.connect({ path: address.path });
      const timer = setTimeout(() => {
        reject(new Error(`connect timed out after ${cfg.connectTimeout} ms`));
        this.#forget(key, p);
        socket.destroy();
      }, cfg.connectTimeout);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
        this.#forget(key, p);
      });
      socket.once('connect', () => {
        p.conn = new ClientConnection(socket, { streamWindow: STREAM_WINDOW, connectionWindow: SESSION_WINDOW, maxHeaderListSize: 64 * 1024 }, {
          onReady: () => {
            clearTimeout(timer);
            p.connected = true;
            resolve();
          },
          onDraining: () => this.#forget(key, p),
          onClose: () => {
            clearTimeout(timer);
            reject(new Error('connection closed before it was ready'));
            this.#forget(key, p);
          },
        });
      });
    });
    p.ready.catch(() => undefined);
    return p;
  }

  #forget(key: string, p: Pooled): void {
    p.dead = true;
    const list = this.#byEndpoint.get(key);
    if (!list) return;
    const i = list.indexOf(p);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#byEndpoint.delete(key);
  }

  close(): void {
    this.#closed = true;
    for (const list of this.#byEndpoint.values()) for (const p of list) p.conn?.destroy();
    this.#byEndpoint.clear();
  }
}
