/**
 * One proxied call: a client stream fanned out to a primary and its secondaries. Only the primary's headers, DATA and
 * trailers reach the client (DATA as it arrives, never re-framed); the secondaries get a copy of the request stream
 * and their answers are read and dropped. The final status follows one precedence (docs/grpc.md):
 * the proxy's own status (deadline, director refusal, primary unreachable) > the primary's error (after its error
 * handler; passed on as is) > a secondary's error (after its handler: INTERNAL "failed proxying to secondary: …") >
 * the finalizer's error > the primary's own trailers. The finalizer always runs, once.
 */
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Logger } from '../core/log.js';
import type { TrafficStats } from '../core/stats.js';
import type { TrafficTap } from '../core/traffic.js';
import { grpcAttributes, type GrpcCallInfo, type GrpcDestination, type GrpcDirector, type GrpcErrorHandler, type GrpcStreamParameters } from './director.js';
import { frameMessage, requestMetadata, serviceOf, statusFromTrailers, statusTrailers } from './headers.js';
import { type H2Pool, sessionLost } from './pool.js';
import { readFirstMessage, type Peeked } from './peek.js';
import { ClientReply } from './reply.js';
import { ResponseCapture, reportDivergence, type GrpcReportSetup } from './compare.js';
import type { DestinationCounters, GrpcRouteStats } from './route-stats.js';
import { GrpcCode, GrpcStatusError, codeName, parseGrpcTimeout, statusForReset } from './status.js';
import type { CallFault } from './call-faults.js';
import { voteOnAnswers, type GrpcVoteSetup, type VoterAnswer } from './vote.js';
import { recordCall } from './call-record.js';


/** What a route gives its calls (built from the route's config, plus a director registered from code). */
export interface GrpcRouteSetup {
  readonly routeId: string;
  readonly primary: string;
  readonly secondaries: readonly string[];
  readonly secondaryErrors: 'swallow' | 'fail';
  /** Methods that go to the secondaries too; absent = all. */
  readonly mutators: RegExp | undefined;
  /** Bytes that may wait toward one secondary before it is cancelled. */
  readonly secondaryQueue: number;
  readonly director: GrpcDirector | undefined;
  readonly stats: GrpcRouteStats;
  /** Traffic counters the call adds to (listener, route). */
  readonly traffic: readonly TrafficStats[];
  /** `compare: {policy: report}`: how the primary's and each secondary's answers are compared, and where differences are recorded. */
  readonly report: (GrpcReportSetup & { readonly holdLimit: number }) | undefined;
  /** `compare: {policy: majority | unanimous | weighted}` (or a replicate route's policy): answers are held until the vote. */
  readonly vote?: GrpcVoteSetup | undefined;
  /** A replicate route's `timeout`: ms each destination has to end once the client's request stream ended. */
  readonly variantTimeout?: number | undefined;
  /** A `mirror` route: a shadow that gets a copy of the call and never holds the client's answer. */
  readonly mirror?: GrpcMirrorSetup | undefined;
}

/** A route's `mirror` on a grpc listener. */
export interface GrpcMirrorSetup {
  readonly cluster: string;
  /** Draws whether this call is mirrored (`fraction`, seeded). */
  sample(): boolean;
  /** Request bytes that may wait toward the shadow; past it the shadow's copy is cancelled. */
  readonly queueSize: number;
  /** ms the shadow has to end once the client's request stream ended. */
  readonly timeout: number;
  /** `compare: true`: the shadow's answer against the primary's (mode `mirror`, decision `reported`). */
  readonly compare: GrpcVoteSetup | undefined;
}

export interface CallEnv {
  pool(clusterId: string): H2Pool | undefined;
  /** `upstream` (the endpoint's address), `client` (as received) or a fixed value. */
  readonly authority: string;
  readonly logger: Logger;
  /** The listener's traffic tail: a sampled call is recorded when it ends. */
  readonly traffic?: TrafficTap | undefined;
}

