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
  /** The state whose request framer framed this request (its start attributes link to it directly). */
  readonly home?: HttpConnectionState | undefined;
}

/**
 * The link from a request's start attributes to the request its own connection framed: a non-enumerable symbol
 * property on the attributes object (invisible to `Object.keys`, JSON, spread and deep equality). It replaces a
 * WeakMap entry per request, an ephemeron the garbage collector must treat specially on every scavenge.
 */
const LINK = Symbol('switchyard.http.request');

interface Linked {
  [LINK]?: PendingRequest | undefined;
}

/** Shared per-connection state. */
export class HttpConnectionState {
  /** Requests framed but not yet answered by a final response, oldest first. */
  readonly pending: PendingRequest[] = [];
  /** The request whose start frame the request framer returned last. */
  last: PendingRequest | undefined;
  /**
   * Request start attributes → their request: a fault stage may answer a request after the framer has moved on to
   * later pipelined ones, and names it by the attributes object its start frame carried. A map per connection
   * state (see {@link requestOf}, {@link link}, {@link unlink}); the requests this state's framer framed are linked
   * from their attributes object itself, others (a routed request adopted from another connection) in a WeakMap.
   */
  #others: WeakMap<Attributes, PendingRequest> | undefined;
  /** An Upgrade/CONNECT request waiting for its answer: the request framer holds later bytes until it arrives. */
  switchWait: PendingRequest | undefined;
  /** Both directions are an opaque tunnel now. */
  opaque = false;
  /** The connection persists after the current exchanges (false once either side asked to close). */
  keepAlive = true;
  /** The server asked to close (or sent a close-delimited body): no exchange after the current one. */
  serverClose = false;

  /** Told when the request framer's held bytes became decodable (see {@link releaseSwitch}). */
  onUnblocked: (() => void) | undefined;

  /**
   * The Upgrade/CONNECT request the request framer waited for got its answer (or will never get one from the
   * server): the bytes held behind it can be decoded now, as tunnel data or as the next request.
   */
  releaseSwitch(): void {
    if (this.switchWait === undefined) return;
    this.switchWait = undefined;
    this.onUnblocked?.();
  }

  /** The request named by its start attributes, if this state links them (like `WeakMap.get`). */
  requestOf(attributes: Attributes): PendingRequest | undefined {
    const other = this.#others?.get(attributes);
    if (other !== undefined) return other;
    const own = (attributes as Linked)[LINK];
    return own !== undefined && own.home === this ? own : undefined;
  }

  /** Link `attributes` to `req` in this state (like `WeakMap.set`). */
  link(attributes: Attributes, req: PendingRequest): void {
    const a = attributes as Linked;
    const own = a[LINK];
    if (req.home === this && (own === undefined || own.home === this)) {
      if (Object.prototype.hasOwnProperty.call(a, LINK)) a[LINK] = req;
      else Object.defineProperty(a, LINK, { value: req, writable: true, enumerable: false, configurable: true });
      this.#others?.delete(attributes);
      return;
    }
    if (own !== undefined && own.home === this) a[LINK] = undefined;
    (this.#others ??= new WeakMap()).set(attributes, req);
  }

  /** Forget the link of `attributes` in this state (like `WeakMap.delete`). */
  unlink(attributes: Attributes): void {
    const a = attributes as Linked;
    const own = a[LINK];
    if (own !== undefined && own.home === this) a[LINK] = undefined;
    this.#others?.delete(attributes);
  }

  /** Forget a request the server will never see (answered by the proxy's error reply). */
  drop(req: PendingRequest): void {
    const i = this.pending.lastIndexOf(req);
    if (i >= 0) this.pending.splice(i, 1);
    if (this.switchWait === req) this.releaseSwitch();
  }
}
