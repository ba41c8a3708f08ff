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
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly logger: Logger;
  readonly framing: SessionContext['framing'];
  readonly #hooks: ContextHooks;

  constructor(sessionId: number, listenerId: string, client: Socket, logger: Logger, framing: SessionContext['framing'], hooks: ContextHooks) {
    this.sessionId = sessionId;
    this.listenerId = listenerId;
    this.remoteAddress = client.remoteAddress;
    this.remotePort = client.remotePort;
    this.logger = logger;
    this.framing = framing;
    this.#hooks = hooks;
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
