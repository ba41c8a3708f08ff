import type { Socket } from 'node:net';
import type { MirrorConfig } from '../config/replication.js';
import { ErrorCodes } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Frame } from '../framing/framer.js';
import { PASSTHROUGH_FACTORY } from '../framing/passthrough.js';
import { CONTINUE, type Direction, type FrameHandler, type HandlerFactory, type SessionContext, type Verdict } from '../pipeline/handler.js';
import type { Attributes, MessageInfo } from '../protocols/protocol.js';
import type { MirrorStats } from '../routing/director.js';
import type { ConnectionFraming } from '../routing/engine.js';
import type { Cluster } from '../upstream/cluster.js';
import { buildComparator, validateNormalise, type Comparator } from '../compare/comparator.js';
import type { ProtocolRegistry } from '../protocols/registry.js';
import { DivergenceReporter } from './divergence-report.js';
import type { DivergenceLog, VariantStatus } from './events.js';
import { REQUEST_KEEP, describeRequest, judge } from './judge.js';
import { LatencyHistogram } from '../core/latency.js';
import { NoiseModel } from '../compare/noise.js';
import { Peer, WHOLE, sameBytes } from './peer.js';
import { readChunks } from '../net/chunk-reader.js';

export interface MirrorDeps {
  readonly route: string;
  readonly config: MirrorConfig;
  readonly shadow: Cluster;
  /** The route's primary cluster (for names in events). */
  readonly primaryName: string;
  readonly log: DivergenceLog;
  readonly logger: Logger;
  readonly random: () => number;
  /** Where the comparators find each protocol's lifter. */
  readonly protocols: ProtocolRegistry;
}

/**
 * `mirror`: copies a share of a route's requests to a shadow cluster, fire and forget. The shadow never slows the
 * primary: its requests are written without waiting, and when more than `queueSize` bytes wait for the shadow,
 * requests are dropped (whole) and counted. With `compare: true` the shadow's answers are paired with the
 * primary's (by the protocol module) and differences are recorded as divergences (Diffy's use case).
 */
export class MirrorHandlerFactory implements HandlerFactory {
  readonly name = 'mirror';
  readonly stats: MirrorStats = { mirrored: 0, dropped: 0, sampledOut: 0 };
  readonly latency = new LatencyHistogram();
  readonly #comparators = new Map<string, Comparator>();
  readonly noise = new NoiseModel();
  readonly report: DivergenceReporter;

  constructor(readonly deps: MirrorDeps) {
    this.report = new DivergenceReporter(deps.log, deps.route, 'mirror');
    validateNormalise(deps.config.normalise); // bad masks fail at config time
  }

  comparator(protocol: string): Comparator {
    let c = this.#comparators.get(protocol);
    if (!c) this.#comparators.set(protocol, (c = buildComparator(protocol, this.deps.config.normalise, { protocols: this.deps.protocols })));
    return c;
  }

  create(ctx: SessionContext): FrameHandler {
    return new MirrorHandler(this, ctx);
  }
}

interface Pair {
  readonly request: Frame[];
  requestBytes: number;
  readonly attributes: Attributes | undefined;
  /** Responses still expected from each side. */
  primaryLeft: number;
  shadowLeft: number;
  primary: Frame[];
  primaryBytes: number;
  shadow: Frame[];
  shadowBytes: number;
  shadowStatus: VariantStatus | undefined;
  primaryTooLarge: boolean;
  sentAt: number;
  primaryMs: number | undefined;
  shadowMs: number | undefined;
  timer: NodeJS.Timeout | undefined;
}

class MirrorHandler implements FrameHandler {
  readonly #f: MirrorHandlerFactory;
  readonly #framing: ConnectionFraming;
  readonly #protocol: string;
  #shadow: Peer | undefined;
  #socket: Socket | undefined;
  #connecting: Promise<void> | undefined;
  #queued: Frame[] = [];
  #queuedBytes = 0;
  #batch: Frame[] = [];
  /** The request being received is mirrored. */
  #mirroring = false;
  #current: Pair | undefined;
  /** Compare: mirrored exchanges awaiting the primary's answer / the shadow's answer, in order. */
  readonly #awaitPrimary: Array<{ pair: Pair | undefined; left: number }> = [];
  readonly #awaitShadow: Pair[] = [];
  #closed = false;
  /** Writes the frames of one client read to the shadow (queued as a microtask once per read). */
  readonly #flushBatch = (): void => this.#writeBatch();

