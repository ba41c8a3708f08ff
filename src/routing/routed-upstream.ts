/**
 * One upstream connection of a request router: a socket from a cluster, a codec of its own to find where each
 * answer ends, and the exchanges waiting for their answers on it, oldest first.
 */
import type { Socket } from 'node:net';
import type { Attributes, MessageInfo, ProtocolCodec, ProtocolCodecFactory, RequestRoutingHooks, RoutedResponseFacts } from '../protocols/protocol.js';
import type { TrafficStats } from '../core/stats.js';
import { writeGathered } from '../session/gather.js';
import { readChunks } from '../net/chunk-reader.js';

/** What the router needs of a cluster (structurally: upstream/cluster.ts's Cluster). */
export interface RoutedCluster {
  readonly id: string;
  readonly stats: TrafficStats;
  connect(signal?: AbortSignal, hints?: { paused?: boolean | undefined; hash?: string | undefined }): Promise<Socket>;
  /** The caller's verdict on an exchange over a socket connect() returned (outlier ejection), when the cluster counts them. */
  report?(socket: Socket, outcome: 'ok' | 'reset' | 'protocol_error'): void;
  /** The cluster's counters, when it keeps them (`retries`: switchyard_upstream_retries_total). */
  readonly counters?: { retries: number } | undefined;
  readonly config: { readonly id: string; readonly hashKey?: string | undefined; readonly retryOn?: readonly string[] | undefined; readonly retries?: number | undefined; readonly retryBackoff?: number | undefined };
}

/** One request and its answer, in the client's order. */
export interface Exchange {
  /** Answer bytes received and not yet passed on to the client. */
  readonly chunks: Buffer[];
  /** Bytes of `chunks`. */
  held: number;
  /** Bytes of its answer already passed on to the client (a failure after that cannot be answered any more). */
  delivered: number;
  /** The answer is complete. */
  done: boolean;
  /** Answers still to come (a Redis SUBSCRIBE gets several). */
  left: number;
  /** Replayed setup on another connection: its answer is dropped, not delivered. */
  readonly discard: boolean;
  /** The connection is pinned to this exchange's upstream: every later answer byte belongs to it. */
  open: boolean;
  /** Where the request went (undefined: answered by the router). */
  conn: RoutedUpstream | undefined;
  /** The request's start attributes (its codec names it by them). */
  readonly attributes: Attributes | undefined;
  /** The request's bytes, kept while it may be retried (undefined: not retryable). */
  request: Buffer[] | undefined;
  /** The whole request was read (a retry needs all of it). */
  requestDone: boolean;
  attempts: number;
  /** A 5xx answer being dropped because the request is retried. */
  skipping: boolean;
  readonly startedAt: number;
  /** The route's request-duration histogram (observed when the answer is passed on). */
  readonly observe: { observe(seconds: number): void } | undefined;
  /** Set when the listener's traffic tail sampled this request: recorded once the answer is passed on. */
  trace?: ExchangeTrace | undefined;
}

/** A sampled request of a routed connection, for the listener's traffic tail. */
export interface ExchangeTrace {
  readonly at: number;
  readonly t0: number;
  readonly route: string | undefined;
  readonly cluster: string | undefined;
  answer: string | undefined;
  error: string | undefined;
  endpoint: string | undefined;
}

export interface UpstreamOwner {
  /** Answer bytes arrived for exchanges of this connection (deliver what is at the head of the line). */
  arrived(): void;
  /** The response start frame of `ex`: the router may retry it (returns true: drop this answer). */
  answerStarted(conn: RoutedUpstream, ex: Exchange, facts: RoutedResponseFacts): boolean;
  /** The response start frame of a sampled exchange (`ex.trace` set): its summary for the traffic tail. */
  traceAnswer(conn: RoutedUpstream, ex: Exchange, frame: Buffer): void;
  /** The connection failed (connect, reset, closed early): `pending` are its exchanges still waiting. */
  failed(conn: RoutedUpstream, pending: Exchange[], why: 'connect' | 'reset' | 'closed', err: unknown): void;
  /** The connection closed with nothing pending. */
  gone(conn: RoutedUpstream): void;
  /** Setup requests to send first on every new connection, with how many answers each gets. */
  readonly replays: readonly { bytes: Buffer; responses: number }[];
  readonly held: () => number;
  /** False for the exchange at the head of the line while the client takes answers: its connection keeps reading. */
  mayHold(ex: Exchange): boolean;
  /** Answer bytes were added to an exchange (counted until passed on). */
  grew(bytes: number): void;
  readonly holdLimit: number;
  /** True while the router routes one client write: writes are collected and leave at its end. */
  readonly batching: boolean;
  /** A connection collected its first bytes of the current client write. */
  touch(conn: RoutedUpstream): void;
}

const DISCARD_ATTRS = undefined;

