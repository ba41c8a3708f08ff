import type { Socket } from 'node:net';
import { ErrorCodes, SwitchyardError, errorCode } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { TrafficStats } from '../core/stats.js';
import type { Frame } from '../framing/framer.js';
import type { Attributes, MessageInfo } from '../protocols/protocol.js';
import type { Cluster } from '../upstream/cluster.js';
import type { Comparator } from '../compare/comparator.js';
import type { DivergenceLog, VariantOutcome, VariantStatus } from './events.js';
import type { NoiseModel } from '../compare/noise.js';
import { Peer, sameBytes, type PeerFraming } from './peer.js';
import { tally } from './vote.js';
import type { Policy } from '../config/replication.js';
import { REQUEST_KEEP, describeRequest, judge, type Judged } from './judge.js';
import type { LatencyHistogram } from './latency.js';

/**
 * Connect to a variant, counting the connection (or the failure) into its cluster's stats. A variant that cannot be
 * reached gets the status it counts as: `timeout` (connect timeout) or `refused`.
 */
export async function connectVariant(target: VariantTarget, logger: Logger): Promise<Socket | 'timeout' | 'refused'> {
  const stats = target.cluster.stats;
  try {
    const socket = await target.cluster.connect();
    stats.active++;
    stats.total++;
    socket.once('close', () => stats.active--);
    return socket;
  } catch (err) {
    const code = errorCode(err);
    stats.error(code);
    logger.debug({ variant: target.name, err: (err as Error).message }, 'variant connect failed');
    return code === ErrorCodes.UPSTREAM_TIMEOUT ? 'timeout' : 'refused';
  }
}

/** What the listener hands an engine for each accepted connection. */
export interface AcceptContext {
  readonly listenerId: string;
  readonly sessionId: number;
  readonly framing: PeerFraming;
  /** Protocol name for comparison: a protocol module name, or the framer name (line, ...), or 'tcp'. */
  readonly protocol: string;
  readonly stats: readonly TrafficStats[];
  readonly logger: Logger;
  /** The listener's idleTimeout (ms, 0 = none): a connection with no bytes either way and nothing in flight for this long is closed. */
  readonly idleTimeout?: number;
  readonly onClose: () => void;
}

/** A connection owned by an engine, as the listener sees it (to drain and stop). */
export interface EngineSession {
  readonly closed: Promise<void>;
  destroy(): void;
}

export interface ReplicateSettings {
  readonly policy: Policy;
  /** ms a variant has to complete its answer after the request was sent. */
  readonly timeout: number;
  readonly filterPair: boolean;
  /** ms requests to variant 1 (the filter pair's second copy) are held back. */
  readonly filterPairDelay: number;
  readonly quarantine: boolean;
  /** Largest answer (bytes) one variant may give to one request. */
  readonly maxMessageBytes: number;
  /** Requests a client may have outstanding on one connection (pipelining); reading pauses beyond it. */
  readonly maxInFlight: number;
}

export interface VariantTarget {
  readonly name: string;
  readonly cluster: Cluster;
  readonly latency: LatencyHistogram;
}

/** What a ReplicaSession needs from its route's engine. */
export interface ReplicaEnv {
  readonly route: string;
  readonly settings: ReplicateSettings;
  readonly variants: readonly VariantTarget[];
  readonly log: DivergenceLog;
  readonly noise: NoiseModel;
  comparator(protocol: string): Comparator;
  /** Counts one exchange; true while the route is still in its noise warm-up (serve the primary, only report). */
  warmingUp(): boolean;
  isQuarantined(name: string): boolean;
  quarantine(name: string, reason: string): void;
}

interface Slot {
  frames: Frame[];
  bytes: number;
  /** Responses still expected (a request may get several). */
  left: number;
  done: boolean;
  status: VariantStatus;
  latencyMs: number | undefined;
  /** primary mode, primary slot: frames not yet written to the client. */
  out: Frame[];
  /** primary mode: the answer outgrew maxMessageBytes; it streams to the client but is not compared. */
  uncompared: boolean;
}

