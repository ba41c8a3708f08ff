import type { Socket } from 'node:net';
import type { MergeConfig } from '../config/replication.js';
import { ErrorCodes, errorCode } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Frame } from '../framing/framer.js';
import type { Attributes, BackendStartup, MergeStartup, MessageInfo, VariantStartup } from '../protocols/protocol.js';
import type { ProtocolRegistry } from '../protocols/registry.js';
import type { AcceptContext, EngineLatency, EngineSession, RouteEngine } from '../routing/engine.js';
import type { Cluster } from '../upstream/cluster.js';
import { buildComparator, validateNormalise, type Comparator } from '../compare/comparator.js';
import { DivergenceReporter } from './divergence-report.js';
import type { DivergenceLog, VariantOutcome, VariantStatus } from './events.js';
import { describeRequest, judge, type Judged } from './judge.js';
import { LatencyHistogram } from '../core/latency.js';
import { NoiseModel } from '../compare/noise.js';
import { Peer, sameBytes } from './peer.js';

interface Message {
  frames: Frame[];
  bytes: number;
  attributes: Attributes | undefined;
  responses: number;
  complete: boolean;
}

/** One variant's connection to the merge proxy. */
class MergeConn implements EngineSession {
  readonly closed: Promise<void>;
  #resolve!: () => void;
  readonly peer: Peer;
  group: MergeGroup | undefined;
  /** Complete requests not yet compared, oldest first. */
  readonly requests: Message[] = [];
  current: Message | undefined;
  ended = false;
  done = false;
  /** The connection startup, answered by the proxy when the protocol module terminates it (else undefined). */
  startup: VariantStartup | undefined;
  started = false;
  queuedAt = 0;