/** An upstream connection of one client connection's router. */
export class RoutedUpstream {
  readonly cluster: RoutedCluster;
  socket: Socket | undefined;
  /** Exchanges waiting for answers on this connection, oldest first. */
  readonly inflight: Exchange[] = [];
  /** The server said it closes after the current answer: no new request goes here. */
  retired = false;
  /** Pinned: answer bytes go to the open exchange unparsed once the answers before it are complete. */
  raw = false;
  readonly #codec: ProtocolCodec;
  readonly #hooks: RequestRoutingHooks;
  readonly #owner: UpstreamOwner;
  /** Bytes written before the socket connected. */
  #queued: Buffer[] | undefined = [];
  #failed = false;
  #paused = false;
  #drainWaiters: Array<() => void> = [];

  /** `hash`: the balancer's hash value (ring_hash, maglev) of the request that opens the connection. */
  constructor(cluster: RoutedCluster, factory: ProtocolCodecFactory, hooks: RequestRoutingHooks, owner: UpstreamOwner, hash?: string) {
    this.cluster = cluster;
    this.#codec = factory.create();
    this.#hooks = hooks;
    this.#owner = owner;
    cluster.stats.total++;
    cluster.stats.active++;
    for (const r of owner.replays) this.#sendSetup(r.bytes, r.responses);
    cluster.connect(undefined, hash === undefined ? undefined : { hash }).then(
      (s) => this.#connected(s),
      (err: unknown) => this.#fail('connect', err),
    );
  }

  /** Requests waiting on this connection. */
  get load(): number {
    return this.inflight.length;
  }

  get usable(): boolean {
    return !this.retired && !this.#failed;
  }

  /**
   * Send request bytes: a start frame (`from`: the router's codec that framed it, with its start attributes), or more
   * frames of the current request. `ex`: the exchange waiting for its answer here.
   */
  send(bytes: Buffer, ex?: Exchange, from?: ProtocolCodec, attributes?: Attributes): boolean {
    if (ex !== undefined) this.inflight.push(ex);
    const hooks = this.#hooks;
    if (hooks.expect === undefined) return this.#write(bytes, true);
    // the codec pairs answers from what the router's codec knows: no second parse of the request
    if (from !== undefined && attributes !== undefined) hooks.expect(from, this.#codec, attributes);
    return this.#write(bytes, false);
  }

  /** Send bytes the codec must not see (a pinned connection's raw stream). */
  sendRaw(bytes: Buffer): boolean {
    return this.#write(bytes, false);
  }

  /** A setup request replayed here: its answers are dropped. */
  #sendSetup(bytes: Buffer, responses: number): void {
    if (responses > 0) this.inflight.push(discardExchange(responses));
    this.#write(bytes, true);
  }

