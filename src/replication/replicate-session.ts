import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import { ErrorCodes, SwitchyardError, errorCode } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Frame } from '../framing/framer.js';
import type { Attributes, MessageInfo, ProtocolCodec, RequestRoutingHooks } from '../protocols/protocol.js';
import type { AcceptContext, EngineSession } from '../routing/engine.js';
import type { VariantStatus } from './events.js';
import { Exchange, ExchangePhase, NO_FRAMES } from './exchange.js';
import { COALESCE_LIMIT, Peer, joinFrames } from './peer.js';
import { EngineConnection } from './engine-connection.js';
import { ExchangeTimer } from './exchange-timer.js';
import type { ReplicaEnv } from './replicate-env.js';
import { ReplicaVariant, type Expect } from './replica-variant.js';
import { connectVariant } from './variant.js';
import type { Policy } from '../config/replication.js';
import { scalarAttributes } from '../core/traffic.js';
import { readChunks } from '../net/chunk-reader.js';

/**
 * One client connection replicated to N variants (RDDR's incoming proxy): every request goes to every variant;
 * each variant's answer is paired with its request by the protocol module, normalised and compared (the Exchange),
 * and the policy decides what the client gets. This class is the I/O around it: sockets, the timeout timer and
 * backpressure. Answers are delivered in request order (pipelining keeps working).
 */
export class ReplicaSession implements EngineSession {
  readonly #conn: EngineConnection;
  readonly #env: ReplicaEnv;
  readonly #ctx: AcceptContext;
  readonly #policy: Policy;
  readonly #client: Peer;
  readonly #variants: ReplicaVariant[];
  /** The session's logger when it logs at debug level (exchange transitions are traced), else undefined. */
  readonly #trace: Logger | undefined;
  /** Exchanges whose answer the client has not had yet, in request order. */
  readonly #exchanges: Exchange[] = [];
  /** The exchange whose request is being received. */
  #current: Exchange | undefined;
  /** The answer timeout of the exchanges sent. */
  readonly #timer: ExchangeTimer;
  /** Request frames parsed from the current read, not yet written to the variants. */
  #out: Frame[] = [];
  /**
   * The start attributes of the requests begun in #out, when the variants' codecs are told of each request by the
   * client's (the protocol's `expect` hook) rather than parsing its bytes again; undefined: they parse them.
   */
  #starts: Attributes[] | undefined;
  /**
   * The protocol's hooks that hand a served answer over to the client's codec (no second parse of it), when the
   * answers are written whole (every policy but `primary`, which streams the primary's); else undefined.
   */
  readonly #handOver: RequestRoutingHooks | undefined;
  #seq = 0;
  #done = false;
  #clientEnded = false;
  #closing = false;
  /** The client is not reading: the variants are paused. */
  #held = false;
  /** policy `primary`: the primary's last read added frames for the client (flushed once per read). */
  #primaryOut = false;

  constructor(env: ReplicaEnv, socket: Socket, ctx: AcceptContext) {
    this.#env = env;
    this.#ctx = ctx;
    this.#policy = env.settings.policy;
    this.#conn = new EngineConnection(ctx);
    this.#client = new Peer('client', ctx.framing, socket);
    this.#trace = ctx.logger.isLevelEnabled('debug') ? ctx.logger.child({ route: env.route, session: ctx.sessionId }) : undefined;
    this.#timer = new ExchangeTimer(env.settings.timeout, () => this.#held, (ex) => this.#expire(ex));
    const onError = (err: unknown): void => this.#fail(err, 'variant');
    // One parse per message where the protocol allows it: each request is framed by the client's codec only (the
    // variants' codecs are told what to expect), the served answer by its variant's codec only.
    const codec = this.#client.codec;
    const hooks = codec === undefined ? undefined : env.requestHooks(ctx.protocol);
    let expect: Expect | undefined;
    if (codec !== undefined && hooks?.expect !== undefined) {
      this.#starts = [];
      expect = (to: ProtocolCodec, starts: readonly Attributes[]): void => {
        for (const a of starts) hooks.expect!(codec, to, a);
      };
    }
    this.#handOver = hooks?.handOver !== undefined && hooks.after !== undefined && this.#policy !== 'primary' ? hooks : undefined;
    this.#variants = env.variants.map((target, index) => new ReplicaVariant(index, target, index === 1 ? env.settings.filterPairDelay : 0, onError, expect));
  }