  constructor(factory: MirrorHandlerFactory, ctx: SessionContext) {
    this.#f = factory;
    this.#framing = ctx.framing ?? { toUpstream: PASSTHROUGH_FACTORY, toDownstream: PASSTHROUGH_FACTORY };
    this.#protocol = ctx.framing?.codec?.name ?? ctx.framing?.toUpstream.name ?? 'tcp';
  }

  onFrame(frame: Frame, direction: Direction, _ctx: SessionContext, info?: MessageInfo): Verdict {
    if (direction === 'toUpstream') this.#onRequest(frame, info ?? WHOLE);
    else if (this.#f.deps.config.compare) this.#onPrimaryResponse(frame, info ?? WHOLE);
    return CONTINUE;
  }

  #onRequest(frame: Frame, info: MessageInfo): void {
    const cfg = this.#f.deps.config;
    if (info.opaque) {
      this.#mirroring = false;
      return;
    }
    if (info.start) {
      const responses = info.responses ?? 1;
      this.#mirroring = false;
      if (cfg.fraction < 1 && this.#f.deps.random() >= cfg.fraction) this.#f.stats.sampledOut++;
      else if (this.#backlog() + frame.length > cfg.queueSize) this.#f.stats.dropped++;
      else {
        this.#mirroring = true;
        this.#f.stats.mirrored++;
      }
      const pair: Pair | undefined =
        cfg.compare && this.#mirroring
          ? {
              request: [],
              requestBytes: 0,
              attributes: info.attributes,
              primaryLeft: responses,
              shadowLeft: responses,
              primary: [],
              primaryBytes: 0,
              shadow: [],
              shadowBytes: 0,
              shadowStatus: undefined,
              primaryTooLarge: false,
              sentAt: performance.now(),
              primaryMs: undefined,
              shadowMs: undefined,
              timer: undefined,
            }
          : undefined;
      this.#current = pair;
      if (cfg.compare && responses > 0) {
        // Keep the primary's answers paired even for requests that were not mirrored.
        this.#awaitPrimary.push({ pair, left: responses });
        if (pair) this.#awaitShadow.push(pair);
      }
    } else if (this.#mirroring && this.#backlog() + frame.length > cfg.queueSize) {
      // The shadow fell behind in the middle of a request: half a request would corrupt its stream; start over.
      this.#f.stats.dropped++;
      this.#mirroring = false;
      this.#resetShadow('timeout');
    }
    if (!this.#mirroring) return;
    const pair = this.#current;
    if (pair && pair.requestBytes < REQUEST_KEEP) {
      pair.request.push(frame);
      pair.requestBytes += frame.length;
    }
    this.#sendShadow(frame);
    if (info.end && pair) {
      pair.sentAt = performance.now();
      pair.timer = setTimeout(() => this.#shadowTimeout(pair), cfg.timeout);
      pair.timer.unref();
    }
  }

  #backlog(): number {
    return this.#queuedBytes + (this.#socket?.writableLength ?? 0);
  }

  #sendShadow(frame: Frame): void {
    if (this.#shadow) {
      // Frames handed over in one go (one read of the client) reach the shadow together (one Peer.write).
      this.#batch.push(frame);
      if (this.#batch.length === 1) queueMicrotask(this.#flushBatch);
      return;
    }
    this.#queued.push(frame);
    this.#queuedBytes += frame.length;
    if (!this.#connecting) this.#connecting = this.#connect();
  }

  #writeBatch(): void {
    const frames = this.#batch;
    this.#batch = [];
    if (frames.length === 0 || !this.#shadow) return;
    try {
      this.#shadow.write(frames);
    } catch {
      this.#resetShadow('malformed');
    }
  }

  async #connect(): Promise<void> {
    const deps = this.#f.deps;
    let socket: Socket;
    try {
      socket = await deps.shadow.connect();
    } catch (err) {
      deps.shadow.stats.error((err as { code?: string }).code ?? ErrorCodes.UPSTREAM_ERROR);
      this.#f.stats.dropped += this.#awaitShadow.length;
      this.#resetShadow('refused');
      return;
    }
    if (this.#closed) {
      socket.destroy();
      return;
    }
    deps.shadow.stats.active++;
    deps.shadow.stats.total++;
    this.#socket = socket;
    const peer = new Peer('server', this.#framing, socket);
    this.#shadow = peer;
    readChunks(socket, (chunk) => this.#onShadowData(peer, chunk));
    socket.on('error', () => this.#resetShadow('reset'));
    socket.on('close', () => {
      deps.shadow.stats.active--;
      if (this.#shadow === peer) this.#resetShadow('closed');
    });
    const queued = this.#queued;
    this.#queued = [];
    this.#queuedBytes = 0;
    try {
      peer.write(queued);
    } catch {
      this.#resetShadow('malformed');
    }
  }

  #onShadowData(peer: Peer, chunk: Buffer): void {
    if (!this.#f.deps.config.compare) return; // fire and forget: the shadow's answers are read and discarded
    try {
      peer.push(chunk);
      for (let m = peer.next(); m !== null; m = peer.next()) {
        if (m.info.unsolicited) continue;
        const pair = this.#awaitShadow[0];
        if (!pair) throw new Error('the shadow answered a request it was not sent');
        if (pair.shadowBytes + m.frame.length <= this.#f.deps.config.maxMessageSize) pair.shadow.push(m.frame);
        else pair.shadowStatus = 'oversized';
        pair.shadowBytes += m.frame.length;
        if (m.info.end && --pair.shadowLeft === 0) {
          this.#awaitShadow.shift();
          pair.shadowMs = performance.now() - pair.sentAt;
          this.#f.latency.observe(pair.shadowMs / 1000);
          pair.shadowStatus ??= 'ok';
          this.#maybeCompare(pair);
        }
      }
    } catch {
      this.#resetShadow('malformed');
    }
  }

  #onPrimaryResponse(frame: Frame, info: MessageInfo): void {
    if (info.unsolicited || info.opaque) return;
    const head = this.#awaitPrimary[0];
    if (!head) return;
    const pair = head.pair;
    if (pair) {
      if (pair.primaryBytes + frame.length <= this.#f.deps.config.maxMessageSize) pair.primary.push(frame);
      else pair.primaryTooLarge = true;
      pair.primaryBytes += frame.length;
    }
    if (!info.end || --head.left > 0) return;
    this.#awaitPrimary.shift();
    if (pair) {
      pair.primaryLeft = 0;
      pair.primaryMs = performance.now() - pair.sentAt;
      this.#maybeCompare(pair);
    }
  }

  #shadowTimeout(pair: Pair): void {
    pair.timer = undefined;
    if (pair.shadowStatus !== undefined) return;
    // The shadow is late: its answers would no longer pair up. Report and start a fresh shadow connection.
    this.#resetShadow('timeout');
  }

  /** Give up on the shadow connection: every answer it owes becomes `status`; the next mirrored request reconnects. */
  #resetShadow(status: VariantStatus): void {
    const socket = this.#socket;
    this.#socket = undefined;
    this.#shadow = undefined;
    this.#connecting = undefined;
    this.#queued = [];
    this.#queuedBytes = 0;
    this.#batch = [];
    this.#mirroring = false;
    socket?.destroy();
    for (const pair of this.#awaitShadow.splice(0)) {
      pair.shadowStatus = status;
      this.#maybeCompare(pair);
    }
  }

  #maybeCompare(pair: Pair): void {
    if (pair.shadowStatus === undefined || pair.primaryLeft > 0 || pair.primaryMs === undefined) return;
    if (pair.timer) clearTimeout(pair.timer);
    pair.timer = undefined;
    if (this.#closed && pair.shadowStatus === 'closed') return;
    if (pair.primaryTooLarge) return;
    const ok = pair.shadowStatus === 'ok';
    if (ok && sameBytes(pair.primary, pair.shadow)) return;
    const deps = this.#f.deps;
    const cmp = this.#f.comparator(this.#protocol);
    const judged = judge({ comparator: cmp, noise: this.#f.noise, filterPair: false, policy: 'primary', request: pair.request, answers: [pair.primary, ok ? pair.shadow : undefined] });
    if (ok && judged.noDifference) return;
    this.#f.report.record({
      policy: 'primary',
      decision: 'reported',
      request: describeRequest(cmp, pair.request, pair.attributes),
      names: [deps.primaryName, deps.config.cluster],
      statuses: ['ok', pair.shadowStatus],
      agreed: (i) => i === 0,
      latencyMs: [pair.primaryMs, pair.shadowMs],
      judged,
      served: 0,
    });
  }

  onClose(): void {
    this.#closed = true;
    const socket = this.#socket;
    if (!socket) return;
    if (this.#awaitShadow.length === 0) {
      socket.end();
      return;
    }
    // Let the shadow finish what it was sent (bounded by the timeout), then close.
    const t = setTimeout(() => socket.destroy(), this.#f.deps.config.timeout);
    t.unref();
    socket.end();
  }
}
