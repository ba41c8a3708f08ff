import type { Socket } from 'node:net';
import type { MergeConfig } from '../config/replication.js';
import { ErrorCodes } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Frame } from '../framing/framer.js';
import type { MergeStartup, MessageInfo, VariantStartup } from '../protocols/protocol.js';
import type { ProtocolRegistry } from '../protocols/registry.js';
import type { AcceptContext, EngineLatency, EngineSession, RouteEngine } from '../routing/engine.js';
import type { Cluster } from '../upstream/cluster.js';
import { buildComparator, validateNormalise, type Comparator } from '../compare/comparator.js';
import { DivergenceReporter } from './divergence-report.js';
import type { DivergenceLog } from './events.js';
import { LatencyHistogram } from '../core/latency.js';
import { NoiseModel } from '../compare/noise.js';
import { MergeConn, MergeGroup, type MergeOwner } from './merge-group.js';
import { readChunks } from '../net/chunk-reader.js';

/**
 * The engine of a `merge` route (RDDR's outgoing proxy): N variants of a service call one backend through it.
 * The k-th connection of every variant forms a group that shares ONE backend connection. Each request is
 * compared across the N variants; if they agree one copy goes to the backend and its answer is replicated to
 * all N; if they diverge (or one stays silent past the timeout) every variant gets the protocol's error, the
 * group is closed and a divergence is recorded. A protocol module with a merge-startup hook (PostgreSQL) has the
 * proxy answer each variant's connection startup and perform the group's startup toward the backend.
 */
export class Merger implements RouteEngine, MergeOwner {
  readonly n: number;
  readonly names: string[];
  readonly latency = new LatencyHistogram();
  readonly noise = new NoiseModel();
  readonly report: DivergenceReporter;
  readonly #waiting: MergeConn[][];
  readonly #groups = new Set<MergeGroup>();
  readonly #comparators = new Map<string, Comparator>();
  /** Merge-startup terminators by protocol name (undefined: the protocol's startup is merged like any request). */
  readonly #startups = new Map<string, MergeStartup | undefined>();
  #groupsFormed = 0;

  constructor(
    readonly route: string,
    readonly config: MergeConfig,
    readonly backend: Cluster,
    readonly deps: { log: DivergenceLog; logger: Logger; protocols: ProtocolRegistry },
  ) {
    this.report = new DivergenceReporter(deps.log, route, 'merge');
    this.n = config.sources.length > 0 ? config.sources.length : config.listeners.length;
    this.names = config.names.length > 0 ? config.names : Array.from({ length: this.n }, (_, i) => `v${i + 1}`);
    this.#waiting = Array.from({ length: this.n }, () => []);
    validateNormalise(config.normalise);
  }

  comparator(protocol: string): Comparator {
    let c = this.#comparators.get(protocol);
    if (!c) {
      // Each variant reaches the merge on its own address: the lifter leaves out what names that address.
      this.#comparators.set(protocol, (c = buildComparator(protocol, this.config.normalise, { protocols: this.deps.protocols, perVariantAddress: true })));
    }
    return c;
  }

  /** The protocol module's startup terminator for this route, given the merge config's block named after the protocol. */
  startupFor(protocol: string): MergeStartup | undefined {
    if (this.#startups.has(protocol)) return this.#startups.get(protocol);
    const hooks = this.deps.protocols.get(protocol)?.mergeStartup;
    const startup = hooks?.create((this.config as unknown as Readonly<Record<string, unknown>>)[protocol]);
    this.#startups.set(protocol, startup);
    return startup;
  }

  #variantOf(socket: Socket, ctx: AcceptContext): number {
    if (this.config.sources.length > 0) {
      const remote = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      return this.config.sources.indexOf(remote);
    }
    return this.config.listeners.indexOf(ctx.listenerId);
  }

