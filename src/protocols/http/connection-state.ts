/** The per-connection HTTP state both framers and the error reply share: the requests waiting for an answer. */
import type { Attributes } from '../protocol.js';

/** One request the server has yet to answer (pushed when its head is framed). */
export interface PendingRequest {
  /** Method exactly as sent. */
  readonly method: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly minor: number;
  /** The client allows the connection to persist after this exchange. */
  readonly keepAlive: boolean;
  /** Upgrade request (Connection: upgrade + Upgrade) or CONNECT: a 101 / 2xx turns the connection into a tunnel. */
  readonly switching: boolean;
  readonly expectContinue: boolean;
  /** The request's last frame has been framed. */
  bodyDone: boolean;
}

/** Shared per-connection state. */
export class HttpConnectionState {
  /** Requests framed but not yet answered by a final response, oldest first. */
  readonly pending: PendingRequest[] = [];
  /** The request whose start frame the request framer returned last. */
  last: PendingRequest | undefined;
  /**
   * Request start attributes → their request: a fault stage may answer a request after the framer has moved on to
   * later pipelined ones, and names it by the attributes object its start frame carried.
   */
  readonly byAttributes = new WeakMap<Attributes, PendingRequest>();
  /**
   * Requests are entered in {@link byAttributes} (false while nothing on the connection can name one: a WeakMap
   * entry per request costs an ephemeron write barrier and scavenger work, ~2 % of a keep-alive request's CPU).
   */
  named = true;
  /** An Upgrade/CONNECT request waiting for its answer: the request framer holds later bytes until it arrives. */
  switchWait: PendingRequest | undefined;
  /** Both directions are an opaque tunnel now. */
  opaque = false;
  /** The connection persists after the current exchanges (false once either side asked to close). */
  keepAlive = true;
  /** The server asked to close (or sent a close-delimited body): no exchange after the current one. */
  serverClose = false;

  /** Told when the request framer's held bytes became decodable (see {@link releaseSwitch}). */
  onUnblocked: { unblocked(): void } | undefined;

  /**
   * The Upgrade/CONNECT request the request framer waited for got its answer (or will never get one from the
   * server): the bytes held behind it can be decoded now, as tunnel data or as the next request.
   */
  releaseSwitch(): void {
    if (this.switchWait === undefined) return;
    this.switchWait = undefined;
    this.onUnblocked?.unblocked();
  }

  /** Forget a request the server will never see (answered by the proxy's error reply). */
  drop(req: PendingRequest): void {
    const i = this.pending.lastIndexOf(req);
    if (i >= 0) this.pending.splice(i, 1);
    if (this.switchWait === req) this.releaseSwitch();
  }
}
