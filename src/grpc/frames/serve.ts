/**
 * The frame engine's side of a `protocol: grpc` listener: accepted TCP connections served by {@link ServerConnection}
 * (no `node:http2` objects), each stream routed by the listener and forwarded by a {@link FrameCall}. A call whose
 * route is not plain (a race with a live change) is refused with RST_STREAM(REFUSED_STREAM) and its connection is
 * sent GOAWAY: the client retries on a new connection, which the listener gives to the http2 engine.
 */
import type { Socket } from 'node:net';
import type { Logger } from '../../core/log.js';
import type { Attributes } from '../../protocols/protocol.js';
import type { RouteChoice } from '../../routing/director.js';
import type { GrpcRouteSetup } from '../call.js';
import { GrpcStatusError } from '../status.js';
import { statusTrailers } from '../headers.js';
import { serviceOf } from '../headers.js';
import { SESSION_WINDOW, STREAM_WINDOW } from '../pool.js';
import { ErrorCode, type H2Error } from './codec.js';
import type { H2Stream } from './connection.js';
import { FrameCall, fieldValue, type FrameCallEnv } from './call.js';
import { ServerConnection, type ServerHandler } from './server.js';

/** What the listener decides for the frame engine. */
export interface FrameDispatch {
  /** The call's route, or the status the listener answers with (no route; counted and recorded by the listener). */
  target(path: string, attributes: () => Attributes, sampled: boolean): RouteChoice | GrpcStatusError;
  /** Whether a route can be served by the frame engine (no director, secondaries, vote, mirror; h2c cluster). */
  plain(choice: RouteChoice): boolean;
  /** Whether the listener has per-call faults (then no call is served here). */
  faulted(): boolean;
  /** `engine: frames`: every connection is served here, whatever the listener has become. */
  readonly forced: boolean;
  setup(choice: RouteChoice): GrpcRouteSetup;
  sample(): boolean;
  readonly env: FrameCallEnv;
  readonly logger: Logger;
  readonly listenerId: string;
}

/** SETTINGS_MAX_CONCURRENT_STREAMS the frame engine advertises to clients. */
export const FRAME_MAX_STREAMS = 256;

/** A call's route attributes from its header block: `method`, `service`, `metadata.<name>` (several values joined with `, `). */
function fieldAttributes(path: string, fields: readonly string[]): Attributes {
  const out: Record<string, string> = { method: path, service: serviceOf(path) };
  for (let i = 0; i < fields.length; i += 2) {
    const k = fields[i]!;
    if (k.charCodeAt(0) === 0x3a) continue;
    const key = `metadata.${k}`;
    const v = fields[i + 1]!;
    out[key] = out[key] === undefined ? v : `${out[key]}, ${v}`;
  }
  return out;
}

export class FrameServer implements ServerHandler {
  readonly #dispatch: FrameDispatch;
  readonly conns = new Set<ServerConnection>();

  constructor(dispatch: FrameDispatch) {
    this.#dispatch = dispatch;
  }

  accept(socket: Socket): void {
    const conn = new ServerConnection(socket, { streamWindow: STREAM_WINDOW, connectionWindow: SESSION_WINDOW, maxConcurrentStreams: FRAME_MAX_STREAMS, maxHeaderListSize: 64 * 1024, connectionAckOnConsume: true }, this);
    this.conns.add(conn);
  }

  onClose(conn: ServerConnection): void {
    this.conns.delete(conn);
  }

  onError(_conn: ServerConnection, err: H2Error): void {
    this.#dispatch.logger.debug({ listener: this.#dispatch.listenerId, code: err.code, err: err.message }, 'grpc frame engine: connection error (GOAWAY sent)');
  }

  onStream(conn: ServerConnection, stream: H2Stream, fields: string[], endStream: boolean): void {
    const d = this.#dispatch;
    const path = fieldValue(fields, ':path') ?? '';
    const sampled = d.sample();
    const target = d.target(path, () => fieldAttributes(path, fields), sampled);
    if (target instanceof GrpcStatusError) {
      this.#answer(conn, stream, target);
      return;
    }
    if (d.forced && !d.plain(target)) {
      const why = new GrpcStatusError('UNAVAILABLE', `switchyard: route '${target.route.id}' is not plain (a director, secondaries, compare, mirror or a TLS cluster) and listener '${d.listenerId}' has engine "frames"`);
      this.#answer(conn, stream, why);
      return;
    }
    if (!d.forced && (d.faulted() || !d.plain(target))) {
      // The listener stopped being plain since this connection was accepted: refused (safe to retry), and GOAWAY.
      conn.resetStream(stream, ErrorCode.REFUSED_STREAM);
      conn.goaway();
      return;
    }
    target.route.requests++;
    new FrameCall(stream, fields, d.setup(target), d.env, sampled).start(fields, endStream);
  }

  /** A Trailers-Only answer of the listener's (what the client still sends is read and dropped). */
  #answer(conn: ServerConnection, stream: H2Stream, status: GrpcStatusError): void {
    const out = [':status', '200', 'content-type', 'application/grpc'];
    for (const [k, v] of Object.entries(statusTrailers(status))) out.push(k, String(v));
    stream.sink = { onHeaders: () => undefined, onData: (b) => stream.consumed(b.length), onReset: () => undefined };
    conn.sendHeaders(stream, out, true);
  }

  /** GOAWAY to every connection (calls in flight finish). */
  goawayAll(): void {
    for (const c of this.conns) c.goaway();
  }

  destroyAll(): void {
    for (const c of [...this.conns]) c.destroy();
  }
}
