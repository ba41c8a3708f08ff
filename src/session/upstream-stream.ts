import type { Duplex } from 'node:stream';
import type { MessageInfo, ProtocolCodec } from '../protocols/protocol.js';

/**
 * What the session needs of an upstream: a duplex stream (half-open capable) that can also be reset. A
 * net.Socket or tls.TLSSocket is one; any other duplex of that shape works too (the session does not look inside).
 */
export type UpstreamStream = Duplex & { resetAndDestroy(): unknown };

/**
 * Reset a stream (RST), or only destroy it while the FIN it was given is still in flight (ended, not yet finished):
 * Node 20 asks libuv for the reset, libuv refuses it during a pending shutdown (EINVAL), and Node then never emits
 * 'close', so the session would wait for that close forever (found by the codec fuzzer, test/fuzz/proxy.fuzz.test.ts).
 */
export function resetStream(s: Duplex & { resetAndDestroy(): unknown }): void {
  if (s.writableEnded && !s.writableFinished) s.destroy();
  else s.resetAndDestroy();
}

/**
 * An upstream that takes the session's request frames directly (a per-request router): the session's framer already
 * cut them, so handing them over spares the upstream a second parse and the stream in between. Used only while the
 * session has no handlers and {@link FrameTaker.framesReady} says the upstream stands at a request boundary.
 */
export interface FrameTaker {
  /** Frames can be handed over now: nothing written through the stream is pending and no request is half routed. */
  framesReady(): boolean;
  /** One request frame with what the session's framer said of it; `codec`: the session's codec (its request state). */
  takeFrame(frame: Buffer, info: MessageInfo, codec: ProtocolCodec): void;
  /** The frames of one client read are all handed over: send them. False when an upstream is full ('drain' follows). */
  flushFrames(): boolean;
}

/** The upstream's {@link FrameTaker} side, when it has one. */
export function frameTaker(upstream: UpstreamStream): FrameTaker | undefined {
  const t = upstream as Partial<FrameTaker>;
  return typeof t.takeFrame === 'function' && typeof t.framesReady === 'function' && typeof t.flushFrames === 'function' ? (t as FrameTaker) : undefined;
}
