import type { SessionContext } from '../../pipeline/handler.js';
import type { Attributes, MessageInfo } from '../../protocols/protocol.js';

/** A request on the wire whose response has not started: its attributes, and whether it is connection setup. */
export interface AwaitedRequest {
  readonly attributes: Attributes | undefined;
  /** `MessageInfo.setup` of the request: request-scope faults without `handshake` skip its responses too. */
  readonly setup: boolean;
}

type OrderEntry = { server: true } | { server: false; frames: readonly Buffer[]; close: boolean };
const SERVER: OrderEntry = Object.freeze({ server: true });

/**
 * The request↔response books of one connection, shared by its two links: which request each response answers,
 * and the replies the proxy made up, each written in its turn among the server's responses.
 */
export class PairingBooks {
  /** Requests on the wire whose response has not started yet (downstream matching and setup skipping). */
  readonly awaiting: AwaitedRequest[] = [];
  /** Responses owed to the client, in order: the server's, or a reply the proxy made up. */
  readonly order: OrderEntry[] = [];
  /** Replies waiting in `order` behind server responses. */
  waitingReplies = 0;
  readonly #ctx: SessionContext;

  constructor(ctx: SessionContext) {
    this.#ctx = ctx;
  }

  /** A request's start frame went to the server: it is owed `responses` answers (default 1). */
  requestSent(info: MessageInfo, attributes: Attributes | undefined): void {
    const n = info.responses ?? 1;
    if (n === 0) return;
    const request: AwaitedRequest = { attributes, setup: info.setup === true };
    for (let i = 0; i < n; i++) {
      this.awaiting.push(request);
      this.order.push(SERVER);
    }
  }

  /** A reply made up for a request: written now if no server response is owed before it, else queued behind. */
  reply(frames: readonly Buffer[], close: boolean): void {
    if (this.order.length === 0) this.#writeReply(frames, close);
    else {
      this.order.push({ server: false, frames, close });
      this.waitingReplies++;
    }
  }

  /** A server response completed on the wire: pop it, then write replies that were waiting for it. */
  responseDone(): void {
    this.#ctx.io.answered();
    if (this.order[0]?.server) this.order.shift();
    while (this.order.length > 0 && !this.order[0]!.server) {
      const r = this.order.shift() as { frames: readonly Buffer[]; close: boolean };
      this.waitingReplies--;
      this.#writeReply(r.frames, r.close);
    }
  }

  #writeReply(frames: readonly Buffer[], close: boolean): void {
    this.#ctx.io.write('toDownstream', frames);
    this.#ctx.io.answered();
    if (close) this.#ctx.io.close();
  }
}
