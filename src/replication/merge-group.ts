/**
 * One merge group: the k-th connection of every variant (`MergeConn`) sharing ONE backend connection. Each request
 * position is compared across the N variants before one copy is written to the backend; the backend's answer is
 * written to all N. The protocol module's merge-startup hook (if any) answers the variants' startups and performs the
 * group's startup toward the backend.
 */
import type { Socket } from 'node:net';
import type { MergeConfig } from '../config/replication.js';
import { ErrorCodes, errorCode } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Frame } from '../framing/framer.js';
import type { Attributes, BackendStartup, MergeStartup, MessageInfo, VariantStartup } from '../protocols/protocol.js';
import type { AcceptContext, EngineSession } from '../routing/engine.js';
import type { Cluster } from '../upstream/cluster.js';
import { type Comparator } from '../compare/comparator.js';
import { DivergenceReporter } from './divergence-report.js';
import type { VariantStatus } from './events.js';
import { describeRequest, judge, type Judged } from './judge.js';
import { LatencyHistogram } from '../core/latency.js';
import { NoiseModel } from '../compare/noise.js';
import { Peer, sameBytes } from './peer.js';
import { readChunks } from '../net/chunk-reader.js';


export interface Message {
  frames: Frame[];
  bytes: number;
  attributes: Attributes | undefined;
  responses: number;
  complete: boolean;
}

/** One variant's connection to the merge proxy. */
export class MergeConn implements EngineSession {
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
    readonly merger: MergeOwner,
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

/** What a group and its members need of the merge engine that formed them (the `Merger`). */
export interface MergeOwner {
  readonly route: string;
  readonly config: MergeConfig;
  readonly backend: Cluster;
  readonly names: readonly string[];
  readonly noise: NoiseModel;
  readonly report: DivergenceReporter;
  readonly latency: LatencyHistogram;
  readonly deps: { readonly logger: Logger };
  comparator(protocol: string): Comparator;
  startupFor(protocol: string): MergeStartup | undefined;
  groupClosed(group: MergeGroup): void;
}

/** N variant connections sharing one backend connection. */
export class MergeGroup {
  readonly #m: MergeOwner;
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
    merger: MergeOwner,
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
    readChunks(socket, (chunk) => this.#onBackendData(chunk));
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
