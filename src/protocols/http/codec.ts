/**
 * The HTTP/1.1 codec: a request framer (client → server) and a response framer (server → client) sharing one
 * per-connection state (FIFO of pending requests, keep-alive, tunnel switch). Frames are wire-exact slices:
 * - a message head is one frame (`start`; `end` too when the message has no body);
 * - body bytes follow as frames of at most `maxBodyFrame` bytes (and never more than what has arrived), chunked
 *   bodies including their chunk framing and trailers; `end` on the last;
 * - after a 101 Switching Protocols or a 2xx answer to CONNECT, both directions are opaque: one frame per chunk.
 */
import type { Attributes, ErrorReply, ErrorReplyRequest, ProtocolCodec } from '../protocol.js';
import { HttpConnectionState } from './connection-state.js';
import { buildErrorReply, randomErrorStatuses } from './error-reply.js';
import type { HttpCodecOptions } from './message-framer.js';
import { HttpRequestFramer } from './request-framer.js';
import { HttpResponseFramer } from './response-framer.js';

/** One connection's HTTP/1.x codec. */
export class HttpCodec implements ProtocolCodec {
  readonly state = new HttpConnectionState();
  readonly toUpstream: HttpRequestFramer;
  readonly toDownstream: HttpResponseFramer;

  constructor(options: HttpCodecOptions) {
    this.toUpstream = new HttpRequestFramer(this.state, options);
    this.toDownstream = new HttpResponseFramer(this.state, options);
  }

  /** See ProtocolCodec.namesRequests: while false, requests are not entered in `state.byAttributes`. */
  get namesRequests(): boolean {
    return this.state.named;
  }

  set namesRequests(on: boolean) {
    this.state.named = on;
  }

  /** True while the connection may persist after the current exchanges. */
  get keepAlive(): boolean {
    return this.state.keepAlive;
  }

  errorReply(request: ErrorReplyRequest): ErrorReply {
    return buildErrorReply(this.state, request, this.toUpstream.readingHead);
  }

  get onUnblocked(): ((direction: 'toUpstream' | 'toDownstream') => void) | undefined {
    return this.#onUnblocked;
  }

  set onUnblocked(fn: ((direction: 'toUpstream' | 'toDownstream') => void) | undefined) {
    this.#onUnblocked = fn;
    // the state tells the codec, which tells `fn` (no closure per connection)
    this.state.onUnblocked = fn === undefined ? undefined : this;
  }

  /** The request framer's held bytes became decodable (HttpConnectionState.releaseSwitch). */
  unblocked(): void {
    this.#onUnblocked?.('toUpstream');
  }

  #onUnblocked: ((direction: 'toUpstream' | 'toDownstream') => void) | undefined;

  errorStatuses(request: Attributes | undefined): readonly number[] | undefined {
    return randomErrorStatuses(request);
  }
}
