/**
 * One call on the frame engine: a client stream forwarded to its route's primary (no director, no secondaries, no
 * vote, no mirror: a plain route). Header blocks are filtered as the http2 engine filters them (headers.ts); DATA
 * payloads pass as they arrived (never re-framed into messages), each direction giving the sender its window back
 * only once the bytes were written onward. The status, counters, metrics and traffic record follow the http2 engine
 * (call.ts, reply.ts): deadline → DEADLINE_EXCEEDED and the upstream stream reset CANCEL; client reset → upstream
 * reset CANCEL; upstream reset → statusForReset; unreachable → Trailers-Only UNAVAILABLE naming the cluster.
 */
import type { Logger } from '../../core/log.js';
import type { TrafficTap } from '../../core/traffic.js';
import type { GrpcRouteSetup } from '../call.js';
import { recordCall } from '../call-record.js';
import { HOP_BY_HOP, statusFromTrailers, statusTrailers } from '../headers.js';
import type { DestinationCounters } from '../route-stats.js';
import { GrpcCode, GrpcStatusError, parseGrpcTimeout, statusForReset } from '../status.js';
import { ErrorCode } from './codec.js';
import type { H2Stream, StreamSink } from './connection.js';
import type { FramePool } from './pool.js';

export interface FrameCallEnv {
  framePool(clusterId: string): FramePool | undefined;
  /** `upstream` (the endpoint's address), `client` (as received) or a fixed value. */
  readonly authority: string;
  readonly logger: Logger;
  readonly traffic?: TrafficTap | undefined;
}

/** The value of the first field named `name` in a flat list. */
export function fieldValue(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Response headers (`keepStatus`) or trailers to pass on: pseudo-headers other than `:status` and hop-by-hop fields dropped. */
function passFields(fields: readonly string[], keepStatus: boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    const k = fields[i]!;
    if (HOP_BY_HOP.has(k)) continue;
    if (k.charCodeAt(0) === 0x3a && !(keepStatus && k === ':status')) continue;
    out.push(k, fields[i + 1]!);
  }
  return out;
}

/** The fields of a status the proxy answers with (statusTrailers' object, flattened). */
function statusFields(status: GrpcStatusError, prefix: string[]): string[] {
  const out = prefix;
  for (const [k, v] of Object.entries(statusTrailers(status))) {
    if (Array.isArray(v)) for (const x of v) out.push(k, String(x));
    else if (v !== undefined) out.push(k, String(v));
  }
  return out;
}

/** What statusFromTrailers reads, from a flat list. */
function statusOf(fields: readonly string[]): GrpcStatusError {
  const h: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) {
    const k = fields[i]!;
    if ((k === 'grpc-status' || k === 'grpc-message' || k === ':status') && h[k] === undefined) h[k] = fields[i + 1]!;
  }
  return statusFromTrailers(h);
}

/** The upstream's answer to one call (its stream's sink). */
class UpstreamSide implements StreamSink {
  readonly #call: FrameCall;
  constructor(call: FrameCall) {
    this.#call = call;
  }
  onHeaders(fields: string[], endStream: boolean): void {
    this.#call.upHeaders(fields, endStream);
  }
  onData(data: Buffer, endStream: boolean): void {
    this.#call.upData(data, endStream);
  }
  onReset(code: number, lost: boolean): void {
    this.#call.upReset(code, lost);
  }
}

export class FrameCall implements StreamSink {
  readonly #down: H2Stream;
  readonly #route: GrpcRouteSetup;
  readonly #env: FrameCallEnv;
  readonly #method: string;
  readonly #grpc: boolean;
  readonly #contentType: string;
  readonly #started = Date.now();
  readonly #trace: number | undefined;
  readonly #counters: DestinationCounters;
  #up: H2Stream | undefined;
  /** Client DATA that arrived before the upstream stream was open, and whether it ended. */
  #pending: Buffer[] | undefined;
  #pendingEnd = false;
  #pendingTrailers: string[] | undefined;
  #responded = false;
  #done = false;
  #clientGone = false;
  #forced: GrpcStatusError | undefined;
  #timer: NodeJS.Timeout | undefined;
  #bytesIn = 0;
  #bytesOut = 0;
  #endpoint: string | undefined;

  constructor(down: H2Stream, fields: readonly string[], route: GrpcRouteSetup, env: FrameCallEnv, sampled: boolean) {
    this.#trace = sampled ? performance.now() : undefined;
    this.#down = down;
    this.#route = route;
    this.#env = env;
    this.#method = fieldValue(fields, ':path') ?? '';
    const ct = fieldValue(fields, 'content-type');
    this.#grpc = ct !== undefined && ct.startsWith('application/grpc');
    this.#contentType = ct ?? 'application/grpc';
    this.#counters = route.stats.destination(route.primary, 'primary');
  }

