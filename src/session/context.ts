import type { Socket } from 'node:net';
import type { Logger } from '../core/log.js';
import type { ProtocolCodec } from '../protocols/protocol.js';
import type { SessionContext, SessionIO } from '../pipeline/handler.js';

/** How the context reaches the parts of its session that exist (or are made) only on demand. */
export interface ContextHooks {
  signal(): AbortSignal;
  io(): SessionIO;
  codec(): ProtocolCodec | undefined;
}

/** Per-session facts for handlers. The session builds one on first use (most passthrough sessions never need it). */
export class HandlerContext implements SessionContext {
  readonly sessionId: number;
  readonly listenerId: string;
  readonly logger: Logger;
  readonly framing: SessionContext['framing'];
  readonly #hooks: ContextHooks;
  readonly #client: Socket;

  constructor(sessionId: number, listenerId: string, client: Socket, logger: Logger, framing: SessionContext['framing'], hooks: ContextHooks) {
    this.sessionId = sessionId;
    this.listenerId = listenerId;
    this.#client = client;
    this.logger = logger;
    this.framing = framing;
    this.#hooks = hooks;
  }

  /**
   * The client's address: asked of the socket on first use (a getpeername(2) per connection otherwise; Node keeps
   * the answer, so it stays readable after the socket closed once it was read).
   */
  get remoteAddress(): string | undefined {
    return this.#client.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.#client.remotePort;
  }

  /** Aborted when the session ends; made on first use. */
  get signal(): AbortSignal {
    return this.#hooks.signal();
  }

  get io(): SessionIO {
    return this.#hooks.io();
  }

  get codec(): ProtocolCodec | undefined {
    return this.#hooks.codec();
  }
}