interface Dest {
  readonly cluster: string;
  readonly role: 'primary' | 'secondary';
  readonly spec: GrpcDestination;
  readonly handler: GrpcErrorHandler | undefined;
  readonly counters: DestinationCounters;
  stream: ClientHttp2Stream | undefined;
  done: boolean;
  trailers: IncomingHttpHeaders | undefined;
  /** Its response headers (not a Trailers-Only answer); kept for the vote. */
  headers: IncomingHttpHeaders | undefined;
  /** Why the proxy cancelled it (the status it counts as). */
  cancelled: GrpcStatusError | undefined;
  /** Its error before the handler. */
  error: GrpcStatusError | undefined;
  /** Its error after the handler (undefined: none or swallowed). */
  reported: GrpcStatusError | undefined;
  /** Its final status (set when it ended). */
  status: GrpcStatusError | undefined;
  /** Its answer, kept for `compare: report`. */
  capture: ResponseCapture | undefined;
  /** A mirror's shadow: the call does not wait for it; its answer is compared (or dropped) when it ends. */
  detached: boolean;
  endedAt: number;
}

/** `sampled`: the listener's traffic tail sampled this call (it is recorded when it ends). */
export function handleCall(client: ServerHttp2Stream, headers: IncomingHttpHeaders, route: GrpcRouteSetup, env: CallEnv, faults?: readonly CallFault[], sampled = false): void {
  new ProxyCall(client, headers, route, env, sampled).start(faults);
}

class ProxyCall {
  readonly #client: ServerHttp2Stream;
  readonly #headers: IncomingHttpHeaders;
  readonly #route: GrpcRouteSetup;
  readonly #env: CallEnv;
  readonly #grpc: boolean;
  readonly #method: string;
  readonly #started = Date.now();
  readonly #timeout: number | undefined;
  #dests: Dest[] = [];
  #finalizer: (() => void | Promise<void>) | undefined;
  #forced: GrpcStatusError | undefined;
  #clientGone = false;
  #finishing = false;
  readonly #reply: ClientReply;
  #timer: NodeJS.Timeout | undefined;
  /** The first message, when a director peeked (its bytes are held until the destinations are open). */
  #peeked: Promise<Peeked> | undefined;
  #first: Peeked | undefined;
  /** An `abort` fault reset the client's stream (the call counts INTERNAL, not CANCELLED). */
  #aborted = false;
  /** The mirror's answer was compared (once). */
  #mirrorCompared = false;
  /** Ends a fault's delay early (the call ended meanwhile). */
  #wake: (() => void) | undefined;
  /** performance.now() at the start of a call the traffic tail sampled; undefined: not sampled. */
  readonly #trace: number | undefined;
  /** Request / response DATA bytes of this call (the traffic record's bytesIn / bytesOut). */
  #bytesIn = 0;
  #bytesOut = 0;
  /** A per-call fault ended the call (error, abort). */
  #injected = false;
  /** The primary's address:port (sampled calls only). */
  #endpoint: string | undefined;

  constructor(client: ServerHttp2Stream, headers: IncomingHttpHeaders, route: GrpcRouteSetup, env: CallEnv, sampled: boolean) {
    this.#trace = sampled ? performance.now() : undefined;
    this.#client = client;
    this.#headers = headers;
    this.#route = route;
    this.#env = env;
    this.#grpc = String(headers['content-type'] ?? '').startsWith('application/grpc');
    this.#method = String(headers[':path'] ?? '');
    this.#timeout = this.#grpc ? parseGrpcTimeout(headers['grpc-timeout'] as string | undefined) : undefined;
    this.#reply = new ClientReply(client, this.#grpc, headers['content-type']);
  }