  constructor(
    readonly merger: Merger,
    readonly index: number,
    socket: Socket,
    readonly ctx: AcceptContext,
  ) {
    this.closed = new Promise((r) => (this.#resolve = r));
    this.peer = new Peer('client', ctx.framing, socket);
    for (const s of ctx.stats) {
      s.active++;
      s.total++;
    }
  }

  get socket(): Socket {
    return this.peer.socket;
  }

  destroy(): void {
    this.socket.destroy();
    this.finish();
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    for (const s of this.ctx.stats) s.active--;
    this.ctx.onClose();
    this.#resolve();
  }
}

/**
 * The engine of a `merge` route (RDDR's outgoing proxy): N variants of a service call one backend through it.
 * The k-th connection of every variant forms a group that shares ONE backend connection. Each request is
 * compared across the N variants; if they agree one copy goes to the backend and its answer is replicated to
 * all N; if they diverge (or one stays silent past the timeout) every variant gets the protocol's error, the
 * group is closed and a divergence is recorded. A protocol module with a merge-startup hook (PostgreSQL) has the
 * proxy answer each variant's connection startup and perform the group's startup toward the backend.
 */
export class Merger implements RouteEngine {
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
    socket.on('data', (chunk: Buffer) => this.#onData(conn, chunk));
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
class MergeGroup {
  readonly #m: Merger;
  readonly #members: MergeConn[];
  #backend: Peer | undefined;
  /** The protocol module's startup terminator (undefined: the startup is merged like any request). */
  readonly #startup: MergeStartup | undefined;
  #backendStartup: BackendStartup | undefined;
  #ready = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  /** Requests sent to the backend and still being answered: responses left and send time. */
  readonly #inflight: Array<{ left: number; sentAt: number }> = [];
  readonly #protocol: string;

  constructor(
    merger: Merger,
    readonly id: number,
    members: MergeConn[],
  ) {
    this.#m = merger;
    this.#members = members;
    for (const c of members) c.group = this;
    this.#protocol = members[0]!.ctx.protocol;
    this.#startup = merger.startupFor(this.#protocol);
  }

  async start(): Promise<void> {
    const m = this.#m;
    // The variants' startups must ask for one backend session (PostgreSQL: the same user and database).
    const startups = this.#startup ? this.#members.map((c) => c.startup!) : [];
    const mismatch = this.#startup?.mismatch(startups, this.#members.map((c) => m.names[c.index]!));
    if (mismatch !== undefined) {
      this.#diverged(undefined, mismatch);
      return;
    }
    let socket: Socket;
    try {
      socket = await m.backend.connect();
    } catch (err) {
      m.backend.stats.error(errorCode(err));
      this.#abort(`switchyard merge: backend unavailable (${(err as Error).message})`);
      return;
    }
    if (this.#closed) {
      socket.destroy();
      return;
    }
    m.backend.stats.active++;
    m.backend.stats.total++;
    const peer = new Peer('server', this.#members[0]!.ctx.framing, socket);
    this.#backend = peer;
    socket.on('data', (chunk: Buffer) => this.#onBackendData(chunk));
    socket.on('end', () => this.#onBackendEnd());
    socket.on('error', (err) => {
      m.backend.stats.error(errorCode(err));
      this.#abort(`switchyard merge: backend connection failed (${err.message})`);
    });
    socket.on('close', () => {
      m.backend.stats.active--;
      this.close();
    });
    socket.on('drain', () => {
      for (const c of this.#members) c.socket.resume();
    });
    if (this.#startup) {
      const startup = this.#startup.backend(startups);
      this.#backendStartup = startup;
      peer.writeRaw(startup.begin());
    } else {
      this.#ready = true;
      this.pump();
    }
  }

  #onBackendData(chunk: Buffer): void {
    const peer = this.#backend!;
    try {
      peer.push(chunk);
      for (let m = peer.next(); m !== null; m = peer.next()) {
        if (!this.#ready) this.#onBackendStartup(m.frame);
        else this.#onResponse(m.frame, m.info);
        if (this.#closed) return;
      }
    } catch (err) {
      this.#abort(`switchyard merge: the backend sent a malformed answer (${(err as Error).message})`);
    }
  }

  #onBackendStartup(frame: Frame): void {
    const startup = this.#backendStartup!;
    const step = startup.next(frame);
    if (step.send.length > 0) this.#backend!.writeRaw(step.send);
    if (step.error !== undefined) {
      this.#m.deps.logger.warn({ route: this.#m.route, err: step.error }, 'merge: backend authentication failed');
      this.#abort(`switchyard merge: backend authentication failed: ${step.error}`);
      return;
    }
    if (step.done) {
      this.#ready = true;
      for (const c of this.#members) c.peer.writeRaw(startup.welcome());
      this.pump();
    }
  }

  #onResponse(frame: Frame, info: MessageInfo): void {
    const frames = [frame];
    let n = 0;
    for (const c of this.#members) {
      c.peer.write(frames);
      n++;
      if (c.socket.writableNeedDrain) this.#backend!.socket.pause();
    }
    for (const s of this.#members[0]!.ctx.stats) s.bytesToDownstream += frame.length * n;
    if (info.unsolicited || !info.end) return;
    const head = this.#inflight[0];
    if (head && --head.left <= 0) {
      this.#inflight.shift();
      this.#m.latency.observe((performance.now() - head.sentAt) / 1000);
    }
  }

  resumeBackend(): void {
    if (this.#members.every((c) => !c.socket.writableNeedDrain)) this.#backend?.socket.resume();
  }

  #onBackendEnd(): void {
    try {
      this.#backend?.endInput();
      for (let m = this.#backend?.next(); m; m = this.#backend?.next()) this.#onResponse(m.frame, m.info);
    } catch {
      /* the backend's last bytes were incomplete: the variants see the close */
    }
    for (const c of this.#members) c.socket.end();
  }

  variantEnded(): void {
    if (this.#members.every((c) => c.ended && c.requests.length === 0 && !c.current)) this.#backend?.socket.end();
    else this.pump();
  }

  /** Compare the oldest request of every variant; forward it when all agree. */
  pump(): void {
    if (!this.#ready || this.#closed) return;
    const m = this.#m;
    while (this.#members.every((c) => c.requests.length > 0)) {
      const msgs = this.#members.map((c) => c.requests[0]!);
      let agree = true;
      for (let i = 1; agree && i < msgs.length; i++) agree = sameBytes(msgs[0]!.frames, msgs[i]!.frames);
      if (!agree) {
        const cmp = m.comparator(this.#protocol);
        const judged = judge({ comparator: cmp, noise: m.noise, filterPair: false, policy: 'unanimous', request: msgs[0]!.frames, answers: msgs.map((x) => x.frames), kind: 'request' });
        if (!judged.noDifference) {
          this.#diverged(judged, undefined);
          return;
        }
      }
      for (const c of this.#members) c.requests.shift();
      const msg = msgs[0]!;
      try {
        this.#backend!.write(msg.frames);
      } catch (err) {
        this.#abort(`switchyard merge: ${(err as Error).message}`);
        return;
      }
      if (msg.responses > 0) this.#inflight.push({ left: msg.responses, sentAt: performance.now() });
      if (this.#backend!.socket.writableNeedDrain) for (const c of this.#members) c.socket.pause();
    }
    const waiting = this.#members.some((c) => c.requests.length > 0);
    if (!waiting) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
      if (this.#members.every((c) => c.ended && !c.current)) this.#backend?.socket.end();
      return;
    }
    const silentEnded = this.#members.find((c) => c.requests.length === 0 && c.ended);
    if (silentEnded) {
      this.fail(silentEnded, 'closed');
      return;
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      const silent = this.#members.find((c) => c.requests.length === 0);
      if (silent) this.fail(silent, 'timeout');
    }, m.config.timeout);
  }

  /** A variant failed (silent, closed, reset, garbage): nobody's request can be checked any more. */
  fail(conn: MergeConn, status: VariantStatus): void {
    if (this.#closed) return;
    const pending = this.#members.some((c) => c !== conn && (c.requests.length > 0 || c.current));
    if (!pending && (status === 'closed' || status === 'reset')) {
      // A variant going away between requests is an ordinary end (the others will follow or time out).
      if (this.#members.every((c) => c.done || c.ended || c === conn)) this.close();
      return;
    }
    this.#diverged(undefined, undefined, conn, status);
  }

  #diverged(judged: Judged | undefined, why: string | undefined, failed?: MergeConn, status?: VariantStatus): void {
    const m = this.#m;
    const cmp = m.comparator(this.#protocol);
    const id = m.report.reserveId();
    const reqs = this.#members.map((c) => c.requests[0]);
    const ref = reqs.find((r) => r !== undefined);
    const statuses: VariantStatus[] = this.#members.map((c, i) => (c === failed ? (status ?? 'closed') : reqs[i] ? 'ok' : 'timeout'));
    const names = this.#members.map((c) => m.names[c.index]!);
    m.report.record({
      id,
      policy: 'unanimous',
      decision: 'blocked',
      request: ref ? describeRequest(cmp, ref.frames, ref.attributes) : { summary: why ?? '(connection)', endpoint: '*' },
      names,
      statuses,
      agreed: (i) => (judged ? judged.ballots[i]?.key === judged.ballots[0]?.key && judged.ballots[i]?.ok === true : false),
      judged,
      // Without a comparison, a variant's summary is the request it sent.
      summaries: judged ? undefined : reqs.map((r) => (r ? describeRequest(cmp, r.frames, r.attributes).summary : undefined)),
      diff: judged ? undefined : (why ?? names.flatMap((name, i) => (statuses[i] === 'ok' ? [] : [`${name}: no matching request (${statuses[i]})`])).join('\n')),
    });
    this.#abort(`switchyard merge: the variants' requests diverged (divergence ${id}); the backend was not called and this connection is closed`);
  }

  /** Every variant gets the protocol's error; everything closes (an open backend transaction rolls back). */
  #abort(message: string): void {
    if (this.#closed) return;
    for (const c of this.#members) {
      if (c.done) continue;
      const reply = c.peer.codec?.errorReply({ message, close: true });
      try {
        if (reply) c.peer.writeRaw(reply.frames);
        else if (this.#startup) c.peer.writeRaw(this.#startup.failure(message));
      } catch {
        /* best effort */
      }
      for (const s of c.ctx.stats) s.error(ErrorCodes.DIVERGENCE);
      c.socket.end();
      setTimeout(() => c.destroy(), 1000).unref();
    }
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#backend?.socket.destroy();
    for (const c of this.#members) if (!c.socket.writableEnded) c.socket.end();
    this.#m.groupClosed(this);
  }
}