  replaySetup(bytes: Buffer, responses: number): void {
    if (!this.#failed) this.#sendSetup(bytes, responses);
  }

  #write(bytes: Buffer, parse: boolean): boolean {
    if (parse) {
      const up = this.#codec.toUpstream;
      up.push(bytes);
      while (up.next() !== null);
    }
    if (this.#queued !== undefined) {
      this.#queued.push(bytes);
      return true;
    }
    const s = this.socket;
    if (s === undefined || s.destroyed) return true;
    if (this.#owner.batching) {
      // the frames of one client write (a head and its body) leave together, joined when adjacent (see flushBatch)
      if (this.#batch.length === 0) this.#owner.touch(this);
      this.#batch.push(bytes);
      return true;
    }
    return s.write(bytes);
  }

  #batch: Buffer[] = [];

  /** Write what the current client write collected for this connection; false when the socket is full. */
  flushBatch(): boolean {
    const batch = this.#batch;
    if (batch.length === 0) return true;
    this.#batch = [];
    const s = this.socket;
    if (s === undefined || s.destroyed) return true;
    return writeGathered(s, batch);
  }

  /** Resolves when the socket can take more (immediately when it can). */
  drained(): Promise<void> {
    const s = this.socket;
    if (s === undefined || s.destroyed || !s.writableNeedDrain) return Promise.resolve();
    return new Promise<void>((r) => this.#drainWaiters.push(r));
  }

  #connected(s: Socket): void {
    if (this.#failed) {
      s.destroy();
      return;
    }
    this.socket = s;
    readChunks(s, (chunk) => this.#data(chunk));
    s.on('error', (err: NodeJS.ErrnoException) => this.#fail(err.code === 'ECONNRESET' ? 'reset' : 'closed', err));
    s.on('end', () => {
      if (this.inflight.length > 0 && !this.#failed) this.#fail('closed', undefined);
      else s.end();
    });
    s.on('close', () => {
      this.cluster.stats.active--;
      if (this.inflight.length > 0 && !this.#failed) this.#fail('closed', undefined);
      else if (!this.#failed) {
        this.#failed = true;
        this.#owner.gone(this);
      }
      this.#wakeDrain();
    });
    s.on('drain', () => this.#wakeDrain());
    const queued = this.#queued!;
    this.#queued = undefined;
    if (queued.length === 1) s.write(queued[0]!);
    else if (queued.length > 1) s.write(Buffer.concat(queued));
    if (this.#endOnConnect) s.end();
    if (s.isPaused()) s.resume();
  }

  #wakeDrain(): void {
    const w = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const r of w) r();
  }

  #data(chunk: Buffer): void {
    if (this.raw && this.inflight.length === 1 && this.inflight[0]!.open) {
      this.#hold(this.inflight[0]!, chunk);
      this.#owner.arrived();
      this.#pauseIfFull();
      return;
    }
    const down = this.#codec.toDownstream;
    try {
      down.push(chunk);
      for (;;) {
        const frame = down.next();
        if (frame === null) break;
        this.#frame(frame, down.info!);
        if (this.raw && this.inflight.length === 1 && this.inflight[0]!.open) {
          // the answers before the pinning request are complete: the rest is the pinned stream's, unparsed
          const rest = down.takeBuffered();
          if (rest.length > 0) this.#hold(this.inflight[0]!, rest);
          break;
        }
      }
    } catch (err) {
      this.#fail('closed', err);
      return;
    }
    this.#owner.arrived();
    this.#pauseIfFull();
  }

  /** The router passed held answers on: read again. */
  resume(): void {
    if (this.#paused && this.socket !== undefined) {
      this.#paused = false;
      this.socket.resume();
    }
  }

  #frame(frame: Buffer, info: MessageInfo): void {
    const ex = this.inflight[0];
    if (ex === undefined) return; // an answer nobody asked for (the server misbehaves): dropped
    if (info.unsolicited === true) {
      if (!ex.discard) this.#hold(ex, frame);
      return;
    }
    if (info.start && ex.trace !== undefined && !ex.discard) this.#owner.traceAnswer(this, ex, frame);
    if (info.start && this.#hooks.response !== undefined && !ex.discard) {
      const facts = this.#hooks.response(this.#codec, frame);
      if (facts.close === true) this.retired = true;
      if (facts.status !== undefined && this.#owner.answerStarted(this, ex, facts)) ex.skipping = true;
    }
    if (ex.skipping) {
      if (info.end) {
        ex.skipping = false;
        this.inflight.shift();
      }
      return;
    }
    if (!ex.discard) this.#hold(ex, frame);
    if (info.end && !ex.open) {
      ex.left--;
      if (ex.left <= 0) {
        ex.done = true;
        this.inflight.shift();
        if (!ex.discard && this.socket !== undefined) this.cluster.report?.(this.socket, 'ok');
      }
    }
  }

  #hold(ex: Exchange, bytes: Buffer): void {
    ex.chunks.push(bytes);
    ex.held += bytes.length;
    this.#owner.grew(bytes.length);
  }

  /** Too many answer bytes are held for the client: stop reading until the router passed them on. */
  #pauseIfFull(): void {
    const first = this.inflight[0];
    // the answer at the head of the line is passed on as it comes (unless the client is full): never held back
    if (first !== undefined && !this.#owner.mayHold(first)) return;
    if (this.#owner.held() > this.#owner.holdLimit && this.socket !== undefined && !this.#paused) {
      this.#paused = true;
      this.socket.pause();
    }
  }

  #fail(why: 'connect' | 'reset' | 'closed', err: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    if (why === 'connect') this.cluster.stats.active--;
    const pending = this.inflight.splice(0).filter((e) => !e.discard);
    if (this.socket !== undefined && why !== 'connect') this.cluster.report?.(this.socket, 'reset');
    this.socket?.destroy();
    this.#wakeDrain();
    this.#owner.failed(this, pending, why, err);
  }

  /** The client's FIN, for a pinned connection: after what was written (once connected, if it is not yet). */
  end(): void {
    if (this.#queued !== undefined) this.#endOnConnect = true;
    else this.socket?.end();
  }

  #endOnConnect = false;

  /** Close this connection (the client went away, or the router is done with it). */
  close(reset = false): void {
    this.#failed = true;
    const s = this.socket;
    if (s === undefined || s.destroyed) return;
    if (reset) s.resetAndDestroy();
    else if (this.inflight.length === 0) s.end();
    else s.destroy();
  }
}

function discardExchange(responses: number): Exchange {
  return {
    chunks: [],
    held: 0,
    delivered: 0,
    done: false,
    left: responses,
    discard: true,
    open: false,
    conn: undefined,
    attributes: DISCARD_ATTRS,
    request: undefined,
    requestDone: true,
    attempts: 1,
    skipping: false,
    startedAt: 0,
    observe: undefined,
    trace: undefined,
  };
}