  start(faults?: readonly CallFault[]): void {
    const client = this.#client;
    for (const t of this.#route.traffic) {
      t.active++;
      t.total++;
    }
    client.on('error', ignore);
    client.on('close', () => {
      for (const t of this.#route.traffic) t.active--;
      if (!this.#finishing) this.#lostClient();
    });
    if (this.#timeout !== undefined) {
      this.#timer = setTimeout(() => this.#force(new GrpcStatusError('DEADLINE_EXCEEDED', `Deadline exceeded at the proxy (grpc-timeout ${this.#headers['grpc-timeout'] as string})`)), this.#timeout);
    }
    if ((faults === undefined || faults.length === 0) && this.#route.director === undefined) {
      // The common case (no director, no fault): planned and opened without a promise when the pools have room.
      try {
        const later = this.#launch(this.#defaultParams());
        if (later) later.catch((err: unknown) => this.#force(asStatus(err, GrpcCode.INTERNAL)));
      } catch (err) {
        this.#force(asStatus(err, GrpcCode.INTERNAL));
      }
      return;
    }
    const run = faults === undefined || faults.length === 0 ? this.#direct() : this.#faulted(faults);
    run.catch((err: unknown) => this.#force(asStatus(err, GrpcCode.INTERNAL)));
  }

  /** The route's own plan (no director): its primary, and its secondaries when the method is a mutator. */
  #defaultParams(): GrpcStreamParameters {
    const route = this.#route;
    if (route.secondaries.length === 0 || (route.mutators !== undefined && !route.mutators.test(this.#method))) return { primary: route.primary, secondaries: [] };
    const errorHandler = route.secondaryErrors === 'swallow' ? swallowError : undefined;
    return { primary: route.primary, secondaries: route.secondaries.map((cluster) => ({ cluster, errorHandler })) };
  }

  /** Per-call faults first (docs/grpc.md § faults): delays, then an error, abort or hang instead of the call. */
  async #faulted(faults: readonly CallFault[]): Promise<void> {
    for (const f of faults) {
      f.fault.injected++;
      switch (f.kind) {
        case 'delay':
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              this.#wake = undefined;
              resolve();
            }, f.ms);
            const wake = (): void => {
              clearTimeout(timer);
              resolve();
            };
            this.#wake = wake;
          });
          if (this.#finishing) return;
          break;
        case 'error':
          this.#injected = true;
          this.#force(f.status);
          return;
        case 'abort':
          this.#injected = true;
          this.#aborted = true;
          this.#client.close(constants.NGHTTP2_INTERNAL_ERROR);
          return;
        case 'hang':
          // Read and drop the request; answer nothing until the deadline (grpc-timeout) or the client's cancel.
          this.#client.resume();
          return;
      }
    }
    await this.#direct();
  }

  async #direct(): Promise<void> {
    const route = this.#route;
    let params: GrpcStreamParameters;
    if (route.director) {
      const mutator = route.mutators === undefined || route.mutators.test(this.#method);
      const defaults = { primary: route.primary, secondaries: mutator ? route.secondaries : [] };
      const metadata = requestMetadata(this.#headers);
      const service = serviceOf(this.#method);
      const info: GrpcCallInfo = {
        method: this.#method,
        service,
        metadata,
        peer: this.#peer(),
        attributes: grpcAttributes(this.#method, metadata),
        route: route.routeId,
        defaults,
        peek: () => this.#peek(),
      };
      try {
        params = await route.director.direct(info);
      } catch (err) {
        this.#force(asStatus(err, GrpcCode.INTERNAL));
        return;
      }
    } else {
      params = this.#defaultParams();
    }
    if (this.#peeked) {
      try {
        this.#first = await this.#peeked;
      } catch {
        // the client ended or went away before a whole message: nothing is held
      }
    }
    if (this.#finishing) {
      // The call ended (client gone, deadline) while the director decided: its finalizer still runs, once.
      if (params.finalizer) await Promise.resolve().then(params.finalizer).catch(() => undefined);
      return;
    }
    await this.#launch(params);
  }

  /**
   * Open every destination's stream and start forwarding. Without a promise when every pool had a connected session
   * with room (the common case); else the promise of the rest.
   */
  #launch(params: GrpcStreamParameters): Promise<void> | undefined {
    const route = this.#route;
    this.#finalizer = params.finalizer;
    const make = (d: GrpcDestination | string, role: 'primary' | 'secondary'): Dest => {
      const spec = typeof d === 'string' ? { cluster: d } : d;
      const top = params.errorHandler;
      const handler = spec.errorHandler ?? (top ? (e: GrpcStatusError) => top(e, { cluster: spec.cluster, role }) : undefined);
      const counters = route.stats.destination(spec.cluster, role);
      counters.calls++;
      const capture = route.vote ? new ResponseCapture(route.vote.holdLimit) : route.report ? new ResponseCapture(route.report.holdLimit) : route.mirror?.compare && role === 'primary' ? new ResponseCapture(route.mirror.compare.holdLimit) : undefined;
      return { cluster: spec.cluster, role, spec, handler, counters, stream: undefined, done: false, trailers: undefined, headers: undefined, cancelled: undefined, error: undefined, reported: undefined, status: undefined, capture, endedAt: 0, detached: false };
    };
    const dests = [make(params.primary, 'primary')];
    if (params.secondaries) for (const d of params.secondaries) dests.push(make(d, 'secondary'));
    this.#dests = dests;
    const mirror = route.mirror;
    if (mirror && mirror.sample()) {
      const shadow = make({ cluster: mirror.cluster, errorHandler: () => undefined }, 'secondary');
      shadow.detached = true;
      shadow.capture = mirror.compare ? new ResponseCapture(mirror.compare.holdLimit) : undefined;
      dests.push(shadow);
    }
    // Each destination's stream, opened at once when its pool has a connected session with room (the common case:
    // no promise, no wait); else the call waits for them all.
    let pending = false;
    const now: (ClientHttp2Stream | Promise<ClientHttp2Stream> | GrpcStatusError)[] = [];
    for (const d of dests) {
      try {
        const r = this.#open(d);
        if (r instanceof Promise) pending = true;
        now.push(r);
      } catch (err) {
        now.push(asStatus(err, GrpcCode.UNAVAILABLE));
      }
    }
    if (pending) return this.#launchLater(now);
    this.#begin(now as (ClientHttp2Stream | GrpcStatusError)[]);
    return undefined;
  }

  /** Some destination's session was still connecting: wait for every stream, then start. */
  async #launchLater(now: readonly (ClientHttp2Stream | Promise<ClientHttp2Stream> | GrpcStatusError)[]): Promise<void> {
    const settled = await Promise.allSettled(now.map((r) => (r instanceof GrpcStatusError ? Promise.reject(r) : Promise.resolve(r))));
    this.#begin(settled.map((r) => (r.status === 'fulfilled' ? r.value : asStatus(r.reason, GrpcCode.UNAVAILABLE))));
  }

  /** Every destination's stream (or why it has none): wire them and pump the client's stream. */
  #begin(opened: readonly (ClientHttp2Stream | GrpcStatusError)[]): void {
    if (this.#finishing) {
      for (const r of opened) if (!(r instanceof GrpcStatusError)) r.close(constants.NGHTTP2_CANCEL);
      return;
    }
    const primary = this.#dests[0]!;
    const first = opened[0]!;
    if (first instanceof GrpcStatusError) {
      // The primary could not be reached: every destination's handler hears of it, the client gets UNAVAILABLE.
      for (const d of this.#dests) d.handler?.(first);
      primary.counters.errors.set(first.codeName, (primary.counters.errors.get(first.codeName) ?? 0) + 1);
      for (const r of opened) if (!(r instanceof GrpcStatusError)) r.close(constants.NGHTTP2_CANCEL);
      this.#force(first);
      return;
    }
    for (let i = 0; i < opened.length; i++) {
      const r = opened[i]!;
      const d = this.#dests[i]!;
      if (r instanceof GrpcStatusError) this.#settle(d, r);
      else this.#wire(d, r);
    }
    this.#pumpClient();
  }

  /** A destination's stream, or a promise of it (throws or rejects with the status it counts as). */
  #open(d: Dest): ClientHttp2Stream | Promise<ClientHttp2Stream> {
    const pool = this.#env.pool(d.cluster);
    if (!pool) throw new GrpcStatusError('INTERNAL', `route '${this.#route.routeId}': no cluster '${d.cluster}'`);
    const h: OutgoingHttpHeaders = d.spec.metadata ? { ...pick(this.#headers, ['content-type', 'te', 'grpc-encoding', 'grpc-accept-encoding']), ...d.spec.metadata } : requestMetadata(this.#headers);
    h[':method'] = this.#headers[':method'];
    h[':path'] = this.#headers[':path'];
    if (this.#timeout !== undefined) h['grpc-timeout'] = `${Math.max(1, Math.ceil(this.#timeout - (Date.now() - this.#started)))}m`;
    if (this.#peeked !== undefined && d.spec.message !== undefined) delete h['content-length'];
    const authority = this.#env.authority === 'upstream' ? undefined : this.#env.authority === 'client' ? (this.#headers[':authority']) : this.#env.authority;
    let r: ClientHttp2Stream | Promise<ClientHttp2Stream>;
    try {
      r = pool.openNow(h, authority);
    } catch (err) {
      throw new GrpcStatusError('UNAVAILABLE', `${(err as Error).message}`);
    }
    if (!(r instanceof Promise)) return r;
    return r.catch((err: unknown) => {
      throw new GrpcStatusError('UNAVAILABLE', `${(err as Error).message}`);
    });
  }

  /** Attach a destination's stream: the primary's answer goes to the client, a secondary's is read and dropped. */
  #wire(d: Dest, s: ClientHttp2Stream): void {
    d.stream = s;
    if (this.#trace !== undefined && d.role === 'primary') {
      const sock = s.session?.socket;
      if (sock?.remoteAddress !== undefined) this.#endpoint = `${sock.remoteAddress}:${sock.remotePort ?? ''}`;
    }
    s.on('error', ignore);
    s.on('trailers', (h: IncomingHttpHeaders) => (d.trailers = h));
    s.on('close', () => this.#closed(d));
    if (d.role === 'secondary') {
      s.on('response', (h: IncomingHttpHeaders, flags: number) => {
        if (flags & constants.NGHTTP2_FLAG_END_STREAM) d.trailers = h;
        else d.headers = h;
      });
      s.on('data', (chunk: Buffer) => d.capture?.add(chunk));
      return;
    }
    s.on('response', (h: IncomingHttpHeaders, flags: number) => {
      if (flags & constants.NGHTTP2_FLAG_END_STREAM) {
        d.trailers = h;
        return;
      }
      d.headers = h;
      if (this.#finishing || this.#clientGone) return;
      if (this.#route.vote) {
        // Held until the vote (served, or replaced by the block status).
        d.headers = h;
        return;
      }
      try {
        this.#reply.respond(h);
      } catch (err) {
        this.#env.logger.debug({ err, route: this.#route.routeId }, 'grpc: could not send response headers');
      }
    });
    let waiting = false;
    s.on('data', (chunk: Buffer) => {
      d.capture?.add(chunk);
      if (this.#route.vote) {
        if (d.capture?.overflow) this.#force(new GrpcStatusError('RESOURCE_EXHAUSTED', `the primary's answer is larger than compare.holdLimit (${this.#route.vote.holdLimit} bytes) and cannot be held for the vote`));
        return;
      }
      for (const t of this.#route.traffic) t.bytesToDownstream += chunk.length;
      this.#bytesOut += chunk.length;
      if (this.#clientGone || !this.#reply.responded) return;
      if (!this.#client.write(chunk) && !waiting) {
        waiting = true;
        s.pause();
        this.#client.once('drain', () => {
          waiting = false;
          s.resume();
        });
      }
    });
  }

  /** Forward what peek held, then the rest of the client's stream, to every live destination. */
  #pumpClient(): void {
    const client = this.#client;
    const first = this.#first;
    for (const d of this.#dests) {
      if (!d.stream || d.done || !first) continue;
      d.stream.write(frameMessage(d.spec.message ?? first.payload, d.spec.message ? 0 : first.flag));
      for (const b of first.rest) d.stream.write(b);
    }
    const endAll = (): void => {
      for (const d of this.#dests) if (d.stream && !d.done && d.stream.writable) d.stream.end();
      this.#armVariantTimeout();
    };
    // The stream may have ended while paused after a peek (Node emits 'end' for an EOF that follows the last chunk).
    if (client.readableEnded) {
      endAll();
      return;
    }
    const primary = this.#dests[0]!;
    let waiting = false;
    client.on('data', (chunk: Buffer) => {
      for (const t of this.#route.traffic) t.bytesToUpstream += chunk.length;
      this.#bytesIn += chunk.length;
      for (const d of this.#dests) {
        const s = d.stream;
        if (!s || d.done || !s.writable) continue;
        const ok = s.write(chunk);
        if (d === primary) {
          if (!ok && !waiting) {
            waiting = true;
            client.pause();
            s.once('drain', () => {
              waiting = false;
              client.resume();
            });
          }
        } else if (s.writableLength > (d.detached ? (this.#route.mirror?.queueSize ?? this.#route.secondaryQueue) : this.#route.secondaryQueue)) {
          d.counters.queueOverflows++;
          this.#cancel(d, new GrpcStatusError('RESOURCE_EXHAUSTED', `secondary '${d.cluster}' fell behind: more than ${this.#route.secondaryQueue} bytes queued`));
        }
      }
    });
    client.on('end', endAll);
    client.resume();
  }

  /** replicate `timeout` / mirror `timeout`: destinations still running that long after the request ended are cancelled. */
  #armVariantTimeout(): void {
    const arm = (ms: number | undefined, which: (d: Dest) => boolean): void => {
      if (ms === undefined) return;
      setTimeout(() => {
        for (const d of this.#dests) if (which(d) && !d.done) this.#cancel(d, new GrpcStatusError('DEADLINE_EXCEEDED', `'${d.cluster}' did not answer within ${ms} ms`));
      }, ms).unref();
    };
    arm(this.#route.variantTimeout, (d) => !d.detached);
    arm(this.#route.mirror?.timeout, (d) => d.detached);
  }

  async #peek(): Promise<Buffer> {
    if (!this.#peeked) {
      this.#peeked = readFirstMessage(this.#client, (n) => {
        for (const t of this.#route.traffic) t.bytesToUpstream += n;
        this.#bytesIn += n;
      });
    }
    return (await this.#peeked).payload;
  }

  #cancel(d: Dest, why: GrpcStatusError): void {
    if (d.done || d.cancelled) return;
    d.cancelled = why;
    if (d.stream && !d.stream.closed) d.stream.close(constants.NGHTTP2_CANCEL);
    else if (!d.stream) this.#settle(d, why);
  }

  #closed(d: Dest): void {
    if (d.done) return;
    const s = d.stream!;
    let status: GrpcStatusError;
    if (d.cancelled) status = d.cancelled;
    else if (d.trailers) status = statusFromTrailers(d.trailers);
    else if (!this.#grpc && s.rstCode === constants.NGHTTP2_NO_ERROR) status = new GrpcStatusError('OK', '');
    else status = statusForReset(s.rstCode, sessionLost(s));
    this.#settle(d, status);
  }

  #settle(d: Dest, status: GrpcStatusError): void {
    if (d.done) return;
    d.done = true;
    d.status = status;
    d.endedAt = Date.now();
    d.counters.latency.observe((d.endedAt - this.#started) / 1000);
    if (status.code !== GrpcCode.OK) {
      d.error = status;
      d.counters.errors.set(status.codeName, (d.counters.errors.get(status.codeName) ?? 0) + 1);
      d.reported = d.handler ? d.handler(status) : status;
      if (d.role === 'primary' && !this.#route.vote) {
        // (A voting route keeps its secondaries: their answers vote on the primary's error too.)
        for (const s of this.#dests) if (s.role === 'secondary') this.#cancel(s, new GrpcStatusError('CANCELLED', 'cancelled: the primary failed'));
      }
    }
    if (d.detached && this.#finishing) this.#compareMirror(d);
    if (this.#dests.every((x) => x.done || x.detached)) void this.#finish();
  }

  /** The client reset its stream or its connection dropped: cancel every destination. */
  #lostClient(): void {
    this.#clientGone = true;
    const why = new GrpcStatusError('CANCELLED', 'the client cancelled');
    if (this.#dests.length === 0) {
      void this.#finish();
      return;
    }
    for (const d of this.#dests) this.#cancel(d, why);
  }

  /** The proxy answers itself (deadline, refusal, unreachable primary): cancel every destination. */
  #force(status: GrpcStatusError): void {
    if (this.#finishing) return;
    this.#forced ??= status;
    const live = this.#dests.filter((d) => !d.done);
    if (live.length === 0) {
      void this.#finish();
      return;
    }
    for (const d of live) this.#cancel(d, new GrpcStatusError('CANCELLED', `cancelled: ${status.message}`));
  }

  async #finish(): Promise<void> {
    if (this.#finishing) return;
    this.#finishing = true;
    clearTimeout(this.#timer);
    this.#wake?.();
    let finalizerError: GrpcStatusError | undefined;
    if (this.#finalizer) {
      try {
        await this.#finalizer();
      } catch (err) {
        finalizerError = asStatus(err, GrpcCode.UNKNOWN);
      }
    }
    const primary = this.#dests[0];
    const secondaryError = this.#dests.find((d) => d.role === 'secondary' && d.reported)?.reported;
    let code: number;
    const vote = this.#route.vote && !this.#clientGone && !this.#forced && primary ? this.#vote(this.#route.vote) : undefined;
    if (vote && vote.serve !== 0 && !(vote.serve === undefined && this.#route.vote?.policy === 'primary')) {
      // The vote blocked the call, or served a secondary's answer (majority out-voted the primary).
      code = vote.serve === undefined ? GrpcCode[this.#route.vote!.blockStatus] : this.#serveHeld(this.#dests[vote.serve]!);
      if (vote.serve === undefined) this.#reply.answer(new GrpcStatusError(code, `switchyard: the destinations' answers disagree (divergence ${vote.divergence ?? '?'})`), undefined);
    } else if (this.#clientGone) {
      code = this.#aborted ? GrpcCode.INTERNAL : GrpcCode.CANCELLED;
    } else if (this.#forced) {
      code = this.#forced.code;
      this.#reply.answer(this.#forced, primary?.stream?.rstCode);
    } else if (primary?.reported) {
      const r = primary.reported;
      code = r.code;
      if (r === primary.error && primary.trailers) this.#reply.pass(primary.trailers);
      else this.#reply.answer(r, primary.stream?.rstCode);
    } else if (secondaryError) {
      code = GrpcCode.INTERNAL;
      this.#reply.answer(new GrpcStatusError('INTERNAL', `failed proxying to secondary: ${secondaryError.message}`), undefined);
    } else if (finalizerError) {
      code = finalizerError.code;
      this.#reply.answer(finalizerError, undefined);
    } else if (primary?.error) {
      // The primary's error was swallowed by its handler: the call succeeds (possibly without a message).
      code = GrpcCode.OK;
      this.#reply.answer(new GrpcStatusError('OK', ''), undefined);
    } else {
      code = primary?.trailers ? statusFromTrailers(primary.trailers).code : GrpcCode.OK;
      if (primary?.trailers) this.#reply.pass(primary.trailers);
      else this.#reply.answer(new GrpcStatusError('OK', ''), primary?.stream?.rstCode);
    }
    this.#route.stats.call(this.#method, code);
    if (this.#trace !== undefined) this.#record(code, vote !== undefined && vote.serve === undefined && this.#route.vote?.policy !== 'primary');
    for (const d of this.#dests) if (d.detached && d.done) this.#compareMirror(d);
    if (this.#route.report && !this.#clientGone && !this.#forced) this.#compare(this.#route.report);
    if (code !== GrpcCode.OK) this.#env.logger.debug({ route: this.#route.routeId, method: this.#method, code: codeName(code) }, 'grpc call failed');
  }

  /** The traffic tail's record of this (sampled) call: method, status code name, latency, bytes, route, destination. */
  #record(code: number, blocked: boolean): void {
    const tap = this.#env.traffic;
    if (!tap || this.#trace === undefined) return;
    recordCall(tap, {
      started: this.#started,
      trace: this.#trace,
      method: this.#method,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      code,
      blocked,
      clientGone: this.#clientGone,
      aborted: this.#aborted,
      forced: this.#forced,
      injected: this.#injected,
      route: this.#route.routeId,
      cluster: this.#dests[0]?.cluster,
      endpoint: this.#endpoint,
    });
  }

  /** The vote on every destination's held answer; when it serves the primary, the primary's held headers and messages go out now. */
  #vote(v: GrpcVoteSetup): { serve: number | undefined; divergence: number | undefined } {
    const answers = this.#dests.filter((d) => !d.detached).map((d) => ({
      name: d.role === 'primary' ? d.cluster : `${d.cluster} (secondary)`,
      ok: d.stream !== undefined && d.cancelled === undefined && d.capture !== undefined && !d.capture.overflow && (d.trailers !== undefined || d.status?.code === GrpcCode.OK),
      why: d.cancelled ? d.cancelled.message : d.capture?.overflow ? 'oversized' : d.status && d.trailers === undefined ? `${d.status.codeName} ${d.status.message}` : undefined,
      headers: d.headers,
      trailers: d.trailers,
      capture: d.capture,
      latencyMs: d.endedAt - this.#started,
    }));
    let result: { serve: number | undefined; divergence: number | undefined };
    try {
      result = voteOnAnswers(v, this.#route.routeId, this.#method, this.#peer(), answers);
    } catch (err) {
      this.#env.logger.warn({ err, route: this.#route.routeId }, 'grpc: the vote failed');
      result = { serve: undefined, divergence: undefined };
    }
    if (result.serve === 0) this.#flushHeld(this.#dests[0]!);
    return result;
  }

  /** A mirror's shadow ended (after the call, or before it finished): its answer against the primary's, reported only. */
  #compareMirror(d: Dest): void {
    const cmp = this.#route.mirror?.compare;
    const primary = this.#dests[0];
    if (!cmp || !primary || this.#clientGone || this.#forced || d.cancelled || !d.stream || this.#mirrorCompared) return;
    this.#mirrorCompared = true;
    const answer = (x: Dest, name: string): VoterAnswer => ({
      name,
      ok: x.stream !== undefined && x.cancelled === undefined && x.capture !== undefined && !x.capture.overflow && x.trailers !== undefined,
      why: x.cancelled?.message,
      headers: x.headers,
      trailers: x.trailers,
      capture: x.capture,
      latencyMs: x.endedAt - this.#started,
    });
    try {
      voteOnAnswers(cmp, this.#route.routeId, this.#method, this.#peer(), [answer(primary, primary.cluster), answer(d, `${d.cluster} (shadow)`)]);
    } catch (err) {
      this.#env.logger.warn({ err, route: this.#route.routeId }, 'grpc: comparing the shadow failed');
    }
  }

  /** Send a destination's held response headers and messages (its end follows). */
  #flushHeld(d: Dest): void {
    if (!d.headers || this.#client.destroyed) return;
    try {
      this.#reply.respond(d.headers);
      for (const c of d.capture?.chunks ?? []) {
        for (const t of this.#route.traffic) t.bytesToDownstream += c.length;
        this.#bytesOut += c.length;
        this.#client.write(c);
      }
    } catch (err) {
      this.#env.logger.debug({ err, route: this.#route.routeId }, 'grpc: could not send the held answer');
    }
  }

  /** Serve a secondary's held answer (majority): its headers, messages and trailers. Returns its status code. */
  #serveHeld(d: Dest): number {
    this.#flushHeld(d);
    if (d.trailers) {
      this.#reply.pass(d.trailers);
      return statusFromTrailers(d.trailers).code;
    }
    this.#reply.answer(new GrpcStatusError('OK', ''), undefined);
    return GrpcCode.OK;
  }

  /** `compare: report`: the primary's answer against each secondary that ended on its own. */
  #compare(r: GrpcReportSetup): void {
    const answer = (d: Dest): VoterAnswer => ({
      name: d.role === 'primary' ? d.cluster : `${d.cluster} (secondary)`,
      ok: true,
      headers: d.headers,
      // A destination reset without trailers compares by the status it counts as.
      trailers: d.trailers ?? (d.status && d.status.code !== GrpcCode.OK ? (statusTrailers(d.status) as IncomingHttpHeaders) : undefined),
      capture: d.capture,
      latencyMs: d.endedAt - this.#started,
    });
    const primary = this.#dests[0];
    if (!primary?.stream || primary.cancelled) return;
    const secondaries = this.#dests.filter((d) => d.role === 'secondary' && !d.detached && d.stream && !d.cancelled);
    try {
      reportDivergence(r, this.#route.routeId, this.#method, this.#peer(), answer(primary), secondaries.map(answer));
    } catch (err) {
      this.#env.logger.warn({ err, route: this.#route.routeId }, 'grpc: comparing the answers failed');
    }
  }

  #peer(): string {
    return `${this.#client.session?.socket?.remoteAddress ?? ''}:${this.#client.session?.socket?.remotePort ?? ''}`;
  }
}

/** An 'error' listener for streams whose failure is read from their close (one function, not one per call). */
const ignore = (): void => undefined;

/** `secondaryErrors: swallow`: a secondary's error does not reach the client. */
const swallowError: GrpcErrorHandler = () => undefined;

function asStatus(err: unknown, fallback: number): GrpcStatusError {
  if (err instanceof GrpcStatusError) return err;
  return new GrpcStatusError(fallback, err instanceof Error ? err.message : String(err));
}

function pick(h: IncomingHttpHeaders, keys: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k of keys) {
    const v = h[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}