interface Exchange {
  readonly seq: number;
  readonly slots: Slot[];
  readonly request: Frame[];
  requestBytes: number;
  attributes: Attributes | undefined;
  sentAt: number;
  /** performance.now() by which every variant must have answered (set when the request was sent). */
  deadline: number;
  /** The client-facing answer is settled (unanimous/majority: decided; primary: primary done). */
  decided: boolean;
  /** All slots done and compared. */
  judged: boolean;
  /** unanimous/majority: which slot to serve; undefined + decided = blocked. */
  serve: number | undefined;
  blockedMessage: string | undefined;
  blockedStatus: number;
  eventId: number | undefined;
  /** primary mode: part of the primary's answer already reached the client. */
  streamed: boolean;
}


interface VariantConn {
  readonly index: number;
  readonly target: VariantTarget;
  peer: Peer | undefined;
  socket: Socket | undefined;
  /** Frames written before the connection is up. */
  queued: Frame[][];
  /** Exchanges this variant still has to answer, oldest first. */
  readonly awaiting: Exchange[];
  /** Undefined while usable; otherwise why it is not. */
  dead: VariantStatus | undefined;
  /** Staggered variant (filter pair): frames waiting for their time, and the end of input after them. */
  delayed: Array<{ at: number; frames: Frame[] | 'end' }> | undefined;
  delayTimer: NodeJS.Timeout | undefined;
}

/**
 * One client connection replicated to N variants (RDDR's incoming proxy): every request goes to every variant;
 * each variant's answer is paired with its request by the protocol module, normalised and compared, and the
 * policy decides what the client gets. Answers are delivered in request order (pipelining keeps working).
 */
export class ReplicaSession implements EngineSession {
  readonly closed: Promise<void>;
  readonly #env: ReplicaEnv;
  readonly #ctx: AcceptContext;
  readonly #client: Peer;
  readonly #variants: VariantConn[];
  readonly #exchanges: Exchange[] = [];
  #current: Exchange | undefined;
  /** Exchanges sent and not yet judged, oldest first (for the session's one timeout timer). */
  readonly #waiting: Exchange[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** Request frames parsed from the current read, not yet written to the variants. */
  #out: Frame[] = [];
  #seq = 0;
  #done = false;
  #resolveClosed!: () => void;
  #clientEnded = false;
  #closing = false;
  #held = false;
  #primaryOut = false;
  readonly #policy: Policy;

  constructor(env: ReplicaEnv, socket: Socket, ctx: AcceptContext) {
    this.#env = env;
    this.#ctx = ctx;
    this.#policy = env.settings.policy;
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    this.#client = new Peer('client', ctx.framing, socket);
    this.#variants = env.variants.map((target, index) => ({ index, target, peer: undefined, socket: undefined, queued: [], awaiting: [], dead: undefined, delayed: index === 1 && env.settings.filterPairDelay > 0 ? [] : undefined, delayTimer: undefined }));
    for (const s of ctx.stats) {
      s.active++;
      s.total++;
    }
  }

