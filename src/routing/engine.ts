import type { Socket } from 'node:net';
import type { LatencyHistogram } from '../core/latency.js';
import type { Logger } from '../core/log.js';
import type { TrafficStats } from '../core/stats.js';
import type { FramerFactory } from '../framing/framer.js';
import type { ProtocolCodecFactory } from '../protocols/protocol.js';
import type { TrafficTap } from '../core/traffic.js';

/**
 * The route-engine contract: a route with an engine (replicate, merge) takes over its accepted connections itself
 * instead of handing each to a one-to-one Session. The listener calls `accept` once per connection and keeps the
 * returned EngineSession only to drain and stop it; everything else is the engine's.
 */

/** How a connection's bytes are cut: a protocol codec, or a framer per direction (line, length-prefixed, ...). */
export interface ConnectionFraming {
  readonly codec?: ProtocolCodecFactory | undefined;
  readonly toUpstream: FramerFactory;
  readonly toDownstream: FramerFactory;
}

/** What the listener hands an engine for each accepted connection. */
export interface AcceptContext {
  readonly listenerId: string;
  readonly sessionId: number;
  readonly framing: ConnectionFraming;
  /** Protocol name for comparison: a protocol module name, or the framer name (line, ...), or 'tcp'. */
  readonly protocol: string;
  readonly stats: readonly TrafficStats[];
  readonly logger: Logger;
  /** The listener's idleTimeout (ms, 0 = none): a connection with no bytes either way and nothing in flight for this long is closed. */
  readonly idleTimeout?: number;
  /** Called once when the connection is gone (the listener forgets it). */
  readonly onClose: () => void;
  /** The listener's traffic tail (engines that record requests: replicate). */
  readonly traffic?: { readonly tap: TrafficTap; readonly summarize?: ((frame: Buffer) => string) | undefined } | undefined;
}

/** A connection owned by an engine, as the listener sees it (to drain and stop). */
export interface EngineSession {
  readonly closed: Promise<void>;
  destroy(): void;
}

/** One latency histogram of an engine, by the name the metrics label it with. */
export interface EngineLatency {
  readonly variant: string;
  readonly histogram: LatencyHistogram;
}

/** Something that takes over accepted connections itself instead of a one-to-one Session (replicate, merge). */
export interface RouteEngine {
  accept(socket: Socket, ctx: AcceptContext): EngineSession;
  toJSON(): Record<string, unknown>;
  close?(): void;
  /** Per-variant answer times (metrics). */
  latencies?(): Iterable<EngineLatency>;
}