  accept(socket: Socket, ctx: AcceptContext): EngineSession {
    const index = this.#variantOf(socket, ctx);
    const conn = new MergeConn(this, index, socket, ctx);
    if (index < 0) {
      ctx.logger.warn({ route: this.route, remote: socket.remoteAddress }, 'merge: connection from an address that is not a configured variant source; closed');
      socket.on('error', () => undefined);
      conn.destroy();
      return conn;
    }
    readChunks(socket, (chunk) => this.#onData(conn, chunk));
    socket.on('end', () => this.#onEnd(conn));
    socket.on('error', () => {
      if (conn.group) conn.group.fail(conn, 'reset');
      else conn.destroy();
    });
    socket.on('close', () => {
      if (!conn.group) this.#unqueue(conn);
      conn.group?.fail(conn, 'closed');
      conn.finish();
    });
    socket.on('drain', () => conn.group?.resumeBackend());
    const idle = ctx.idleTimeout ?? 0;
    if (idle > 0) {
      // A variant connection with no bytes for that long (and no request of its own waiting) is closed; its group
      // then ends as when the variant goes away.
      socket.setTimeout(idle);
      socket.on('timeout', () => {
        if (conn.requests.length > 0 || conn.current) return;
        for (const s of ctx.stats) s.error(ErrorCodes.IDLE_TIMEOUT);
        socket.destroy();
      });
    }
    conn.startup = this.startupFor(ctx.protocol)?.variant();
    socket.resume();
    return conn;
  }

  #onData(conn: MergeConn, chunk: Buffer): void {
    for (const s of conn.ctx.stats) s.bytesToUpstream += chunk.length;
    try {
      conn.peer.push(chunk);
      for (let m = conn.peer.next(); m !== null; m = conn.peer.next()) this.#onFrame(conn, m.frame, m.info);
    } catch (err) {
      conn.ctx.logger.debug({ route: this.route, variant: this.names[conn.index], err: (err as Error).message }, 'merge: malformed request');
      if (conn.group) conn.group.fail(conn, 'malformed');
      else conn.destroy();
    }
  }

  #onEnd(conn: MergeConn): void {
    conn.ended = true;
    if (conn.group) conn.group.variantEnded();
    else conn.destroy();
  }

  #onFrame(conn: MergeConn, frame: Frame, info: MessageInfo): void {
    if (conn.startup && !conn.started) {
      this.#variantStartup(conn, conn.startup, frame);
      return;
    }
    let msg = conn.current;
    if (info.start || !msg) {
      msg = { frames: [], bytes: 0, attributes: info.attributes, responses: info.responses ?? 1, complete: false };
      conn.current = msg;
    }
    msg.bytes += frame.length;
    if (msg.bytes > this.config.maxMessageSize) {
      conn.group?.fail(conn, 'oversized');
      if (!conn.group) conn.destroy();
      return;
    }
    msg.frames.push(frame);
    if (!info.end) return;
    msg.complete = true;
    conn.current = undefined;
    conn.requests.push(msg);
    if (!conn.group && conn.requests.length === 1 && !conn.startup) this.#enqueue(conn);
    conn.group?.pump();
  }

  /** A startup frame from the variant, answered by the protocol module's terminator. */
  #variantStartup(conn: MergeConn, startup: VariantStartup, frame: Frame): void {
    const step = startup.next(frame);
    if (step.outcome === 'close') {
      conn.destroy();
      return;
    }
    conn.peer.writeRaw(step.send);
    if (step.outcome === 'end') conn.socket.end();
    else if (step.outcome === 'done') this.#started(conn);
  }

  #started(conn: MergeConn): void {
    conn.started = true;
    this.#enqueue(conn);
  }

  #enqueue(conn: MergeConn): void {
    conn.queuedAt = performance.now();
    this.#waiting[conn.index]!.push(conn);
    const timer = setTimeout(() => {
      if (conn.group || conn.done) return;
      this.#unqueue(conn);
      const missing = this.names.filter((_, i) => this.#waiting[i]!.length === 0);
      this.deps.logger.warn({ route: this.route, variant: this.names[conn.index], missing }, 'merge: no matching connection from every variant in time');
      const reply = conn.peer.codec?.errorReply({ message: `switchyard merge: variant(s) ${missing.join(', ')} did not connect within ${this.config.timeout} ms`, close: true });
      if (reply) conn.peer.writeRaw(reply.frames);
      conn.socket.end();
      setTimeout(() => conn.destroy(), 1000).unref();
    }, this.config.timeout);
    timer.unref();
    while (this.#waiting.every((q) => q.length > 0)) {
      const members = this.#waiting.map((q) => q.shift()!);
      const group = new MergeGroup(this, ++this.#groupsFormed, members);
      this.#groups.add(group);
      void group.start();
    }
  }

  #unqueue(conn: MergeConn): void {
    const q = this.#waiting[conn.index];
    if (!q) return;
    const i = q.indexOf(conn);
    if (i >= 0) q.splice(i, 1);
  }

  groupClosed(g: MergeGroup): void {
    this.#groups.delete(g);
  }

  *latencies(): Iterable<EngineLatency> {
    yield { variant: `${this.backend.id} (backend)`, histogram: this.latency };
  }

  toJSON(): Record<string, unknown> {
    return {
      mode: 'merge',
      variants: this.names.map((name, i) => ({ name, ...(this.config.sources.length > 0 ? { source: this.config.sources[i] } : { listener: this.config.listeners[i] }), waiting: this.#waiting[i]!.length })),
      backend: this.backend.id,
      groups: this.#groups.size,
      groupsFormed: this.#groupsFormed,
    };
  }

  close(): void {
    for (const g of [...this.#groups]) g.close();
    for (const q of this.#waiting) for (const c of q.splice(0)) c.destroy();
  }
}

/** N variant connections sharing one backend connection. */