  get closed(): Promise<void> {
    return this.#conn.closed;
  }

  start(): void {
    const socket = this.#client.socket;
    readChunks(socket, (chunk) => this.#onClientData(chunk));
    socket.on('end', () => this.#onClientEnd());
    socket.on('error', (err) => this.#fail(err, 'client'));
    socket.on('close', () => this.#finish());
    socket.on('drain', () => this.#resumeVariants());
    // Idle = no bytes on the client socket and nothing being answered (variants working on a request are busy).
    this.#conn.watchIdle(socket, () => this.#exchanges.length > 0 || this.#current !== undefined || this.#timer.busy, () => this.#closeAll());
    for (const v of this.#variants) {
      if (this.#env.isQuarantined(v.target.name)) v.dead = 'quarantined';
      else void this.#connect(v);
    }
    socket.resume();
  }

  destroy(): void {
    this.#closeAll();
  }

  async #connect(v: ReplicaVariant): Promise<void> {
    const socket = await connectVariant(v.target, this.#ctx.logger);
    if (typeof socket === 'string') return this.#kill(v, socket);
    if (this.#done || v.dead) {
      socket.destroy();
      return;
    }
    readChunks(socket, (chunk) => this.#onVariantData(v, chunk));
    socket.on('end', () => this.#onVariantEnd(v));
    socket.on('error', (err) => {
      v.target.cluster.stats.error(errorCode(err));
      this.#kill(v, 'reset');
    });
    socket.on('close', () => this.#kill(v, 'closed'));
    socket.on('drain', () => this.#maybeResumeClient());
    if (this.#held) socket.pause();
    try {
      v.attach(socket, new Peer('server', this.#ctx.framing, socket));
      if (this.#clientEnded && !this.#current && !v.staggered) socket.end();
    } catch (err) {
      this.#fail(err, 'variant');
    }
  }

  // ---- client → variants ----

  #onClientData(chunk: Buffer): void {
    for (const s of this.#ctx.stats) s.bytesToUpstream += chunk.length;
    const client = this.#client;
    try {
      const fresh = client.buffered === 0;
      client.push(chunk);
      for (let f = client.nextFrame(); f !== null; f = client.nextFrame()) this.#onRequestFrame(f, client.info);
      // Nothing held before or after this read: its frames are the chunk, cut (see #sendOut).
      this.#sendOut(fresh && client.buffered === 0 ? chunk : undefined);
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
      ex = new Exchange(this.#seq++, this.#variants.length, responses, info.attributes, this.#trace);
      if (this.#ctx.traffic?.tap.sample() === true) ex.trafficAt = Date.now();
      // A variant quarantined while this connection is open leaves it now.
      if (this.#env.anyQuarantined) for (const v of this.#variants) if (!v.dead && this.#env.isQuarantined(v.target.name)) this.#kill(v, 'quarantined');
      if (responses > 0) {
        this.#exchanges.push(ex);
        for (const v of this.#variants) {
          if (v.dead) this.#settle(ex, v.index, v.dead);
          else v.awaiting.push(ex);
        }
      }
      this.#current = ex;
    }
    ex.keep(frame);
    // Frames of one read go to each variant together (one Peer.write per variant per read), see #sendOut.
    this.#out.push(frame);
    if (info.start && info.attributes !== undefined) this.#starts?.push(info.attributes);
    if (info.end) {
      this.#current = undefined;
      ex.sentAt = performance.now();
      if (ex.pending > 0) this.#timer.arm(ex);
    }
  }

  /**
   * Write the request frames collected from one read to every variant: the primary first, one Peer.write each.
   * `chunk`: the read's bytes when the client's framer held nothing before or after it.
   */
  #sendOut(chunk?: Buffer): void {
    let frames = this.#out;
    if (frames.length === 0) return;
    this.#out = [];
    const starts = this.#starts;
    if (starts !== undefined) this.#starts = [];
    let bytes = 0;
    for (const f of frames) bytes += f.length;
    // Wire-exact frames (a protocol codec) are joined once for all the variants, not once by each Peer.write; frames
    // that are a whole read (as many bytes as the chunk, nothing held around it) are that chunk.
    if (frames.length > 1 && this.#client.tracked) {
      if (chunk !== undefined && chunk.length === bytes) frames = [chunk];
      else if (bytes <= COALESCE_LIMIT) frames = [joinFrames(frames, bytes)];
    }
    const out = { frames, starts };
    for (const v of this.#variants) {
      if (v.dead) continue;
      v.target.cluster.stats.bytesToUpstream += bytes;
      v.send(out);
    }
  }

  #onClientEnd(): void {
    this.#clientEnded = true;
    try {
      this.#client.endInput();
      for (let f = this.#client.nextFrame(); f !== null; f = this.#client.nextFrame()) this.#onRequestFrame(f, this.#client.info);
      this.#sendOut();
    } catch (err) {
      this.#fail(err, 'client');
      return;
    }
    for (const v of this.#variants) if (!v.dead) v.end();
    this.#flush();
  }

  // ---- variants → client ----

  #onVariantData(v: ReplicaVariant, chunk: Buffer): void {
    const peer = v.peer!;
    v.target.cluster.stats.bytesToDownstream += chunk.length;
    try {
      // An answer whose frames are this whole chunk is written to the client as the chunk (see #onResponseFrame).
      v.fresh = this.#policy !== 'primary' && peer.tracked && peer.buffered === 0 ? chunk : undefined;
      v.firstFrame = true;
      peer.push(chunk);
      for (let f = peer.nextFrame(); f !== null; f = peer.nextFrame()) this.#onResponseFrame(v, f, peer.info);
    } catch (err) {
      this.#ctx.logger.debug({ route: this.#env.route, variant: v.target.name, err: (err as Error).message }, 'variant sent a malformed answer');
      this.#kill(v, 'malformed');
    }
    v.fresh = undefined;
    this.#flushPrimary();
  }

  /** policy `primary`: what the primary sent in one read goes to the client together (one Peer.write). */
  #flushPrimary(): void {
    if (!this.#primaryOut) return;
    this.#primaryOut = false;
    this.#flush();
  }

  #onVariantEnd(v: ReplicaVariant): void {
    if (v.dead || !v.peer) return;
    try {
      v.peer.endInput();
      for (let f = v.peer.nextFrame(); f !== null; f = v.peer.nextFrame()) this.#onResponseFrame(v, f, v.peer.info);
    } catch {
      this.#kill(v, 'malformed');
      return;
    }
    this.#flushPrimary();
    this.#kill(v, 'closed');
  }

  #onResponseFrame(v: ReplicaVariant, frame: Frame, info: MessageInfo): void {
    const first = v.firstFrame;
    v.firstFrame = false;
    if (v.dead) return;
    const peer = v.peer!;
    if (info.unsolicited) {
      // Greetings, pushes, interim answers (HTTP 100 Continue): the first live variant's go to the client at once.
      if (this.#variants.find((x) => !x.dead) === v) this.#writeClient([frame]);
      return;
    }
    const ex = v.awaiting[0];
    if (!ex) {
      this.#ctx.logger.debug({ route: this.#env.route, variant: v.target.name }, 'variant answered a request nobody sent');
      this.#kill(v, 'malformed');
      return;
    }
    const streaming = this.#policy === 'primary' && v.index === 0;
    const slot = ex.slots[v.index]!;
    // The answer starts with the first frame of a read that began with nothing held: it may be that whole chunk.
    if (first && v.fresh !== undefined && slot.bytes === 0) slot.wire = v.fresh;
    const taken = ex.take(v.index, frame, info.end, this.#env.settings.maxMessageBytes, streaming);
    if (taken === 'oversized') return this.#kill(v, 'oversized');
    if (taken === 'complete') {
      v.awaiting.shift();
      // Still the same read, and the answer is as long as its chunk: its frames are the chunk.
      if (slot.wire !== undefined && (slot.wire !== v.fresh || slot.bytes !== slot.wire.length)) slot.wire = undefined;
      // How the variant's connection goes on after this answer, for the client's codec if it is served (see #flush).
      if (this.#handOver !== undefined) slot.after = this.#handOver.after!(peer.codec!);
      v.target.latency.observe(slot.latencyMs! / 1000);
      this.#slotDone(ex);
    }
    if (streaming && this.#exchanges[0] === ex) this.#primaryOut = true;
  }

  /** An exchange's time is up: every variant that has not answered it is timed out. */
  #expire(ex: Exchange): void {
    for (const v of this.#variants) if (!ex.slots[v.index]!.done) this.#kill(v, 'timeout');
  }

  /** A variant is unusable (failed, timed out, closed): every answer it owes becomes `status`. */
  #kill(v: ReplicaVariant, status: VariantStatus): void {
    if (!v.kill(status)) return;
    const owed = v.awaiting.splice(0);
    for (const ex of owed) this.#settle(ex, v.index, status);
    if (!this.#done && this.#variants.every((x) => x.dead) && this.#exchanges.length === 0) {
      // Nothing can be answered any more.
      this.#closing = true;
      this.#client.socket.end();
    }
  }

  #settle(ex: Exchange, index: number, status: VariantStatus): void {
    if (ex.settle(index, status)) this.#slotDone(ex);
  }

  /** A variant's answer is in (or failed): judge when all are; policy `primary` settles on the primary's alone. */
  #slotDone(ex: Exchange): void {
    if (this.#done) return;
    const primary = ex.slots[0]!;
    if (ex.pending === 0) ex.judge(this.#env, this.#ctx.protocol, this.#env.warmingUp());
    else if (this.#policy === 'primary' && primary.done && ex.open) {
      if (primary.status === 'ok') ex.to(ExchangePhase.Decided);
      else ex.block(this.#env, primary.status === 'timeout' ? 504 : 502, 'the primary variant did not answer');
    } else return;
    this.#flush();
  }

  /** Write settled answers to the client, in request order (each answer's frames in one Peer.write). */
  #flush(): void {
    while (!this.#done) {
      const ex = this.#exchanges[0];
      if (!ex) break;
      if (ex.phase === ExchangePhase.Blocked) {
        this.#exchanges.shift();
        this.#sendBlocked(ex);
        return;
      }
      if (this.#policy === 'primary') {
        // The primary's answer streams to the client as it arrives; the exchange is done with once it is complete.
        const slot = ex.slots[0]!;
        if (slot.out.length > 0) {
          const out = slot.out;
          slot.out = NO_FRAMES;
          if (ex.phase === ExchangePhase.Waiting) ex.to(ExchangePhase.Streaming);
          this.#writeClient(out);
        }
      }
      if (ex.phase !== ExchangePhase.Decided) break;
      this.#exchanges.shift();
      ex.to(ExchangePhase.Delivered);
      if (ex.trafficAt !== undefined) this.#record(ex, this.#policy === 'primary' ? 0 : ex.serve, undefined, undefined);
      if (this.#policy === 'primary') continue;
      const served = ex.slots[ex.serve!]!;
      // The client's codec is told of the answer (the variant's codec framed it) instead of parsing it again.
      const h = this.#handOver;
      const told = h !== undefined && served.after !== undefined && ex.attributes !== undefined && h.handOver!(this.#client.codec!, ex.attributes, served.after);
      this.#writeClient(served.wire !== undefined ? [served.wire] : served.frames, told);
      // Answers of the other variants are no longer needed (emptied in place: pop() is inlined, a store to length is not).
      for (const s of ex.slots) {
        const frames = s.frames;
        while (frames.length > 0) frames.pop();
        s.wire = undefined;
      }
    }
    if (this.#exchanges.length === 0 && this.#clientEnded && !this.#current && !this.#closing && !this.#done) {
      this.#closing = true;
      this.#client.socket.end();
    }
    this.#maybeResumeClient();
  }

  #sendBlocked(ex: Exchange): void {
    this.#closing = true;
    const reply = this.#client.codec?.errorReply({ request: ex.attributes, message: ex.blockedMessage, status: ex.blockedStatus, close: true });
    for (const s of this.#ctx.stats) s.error(ex.blockedStatus === 504 ? ErrorCodes.UPSTREAM_TIMEOUT : ErrorCodes.DIVERGENCE);
    if (ex.trafficAt !== undefined) this.#record(ex, undefined, ex.blockedStatus === 504 ? ErrorCodes.UPSTREAM_TIMEOUT : ErrorCodes.DIVERGENCE, reply?.frames[0]);
    const socket = this.#client.socket;
    if (ex.cutShort) {
      // Half an answer already went out: only closing the connection tells the client it is incomplete.
      this.#closeAll();
      return;
    }
    if (reply) this.#writeReply(reply.frames);
    for (const v of this.#variants) if (v.socket && !v.socket.destroyed) v.socket.destroy();
    // Raw TCP has no error message: the connection closes.
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /**
   * The listener's traffic record of a sampled exchange, when it is decided: the variant served (`served`), or the
   * block (`error`, with the proxy's reply `blocked`). Route: this replicate route; cluster: "replicate".
   */
  #record(ex: Exchange, served: number | undefined, error: string | undefined, blocked: Buffer | undefined): void {
    const traffic = this.#ctx.traffic!;
    const first = blocked ?? (served === undefined ? undefined : ex.slots[served]?.frames[0]);
    let answer = '';
    try {
      if (first !== undefined && traffic.summarize !== undefined) answer = traffic.summarize(first);
    } catch {
      answer = '';
    }
    traffic.tap.record({
      at: ex.trafficAt!,
      durationMs: Math.max(0, Date.now() - ex.trafficAt!),
      request: scalarAttributes(ex.attributes),
      answer,
      ...(error !== undefined ? { error } : {}),
      route: this.#env.route,
      cluster: 'replicate',
      ...(served !== undefined ? { endpoint: this.#variants[served]!.target.name } : {}),
    });
  }

  /** An error reply of switchyard's own (a blocked answer's 502/504, a 400): counted like forwarded bytes. */
  #writeReply(frames: readonly Buffer[]): void {
    let n = 0;
    for (const f of frames) n += f.length;
    for (const s of this.#ctx.stats) s.bytesToDownstream += n;
    this.#client.writeRaw(frames);
  }

  /** `told`: the client's codec was told of the answer (it does not parse the frames). */
  #writeClient(frames: readonly Frame[], told = false): void {
    let n = 0;
    for (const f of frames) n += f.length;
    for (const s of this.#ctx.stats) s.bytesToDownstream += n;
    try {
      this.#client.write(frames, told);
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

  /** Enough requests are outstanding, or a variant is not taking more: stop reading the client. */
  #full(): boolean {
    if (this.#exchanges.length >= this.#env.settings.maxInFlight) return true;
    for (const v of this.#variants) if (!v.dead && v.socket?.writableNeedDrain === true) return true;
    return false;
  }

  #maybePauseClient(): void {
    if (this.#full()) this.#client.socket.pause();
  }

  #maybeResumeClient(): void {
    if (!this.#done && this.#client.socket.isPaused() && !this.#full()) this.#client.socket.resume();
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
        this.#writeReply(reply.frames);
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
    this.#timer.stop();
    for (const v of this.#variants) v.close();
    this.#conn.release();
  }
}