  start(): void {
    const socket = this.#client.socket;
    socket.on('data', (chunk: Buffer) => this.#onClientData(chunk));
    socket.on('end', () => this.#onClientEnd());
    socket.on('error', (err) => this.#fail(err, 'client'));
    socket.on('close', () => this.#finish());
    socket.on('drain', () => this.#resumeVariants());
    const idle = this.#ctx.idleTimeout ?? 0;
    if (idle > 0) {
      // Idle = no bytes on the client socket and nothing being answered (variants working on a request are busy).
      socket.setTimeout(idle);
      socket.on('timeout', () => {
        if (this.#exchanges.length > 0 || this.#current || this.#waiting.some((ex) => !ex.judged)) return;
        for (const s of this.#ctx.stats) s.error(ErrorCodes.IDLE_TIMEOUT);
        this.#closeAll();
      });
    }
    for (const v of this.#variants) {
      if (this.#env.isQuarantined(v.target.name)) {
        v.dead = 'quarantined';
        continue;
      }
      void this.#connect(v);
    }
    socket.resume();
  }

  destroy(): void {
    this.#closeAll();
  }

  async #connect(v: VariantConn): Promise<void> {
    const socket = await connectVariant(v.target, this.#ctx.logger);
    if (typeof socket === 'string') return this.#kill(v, socket);
    if (this.#done || v.dead) {
      socket.destroy();
      return;
    }
    v.socket = socket;
    const peer = new Peer('server', this.#ctx.framing, socket);
    v.peer = peer;
    socket.on('data', (chunk: Buffer) => this.#onVariantData(v, chunk));
    socket.on('end', () => this.#onVariantEnd(v));
    socket.on('error', (err) => {
      v.target.cluster.stats.error(errorCode(err));
      this.#kill(v, 'reset');
    });
    socket.on('close', () => this.#kill(v, 'closed'));
    socket.on('drain', () => this.#maybeResumeClient());
    if (this.#held) socket.pause();
    const queued = v.queued;
    v.queued = [];
    try {
      for (const frames of queued) peer.write(frames);
      if (this.#clientEnded && !this.#current && !v.delayed) socket.end();
    } catch (err) {
      this.#fail(err, 'variant');
    }
  }

  // ---- client → variants ----

  #onClientData(chunk: Buffer): void {
    for (const s of this.#ctx.stats) s.bytesToUpstream += chunk.length;
    const client = this.#client;
    try {
      client.push(chunk);
      for (let m = client.next(); m !== null; m = client.next()) this.#onRequestFrame(m.frame, m.info);
      this.#sendOut();
    } catch (err) {
      this.#fail(err, 'client');
      return;
    }
    this.#maybePauseClient();
  }

  #onRequestFrame(frame: Frame, info: MessageInfo): void {
    if (info.opaque) {
      throw new SwitchyardError(ErrorCodes.FRAME_MALFORMED, 'the connection switched to an opaque stream (TLS or protocol upgrade); its bytes cannot be compared across variants');
    }
    let ex = this.#current;
    if (info.start || !ex) {
      const responses = info.responses ?? 1;
      ex = this.#newExchange(info.attributes);
      // A variant quarantined while this connection is open leaves it now.
      for (const v of this.#variants) if (!v.dead && this.#env.isQuarantined(v.target.name)) this.#kill(v, 'quarantined');
      if (responses > 0) {
        for (const slot of ex.slots) slot.left = responses;
        this.#exchanges.push(ex);
        for (const v of this.#variants) {
          if (v.dead) this.#settle(ex, v.index, v.dead);
          else v.awaiting.push(ex);
        }
      } else {
        for (const slot of ex.slots) slot.done = true;
        ex.decided = ex.judged = true;
      }
      this.#current = ex;
    }
    if (ex.requestBytes < REQUEST_KEEP) ex.request.push(frame.length + ex.requestBytes > REQUEST_KEEP ? frame.subarray(0, REQUEST_KEEP - ex.requestBytes) : frame);
    ex.requestBytes += frame.length;
    // Frames of one read go to each variant together (one write per variant per read), see #sendOut.
    this.#out.push(frame);
    if (info.end) {
      this.#current = undefined;
      ex.sentAt = performance.now();
      if (!ex.judged) this.#arm(ex);
    }
  }

  /** Hold frames for the staggered filter-pair copy; order is kept (FIFO, one timer). */
  #delay(v: VariantConn, frames: Frame[] | 'end'): void {
    v.delayed!.push({ at: performance.now() + this.#env.settings.filterPairDelay, frames });
    if (!v.delayTimer) this.#armDelay(v);
  }

  #armDelay(v: VariantConn): void {
    const head = v.delayed![0];
    if (!head) return;
    v.delayTimer = setTimeout(() => {
      v.delayTimer = undefined;
      const now = performance.now();
      const q = v.delayed!;
      while (q.length > 0 && q[0]!.at <= now + 0.5) {
        const { frames } = q.shift()!;
        if (v.dead) continue;
        try {
          if (frames === 'end') {
            if (v.socket) v.socket.end();
          } else if (v.peer) v.peer.write(frames);
          else v.queued.push(frames);
        } catch (err) {
          this.#fail(err, 'variant');
          return;
        }
      }
      this.#armDelay(v);
    }, Math.max(0, head.at - performance.now()));
  }

  /** Write the request frames collected from one read to every variant: the primary first, one write each. */
  #sendOut(): void {
    const frames = this.#out;
    if (frames.length === 0) return;
    this.#out = [];
    let bytes = 0;
    for (const f of frames) bytes += f.length;
    for (const v of this.#variants) {
      if (v.dead) continue;
      v.target.cluster.stats.bytesToUpstream += bytes;
      if (v.delayed) this.#delay(v, frames);
      else if (v.peer) v.peer.write(frames);
      else v.queued.push(frames);
    }
  }

  #newExchange(attributes: Attributes | undefined): Exchange {
    const n = this.#variants.length;
    const slots: Slot[] = [];
    for (let i = 0; i < n; i++) slots.push({ frames: [], bytes: 0, left: 1, done: false, status: 'ok', latencyMs: undefined, out: [], uncompared: false });
    return {
      seq: this.#seq++,
      slots,
      request: [],
      requestBytes: 0,
      attributes,
      sentAt: performance.now(),
      deadline: Infinity,
      decided: false,
      judged: false,
      serve: undefined,
      blockedMessage: undefined,
      blockedStatus: 502,
      eventId: undefined,
      streamed: false,
    };
  }

  /**
   * One timer per session, not one per request: exchanges' deadlines grow in request order, so the timer only
   * needs to wake up for the oldest exchange still being answered (#waiting, oldest first, judged ones skipped).
   */
  #arm(ex: Exchange): void {
    ex.deadline = ex.sentAt + this.#env.settings.timeout;
    const q = this.#waiting;
    while (q.length > 0 && q[0]!.judged) q.shift();
    q.push(ex);
    if (!this.#timer) this.#schedule(ex.deadline);
  }

  #schedule(at: number): void {
    this.#timer = setTimeout(() => this.#onTimer(), Math.max(1, Math.ceil(at - performance.now())));
  }

  #onTimer(): void {
    this.#timer = undefined;
    if (this.#done) return;
    const q = this.#waiting;
    while (q.length > 0 && q[0]!.judged) q.shift();
    if (q.length === 0) return;
    const now = performance.now();
    if (this.#held) {
      // The client is not reading: variants are paused by us, not slow. Their clocks start again.
      for (const ex of q) ex.deadline = now + this.#env.settings.timeout;
      this.#schedule(q[0]!.deadline);
      return;
    }
    // Timers fire on a millisecond clock: allow for it rather than waking up again for a fraction of one.
    while (q.length > 0 && (q[0]!.judged || q[0]!.deadline <= now + 1)) {
      const ex = q.shift()!;
      if (ex.judged) continue;
      for (const v of this.#variants) {
        if (!ex.slots[v.index]!.done) this.#kill(v, 'timeout');
      }
      if (this.#done) return;
    }
    while (q.length > 0 && q[0]!.judged) q.shift();
    if (q.length > 0) this.#schedule(q[0]!.deadline);
  }

  #onClientEnd(): void {
    this.#clientEnded = true;
    try {
      this.#client.endInput();
      for (let m = this.#client.next(); m !== null; m = this.#client.next()) this.#onRequestFrame(m.frame, m.info);
      this.#sendOut();
    } catch (err) {
      this.#fail(err, 'client');
      return;
    }
    for (const v of this.#variants) {
      if (v.dead) continue;
      if (v.delayed) this.#delay(v, 'end');
      else v.socket?.end();
    }
    this.#flush();
  }

  // ---- variants → client ----

  #onVariantData(v: VariantConn, chunk: Buffer): void {
    const peer = v.peer!;
    v.target.cluster.stats.bytesToDownstream += chunk.length;
    try {
      peer.push(chunk);
      for (let m = peer.next(); m !== null; m = peer.next()) this.#onResponseFrame(v, m.frame, m.info);
    } catch (err) {
      this.#ctx.logger.debug({ route: this.#env.route, variant: v.target.name, err: (err as Error).message }, 'variant sent a malformed answer');
      this.#kill(v, 'malformed');
    }
    // primary mode: what the primary sent in this read goes to the client in one write.
    if (this.#primaryOut) {
      this.#primaryOut = false;
      this.#flush();
    }
  }

  #onVariantEnd(v: VariantConn): void {
    if (v.dead || !v.peer) return;
    try {
      v.peer.endInput();
      for (let m = v.peer.next(); m !== null; m = v.peer.next()) this.#onResponseFrame(v, m.frame, m.info);
    } catch {
      this.#kill(v, 'malformed');
      return;
    }
    if (this.#primaryOut) {
      this.#primaryOut = false;
      this.#flush();
    }
    this.#kill(v, 'closed');
  }

  #onResponseFrame(v: VariantConn, frame: Frame, info: MessageInfo): void {
    if (v.dead) return;
    if (info.unsolicited) {
      // Greetings, pushes, interim answers (HTTP 100 Continue): the first live variant's go to the client at once.
      if (this.#firstLive() === v) this.#writeClient([frame]);
      return;
    }
    const ex = v.awaiting[0];
    if (!ex) {
      this.#ctx.logger.debug({ route: this.#env.route, variant: v.target.name }, 'variant answered a request nobody sent');
      this.#kill(v, 'malformed');
      return;
    }
    const slot = ex.slots[v.index]!;
    slot.bytes += frame.length;
    const streaming = this.#policy === 'primary' && v.index === 0;
    if (streaming) slot.out.push(frame);
    if (slot.bytes <= this.#env.settings.maxMessageBytes) slot.frames.push(frame);
    else if (streaming) {
      // The primary's answer streams to the client whatever its size; it is just too large to compare.
      slot.uncompared = true;
      slot.frames = [];
    } else {
      this.#kill(v, 'oversized');
      return;
    }
    if (info.end && --slot.left === 0) {
      v.awaiting.shift();
      slot.done = true;
      slot.status = 'ok';
      slot.latencyMs = performance.now() - ex.sentAt;
      v.target.latency.observe(slot.latencyMs / 1000);
      this.#slotDone(ex);
    }
    if (streaming && this.#exchanges[0] === ex) this.#primaryOut = true;
  }

  #firstLive(): VariantConn | undefined {
    return this.#variants.find((v) => !v.dead);
  }

  /** A variant is unusable (failed, timed out, closed): every answer it owes becomes `status`. */
  #kill(v: VariantConn, status: VariantStatus): void {
    if (v.dead) return;
    v.dead = status;
    v.queued = [];
    if (v.socket && !v.socket.destroyed) v.socket.destroy();
    const owed = v.awaiting.splice(0);
    for (const ex of owed) this.#settle(ex, v.index, status);
    if (!this.#done && this.#variants.every((x) => x.dead) && this.#exchanges.length === 0) {
      // Nothing can be answered any more.
      this.#closing = true;
      this.#client.socket.end();
    }
  }

  #settle(ex: Exchange, index: number, status: VariantStatus): void {
    const slot = ex.slots[index]!;
    if (slot.done) return;
    slot.done = true;
    slot.status = status;
    slot.frames = [];
    this.#slotDone(ex);
  }

  #slotDone(ex: Exchange): void {
    if (this.#done) return;
    if (ex.slots.every((s) => s.done)) this.#judge(ex);
    else if (this.#policy === 'primary' && ex.slots[0]!.done && !ex.decided) {
      ex.decided = true;
      if (ex.slots[0]!.status !== 'ok') this.#block(ex, ex.slots[0]!.status === 'timeout' ? 504 : 502, 'the primary variant did not answer');
      this.#flush();
    }
  }

  #judge(ex: Exchange): void {
    ex.judged = true;
    const warming = this.#env.warmingUp();
    const env = this.#env;
    const slots = ex.slots;
    // Fast path: every variant answered the very same bytes.
    const live = slots.filter((s) => s.status !== 'quarantined');
    const first = live[0];
    let same = first !== undefined && live.every((s) => s.status === 'ok' && !s.uncompared);
    for (let i = 1; same && i < live.length; i++) same = sameBytes(first!.frames, live[i]!.frames);
    if (same) {
      if (!ex.decided) {
        ex.decided = true;
        ex.serve = slots.indexOf(first!);
      }
      this.#flush();
      return;
    }
    const cmp = env.comparator(this.#ctx.protocol);
    const judged: Judged = judge({
      comparator: cmp,
      noise: env.noise,
      filterPair: env.settings.filterPair,
      policy: this.#policy,
      request: ex.request,
      answers: slots.map((s) => (s.status === 'ok' && !s.uncompared ? s.frames : undefined)),
    });
    // Quarantined variants are out of the set: they neither vote nor count.
    const active = slots.map((s, i) => (s.status === 'quarantined' ? -1 : i)).filter((i) => i >= 0);
    const policy = warming && active[0] === 0 ? 'primary' : this.#policy === 'primary' && active[0] !== 0 ? 'majority' : this.#policy;
    const sub = tally(policy, active.map((i) => judged.ballots[i]!));
    const t = {
      serve: sub.serve === undefined ? undefined : active[sub.serve],
      agreeing: new Set([...sub.agreeing].map((j) => active[j]!)),
      unanimous: sub.unanimous,
    };
    if (!ex.decided) {
      ex.decided = true;
      ex.serve = t.serve;
      if (t.serve === undefined) {
        const primaryFailed = this.#policy === 'primary';
        this.#block(ex, primaryFailed && slots[0]!.status === 'timeout' ? 504 : 502, primaryFailed ? 'the primary variant did not answer' : 'the variants disagreed');
      }
    }
    if (!t.unanimous) this.#report(ex, judged, t.serve, t.agreeing, warming);
    else if (judged.suspects.length > 0) this.#reportSuspects(ex, judged);
    this.#flush();
  }

  #report(ex: Exchange, judged: Judged, served: number | undefined, agreeing: ReadonlySet<number>, warming = false): void {
    const env = this.#env;
    if (judged.noDifference && ex.slots.every((s) => s.status === 'ok' || s.status === 'quarantined')) return; // equal after normalisation
    const outcomes: VariantOutcome[] = ex.slots.map((s, i) => ({
      name: env.variants[i]!.name,
      status: s.status,
      digest: judged.canons[i]?.digest,
      summary: judged.canons[i]?.summary,
      latencyMs: s.latencyMs === undefined ? undefined : Math.round(s.latencyMs * 10) / 10,
      agreed: agreeing.has(i),
    }));
    const decision = this.#policy === 'primary' || (warming && served !== undefined) ? 'reported' : served === undefined ? 'blocked' : 'outvoted';
    env.log.record({
      ...(ex.eventId !== undefined ? { id: ex.eventId } : {}),
      route: env.route,
      mode: 'replicate',
      policy: this.#policy,
      decision,
      request: describeRequest(env.comparator(this.#ctx.protocol), ex.request, ex.attributes),
      variants: outcomes,
      served: served === undefined ? undefined : env.variants[served]!.name,
      fields: judged.fields,
      diff: judged.diff(outcomes.map((o) => o.name), served, outcomes.map((o) => o.status)),
    });
    if (this.#policy === 'majority' && !warming && served !== undefined && env.settings.quarantine) {
      for (let i = 0; i < ex.slots.length; i++) {
        if (!agreeing.has(i) && ex.slots[i]!.status !== 'quarantined') env.quarantine(env.variants[i]!.name, `out-voted on ${ex.request.length > 0 ? 'a request' : 'an exchange'}`);
      }
    }
  }

  /** Everyone agreed once noise was set aside, but a noise field differs far more often than the filter pair's. */
  #reportSuspects(ex: Exchange, judged: Judged): void {
    const env = this.#env;
    const cmp = env.comparator(this.#ctx.protocol);
    const names = env.variants.map((v) => v.name);
    const diffs: string[] = [];
    for (let i = 1; i < judged.canons.length; i++) {
      const a = judged.canons[0];
      const b = judged.canons[i];
      if (a && b) diffs.push(cmp.render(a, b, [names[0]!, names[i]!], new Set([...judged.ignored].filter((p) => !judged.suspects.includes(p)))));
    }
    env.log.record({
      route: env.route,
      mode: 'replicate',
      policy: this.#policy,
      decision: 'reported',
      request: describeRequest(cmp, ex.request, ex.attributes),
      variants: ex.slots.map((s, i) => ({ name: names[i]!, status: s.status, digest: judged.canons[i]?.digest, summary: judged.canons[i]?.summary, agreed: true })),
      served: names[ex.serve ?? 0],
      fields: [...judged.suspects].sort(),
      diff: `noise fields that differ clearly more often between variants than within the filter pair:\n${diffs.join('\n')}`,
    });
  }

  #block(ex: Exchange, status: number, why: string): void {
    const id = this.#env.log.reserveId();
    ex.eventId = id;
    ex.blockedStatus = status;
    ex.blockedMessage = `switchyard blocked this response: ${why} (divergence ${id})`;
  }

  /** Write settled answers to the client, in request order (several answers leave in one writev). */
  #flush(): void {
    this.#flushCorked();
  }

  #flushCorked(): void {
    while (!this.#done) {
      const ex = this.#exchanges[0];
      if (!ex) break;
      if (this.#policy === 'primary' && ex.blockedMessage === undefined) {
        const slot = ex.slots[0]!;
        if (slot.out.length > 0) {
          const out = slot.out;
          slot.out = [];
          ex.streamed = true;
          this.#writeClient(out);
        }
        if (!ex.decided) break;
        this.#exchanges.shift();
        continue;
      }
      if (!ex.decided) break;
      this.#exchanges.shift();
      if (ex.serve === undefined || ex.blockedMessage !== undefined) {
        this.#sendBlocked(ex);
        return;
      }
      this.#writeClient(ex.slots[ex.serve]!.frames);
      // Answers of the other variants are no longer needed.
      for (const s of ex.slots) s.frames = [];
    }
    if (this.#exchanges.length === 0 && this.#clientEnded && !this.#current && !this.#closing && !this.#done) {
      this.#closing = true;
      this.#client.socket.end();
    }
    this.#maybeResumeClient();
  }

  #sendBlocked(ex: Exchange): void {
    this.#closing = true;
    const message = ex.blockedMessage ?? 'switchyard blocked this response';
    const reply = this.#client.codec?.errorReply({ request: ex.attributes, message, status: ex.blockedStatus, close: true });
    for (const s of this.#ctx.stats) s.error(ex.blockedStatus === 504 ? ErrorCodes.UPSTREAM_TIMEOUT : 'SWY_DIVERGENCE');
    const socket = this.#client.socket;
    if (ex.streamed) {
      // Half an answer already went out: only closing the connection tells the client it is incomplete.
      this.#closeAll();
      return;
    }
    if (reply) this.#client.writeRaw(reply.frames);
    for (const v of this.#variants) if (v.socket && !v.socket.destroyed) v.socket.destroy();
    // Raw TCP has no error message: the connection closes.
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  #writeClient(frames: readonly Frame[]): void {
    let n = 0;
    for (const f of frames) n += f.length;
    for (const s of this.#ctx.stats) s.bytesToDownstream += n;
    try {
      this.#client.write(frames);
    } catch (err) {
      this.#fail(err, 'variant');
      return;
    }
    if (this.#client.socket.writableNeedDrain && !this.#held) this.#pauseVariants();
  }

  // ---- backpressure ----

  #pauseVariants(): void {
    this.#held = true;
    for (const v of this.#variants) v.socket?.pause();
  }

  #resumeVariants(): void {
    if (!this.#held) return;
    this.#held = false;
    for (const v of this.#variants) if (!v.dead) v.socket?.resume();
  }

  #maybePauseClient(): void {
    const full = this.#exchanges.length >= this.#env.settings.maxInFlight || this.#variants.some((v) => !v.dead && v.socket?.writableNeedDrain);
    if (full) this.#client.socket.pause();
  }

  #maybeResumeClient(): void {
    if (this.#done || !this.#client.socket.isPaused()) return;
    const full = this.#exchanges.length >= this.#env.settings.maxInFlight || this.#variants.some((v) => !v.dead && v.socket?.writableNeedDrain);
    if (!full) this.#client.socket.resume();
  }

  // ---- teardown ----

  #fail(err: unknown, side: 'client' | 'variant'): void {
    const code = errorCode(err);
    for (const s of this.#ctx.stats) s.error(side === 'client' && code === 'ECONNRESET' ? ErrorCodes.CLIENT_RESET : code);
    this.#ctx.logger.debug({ route: this.#env.route, side, err: (err as Error).message }, 'replicated session failed');
    if (side === 'client' && (code === ErrorCodes.FRAME_MALFORMED || code === ErrorCodes.FRAME_TOO_LARGE) && this.#client.codec && !this.#closing) {
      const reply = this.#client.codec.errorReply({ message: `switchyard: ${(err as Error).message}`, status: 400, close: true });
      if (reply) {
        this.#closing = true;
        this.#client.writeRaw(reply.frames);
        this.#client.socket.end();
        for (const v of this.#variants) v.socket?.destroy();
        setTimeout(() => this.#closeAll(), 1000).unref();
        return;
      }
    }
    this.#closeAll();
  }

  #closeAll(): void {
    this.#client.socket.destroy();
    for (const v of this.#variants) v.socket?.destroy();
    this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waiting.length = 0;
    for (const v of this.#variants) {
      if (v.delayTimer) clearTimeout(v.delayTimer);
      if (v.socket && !v.socket.destroyed) v.socket.destroy();
    }
    for (const s of this.#ctx.stats) s.active--;
    this.#ctx.onClose();
    this.#resolveClosed();
  }
}
