import type { Attributes, ErrorReplyRequest, MessageInfo } from '../protocols/protocol.js';
import type { Random } from './random.js';
import type { Logger } from '../core/log.js';
import type { Scope, Stream } from '../config/fault-input.js';
import type { FaultOptions, OptionSpecs } from '../config/fault-options.js';

/** A frame on its way through a direction's fault chain. */
export interface FaultChunk {
  data: Buffer;
  /** performance.now() when the frame arrived; delays are measured from here and advance it (delays stack, bursts do not). */
  time: number;
  /** Protocol facts of the frame (undefined on raw TCP: every chunk is then its own request). */
  readonly info: MessageInfo | undefined;
  /** Attributes of the request this frame belongs to (upstream) or answers (downstream). */
  readonly request: Attributes | undefined;
}

/**
 * One piece of a chunk a fault splits (slicer, bandwidth): `data[from, to)`. The message facts follow the bytes: only
 * the piece holding the frame's first byte starts the message, only the one holding its last byte ends it, so the
 * pairing books count one request or response per frame, not one per piece.
 */
export function chunkPiece(chunk: FaultChunk, from: number, to: number): FaultChunk {
  const len = chunk.data.length;
  if (from === 0 && to >= len) return chunk;
  const info = chunk.info;
  const start = from === 0;
  const end = to >= len;
  const pieceInfo = info === undefined || info.opaque || (info.start === start && info.end === end) ? info : { ...info, start: info.start && start, end: info.end && end };
  return { ...chunk, data: chunk.data.subarray(from, to), info: pieceInfo };
}

/** What a fault may do with the connection, handed to each call. */
export interface FaultIO {
  /** Pass a chunk on to the next fault (and finally the wire). Await it: it resolves when the rest of the chain took it. */
  push(chunk: FaultChunk): Promise<void> | void;
  /**
   * Answer the request this (upstream, start) chunk begins with the protocol's own error, in order with earlier
   * responses; the request's remaining frames are dropped. Returns false when the protocol has no error reply (raw
   * TCP) — the fault should then fall back (e.g. close).
   */
  replyError(request: ErrorReplyRequest): boolean;
  /**
   * The statuses the protocol picks from at random for an error reply to `request` when no status is configured
   * (its codec's `errorStatuses`); undefined when it has no choice to offer, or there is no protocol.
   */
  errorStatuses(request: Attributes | undefined): readonly number[] | undefined;
  /** Forward end-of-stream (FIN) to the next fault / the wire. */
  end(): Promise<void> | void;
  /** Close the connection now, both sides, with an RST. */
  reset(): void;
  /** Close the connection now, both sides (FIN, buffered bytes still flushed). */
  close(reason: string): void;
  /** Wait `ms`; resolves early when the fault is removed/updated or the connection ends (in-flight data then moves on). */
  sleep(ms: number): Promise<void>;
  /** Aborted when this fault instance is reconfigured or removed, or the connection ends. */
  readonly signal: AbortSignal;
  /** This connection's random stream for this fault and direction. */
  readonly random: Random;
  readonly logger: Logger;
  /** Count one injection in `switchyard_faults_injected_total` (call once per effect applied). */
  injected(): void;
}

/** A fault's per-connection, per-direction state and effect. Every method is optional: absent = pass through. */
export interface FaultInstance {
  /** The fault became active on this connection (at connection start, or when added to a live one). */
  start?(io: FaultIO): void;
  /** A frame arrived. Default: `io.push(chunk)`. */
  chunk?(chunk: FaultChunk, io: FaultIO): Promise<void> | void;
  /** End of stream arrived. Default: `io.end()`. */
  end?(io: FaultIO): Promise<void> | void;
  /** The fault was removed while this connection lives (Toxiproxy's timeout closes the connection here). */
  removed?(io: FaultIO): void;
}

export interface FaultInstanceContext {
  readonly stream: Stream;
  readonly random: Random;
  /** Per-fault state shared by every connection (counters such as `warmup`), from `createShared`. */
  readonly shared: unknown;
}

/**
 * A fault type: its options schema and its effect. Direction, probability, scope and matching live in the wrapper
 * (`FaultSet`), so a fault file holds only what the fault does (Toxiproxy's one-file-per-toxic habit).
 */
export interface FaultPlugin {
  readonly type: string;
  readonly description: string;
  readonly options: OptionSpecs;
  /** Default probability scope when the config does not name one. */
  readonly defaultScope: Scope;
  /** Default direction (Toxiproxy: downstream). */
  readonly defaultStream: Stream;
  /** Listener-level effect instead of a per-connection one (`down`: the listener stops accepting). */
  readonly listenerEffect?: 'down';
  /**
   * True when the fault never touches data (lets the engine keep the zero-cost path): while every fault of a raw TCP
   * listener is passive, its connections make no instance of them (see FaultHandlerFactory.idle).
   */
  readonly passive?: boolean;
  createShared?(options: FaultOptions): unknown;
  create(options: FaultOptions, ctx: FaultInstanceContext): FaultInstance;
}