  start(fields: readonly string[], endStream: boolean): void {
    const down = this.#down;
    down.sink = this;
    for (const t of this.#route.traffic) {
      t.active++;
      t.total++;
    }
    this.#counters.calls++;
    const timeoutValue = this.#grpc ? fieldValue(fields, 'grpc-timeout') : undefined;
    const timeout = parseGrpcTimeout(timeoutValue);
    if (timeout !== undefined) {
      this.#timer = setTimeout(() => this.#force(new GrpcStatusError('DEADLINE_EXCEEDED', `Deadline exceeded at the proxy (grpc-timeout ${timeoutValue})`)), timeout);
    }
    const pool = this.#env.framePool(this.#route.primary);
    if (!pool) {
      this.#unreachable(new GrpcStatusError('INTERNAL', `route '${this.#route.routeId}': no cluster '${this.#route.primary}'`));
      return;
    }
    const env = this.#env;
    const authority = env.authority === 'upstream' ? '' : env.authority === 'client' ? (fieldValue(fields, ':authority') ?? '') : env.authority;
    const up: string[] = [':method', fieldValue(fields, ':method') ?? 'POST', ':scheme', 'http', ':path', this.#method, ':authority', authority];
    for (let i = 0; i < fields.length; i += 2) {
      const k = fields[i]!;
      if (k.charCodeAt(0) === 0x3a || HOP_BY_HOP.has(k)) continue;
      const v = fields[i + 1]!;
      if (k === 'te' && v !== 'trailers') continue;
      if (k === 'grpc-timeout' && timeout !== undefined) {
        up.push(k, `${Math.max(1, Math.ceil(timeout - (Date.now() - this.#started)))}m`);
        continue;
      }
      up.push(k, v);
    }
    let r: H2Stream | Promise<H2Stream>;
    try {
      r = pool.open(up, endStream, new UpstreamSide(this));
    } catch (err) {
      this.#unreachable(new GrpcStatusError('UNAVAILABLE', (err as Error).message));
      return;
    }
    if (r instanceof Promise) {
      this.#pending = [];
      r.then(
        (s) => this.#attach(s),
        (err: unknown) => this.#unreachable(new GrpcStatusError('UNAVAILABLE', (err as Error).message)),
      );
    } else this.#attach(r);
  }

  #attach(up: H2Stream): void {
    if (this.#done) {
      up.conn.resetStream(up, ErrorCode.CANCEL);
      return;
    }
    this.#up = up;
    const down = this.#down;
    // from locals: function literals assigned straight to properties are pretenured (eslint.config.js)
    const upSent = (n: number): void => down.consumed(n);
    const downSent = (n: number): void => up.consumed(n);
    up.onSent = upSent;
    down.onSent = downSent;
    if (this.#trace !== undefined) {
      const sock = up.conn.socket;
      if (sock.remoteAddress !== undefined) this.#endpoint = `${sock.remoteAddress}:${sock.remotePort ?? ''}`;
    }
    const pending = this.#pending;
    if (pending !== undefined) {
      this.#pending = undefined;
      for (let i = 0; i < pending.length; i++) up.conn.sendData(up, pending[i]!, this.#pendingEnd && i === pending.length - 1 && this.#pendingTrailers === undefined);
      if (this.#pendingTrailers !== undefined) up.conn.sendHeaders(up, this.#pendingTrailers, true);
      else if (this.#pendingEnd && pending.length === 0) up.conn.sendData(up, Buffer.alloc(0), true);
    }
  }

  // ---- the client's stream (this object is its sink) ----

  onHeaders(fields: string[], endStream: boolean): void {
    // Request trailers (plain HTTP/2); a gRPC client sends none.
    if (!endStream) {
      this.#down.conn.resetStream(this.#down, ErrorCode.PROTOCOL_ERROR);
      this.onReset(ErrorCode.PROTOCOL_ERROR, false);
      return;
    }
    const t = passFields(fields, false);
    const up = this.#up;
    if (this.#done) return;
    if (up) up.conn.sendHeaders(up, t, true);
    else this.#pendingTrailers = t;
  }

  onData(data: Buffer, endStream: boolean): void {
    const n = data.length;
    for (const t of this.#route.traffic) t.bytesToUpstream += n;
    this.#bytesIn += n;
    const up = this.#up;
    if (up && !this.#done) {
      up.conn.sendData(up, data, endStream);
      return;
    }
    if (this.#pending !== undefined && !this.#done) {
      if (n > 0) this.#pending.push(data);
      if (endStream) this.#pendingEnd = true;
      return;
    }
    // the call ended: read and dropped
    if (n > 0) this.#down.consumed(n);
  }

  onReset(_code: number, _lost: boolean): void {
    if (this.#done) return;
    this.#clientGone = true;
    const up = this.#up;
    if (up) up.conn.resetStream(up, ErrorCode.CANCEL);
    this.#finish(GrpcCode.CANCELLED, new GrpcStatusError('CANCELLED', 'the client cancelled'));
  }

  // ---- the upstream's stream ----

  upHeaders(fields: string[], endStream: boolean): void {
    if (this.#done) return;
    const down = this.#down;
    if (!endStream) {
      if (this.#responded) return; // (headers after headers without END_STREAM: malformed; ignored)
      const status = fieldValue(fields, ':status');
      if (status !== undefined && status.length === 3 && status.charCodeAt(0) === 0x31 /* 1xx */) return;
      this.#responded = true;
      down.conn.sendHeaders(down, passFields(fields, true), false);
      return;
    }
    // Trailers, or a Trailers-Only answer: passed on unchanged.
    const status = statusOf(fields);
    if (this.#responded) down.conn.sendHeaders(down, passFields(fields, false), true);
    else {
      const h = passFields(fields, true);
      if (fieldValue(h, ':status') === undefined) h.unshift(':status', '200');
      down.conn.sendHeaders(down, h, true);
    }
    this.#upEnded();
    this.#finish(status.code, status);
  }

  upData(data: Buffer, endStream: boolean): void {
    const n = data.length;
    const up = this.#up;
    if (this.#done || !this.#responded) {
      if (up && n > 0) up.consumed(n);
      return;
    }
    for (const t of this.#route.traffic) t.bytesToDownstream += n;
    this.#bytesOut += n;
    const down = this.#down;
    if (!endStream) {
      down.conn.sendData(down, data, false);
      return;
    }
    this.#upEnded();
    if (!this.#grpc) {
      down.conn.sendData(down, data, true);
      this.#finish(GrpcCode.OK, undefined);
      return;
    }
    // A gRPC answer that ended without trailers: INTERNAL, as grpc-js reports it.
    if (n > 0) down.conn.sendData(down, data, false);
    const status = statusForReset(ErrorCode.NO_ERROR, false);
    this.#answer(status, undefined);
    this.#finish(status.code, status);
  }

  upReset(code: number, lost: boolean): void {
    if (this.#done) return;
    const status = statusForReset(code, lost);
    this.#answer(status, code);
    this.#finish(status.code, status);
  }

  /** The upstream ended its side: our side of its stream ends too (the client's remaining request is dropped). */
  #upEnded(): void {
    const up = this.#up;
    if (up && !up.localEnded && !up.reset) up.conn.resetStream(up, ErrorCode.NO_ERROR);
  }

  // ---- the proxy's own answers ----

  #unreachable(status: GrpcStatusError): void {
    if (this.#done) return;
    this.#forced = status;
    this.#answer(status, undefined);
    this.#finish(status.code, status);
  }

  #force(status: GrpcStatusError): void {
    if (this.#done) return;
    this.#forced = status;
    const up = this.#up;
    if (up) up.conn.resetStream(up, ErrorCode.CANCEL);
    this.#answer(status, undefined);
    this.#finish(status.code, new GrpcStatusError('CANCELLED', `cancelled: ${status.message}`));
  }

  /** The client gets a status of the proxy's (as trailers, or Trailers-Only; plain HTTP/2: 502/504 or a reset). */
  #answer(status: GrpcStatusError, primaryRst: number | undefined): void {
    const down = this.#down;
    const conn = down.conn;
    if (down.closed || down.localEnded) return;
    if (!this.#grpc) {
      if (this.#responded) {
        if (status.code === GrpcCode.OK) conn.sendData(down, Buffer.alloc(0), true);
        else conn.resetStream(down, primaryRst || ErrorCode.INTERNAL_ERROR);
        return;
      }
      const http = status.code === GrpcCode.DEADLINE_EXCEEDED ? '504' : status.code === GrpcCode.OK ? '200' : '502';
      conn.sendHeaders(down, [':status', http, 'content-type', 'text/plain; charset=utf-8'], false);
      conn.sendData(down, Buffer.from(status.code === GrpcCode.OK ? '' : `${status.message}\n`), true);
      return;
    }
    if (this.#responded) conn.sendHeaders(down, statusFields(status, []), true);
    else conn.sendHeaders(down, statusFields(status, [':status', '200', 'content-type', this.#contentType]), true);
  }

  /** The call ended: `code` is what the client saw, `own` the primary's own status (its error counter). */
  #finish(code: number, own: GrpcStatusError | undefined): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.#pending = undefined;
    for (const t of this.#route.traffic) t.active--;
    const c = this.#counters;
    c.latency.observe((Date.now() - this.#started) / 1000);
    if (own !== undefined && own.code !== GrpcCode.OK) c.errors.set(own.codeName, (c.errors.get(own.codeName) ?? 0) + 1);
    const route = this.#route;
    route.stats.call(this.#method, code);
    const tap = this.#env.traffic;
    if (tap && this.#trace !== undefined) {
      recordCall(tap, {
        started: this.#started,
        trace: this.#trace,
        method: this.#method,
        bytesIn: this.#bytesIn,
        bytesOut: this.#bytesOut,
        code,
        blocked: false,
        clientGone: this.#clientGone,
        aborted: false,
        forced: this.#forced,
        injected: false,
        route: route.routeId,
        cluster: route.primary,
        endpoint: this.#endpoint,
      });
    }
    // The client may still be sending (the answer came first): what it sends is read and dropped.
    const down = this.#down;
    if (!down.remoteEnded && !down.reset) down.onSent = undefined;
    if (code !== GrpcCode.OK) this.#env.logger.debug({ route: route.routeId, method: this.#method, code }, 'grpc call failed');
  }
}
