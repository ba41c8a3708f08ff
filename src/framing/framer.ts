/**
 * The Framer contract. A framer is a pure, synchronous state machine for ONE direction of ONE connection:
 * bytes in, frames out (decode), and frames in, bytes out (encode). It does no I/O.
 *
 * Decoding is pull-based so a caller can switch framers between any two frames (Tendril's FrameSwitch,
 * Netty's handlerRemoved): `push()` bytes, call `next()` until it returns `null`, and at a switch point call
 * `takeBuffered()` to move the bytes read but not yet framed into the next framer.
 *
 * Errors are `SwitchyardError`s with codes SWY_FRAME_TOO_LARGE, SWY_FRAME_MALFORMED, SWY_FRAME_TRUNCATED or
 * SWY_BUFFER_OVERFLOW. After a decode error the framer is unusable; the owner closes that connection only.
 */
export type Frame = Buffer;

export interface FrameDecoder {
  /** Append received bytes. Throws SWY_BUFFER_OVERFLOW when more than `maxBufferedBytes` would be held. */
  push(chunk: Buffer): void;
  /** The next complete frame, or `null` when more bytes are needed. Throws a typed framing error. */
  next(): Frame | null;
  /**
   * Signal end of input. Afterwards `next()` drains the remaining complete frames; if bytes of an incomplete
   * frame are left it throws SWY_FRAME_TRUNCATED (framers whose format allows it may emit a final frame instead).
   */
  end(): void;
  /** Remove and return every byte pushed but not yet returned as a frame (for switching framers mid-stream). */
  takeBuffered(): Buffer;
  /** Number of bytes pushed but not yet returned in a frame. */
  readonly bufferedBytes: number;
}

export interface FrameEncoder {
  /** The wire bytes for one frame. Throws SWY_FRAME_TOO_LARGE / SWY_FRAME_MALFORMED when it cannot be encoded. */
  encode(frame: Frame): Buffer;
  /**
   * Optional, for writers that gather several frames into one write: append the wire bytes for `frame` to `out` as
   * one or more Buffers whose concatenation equals `encode(frame)`, without copying where possible (the frame
   * itself plus a shared constant delimiter, a small header plus the frame, …). Same checks and errors as `encode`;
   * when it throws, nothing has been appended. The appended Buffers may be `frame` itself, views of it, or
   * constants shared by every framer: treat them as read-only, and do not modify `frame` until they are written.
   * Callers fall back to `out.push(encode(frame))` when it is absent; a framer whose `encode` already returns the
   * frame itself, or must build new bytes anyway (cobs), gains nothing from it.
   */
  encodeTo?(frame: Frame, out: Buffer[]): void;
}

export interface Framer extends FrameDecoder, FrameEncoder {
  /** Registry name, e.g. 'line'. */
  readonly name: string;
  /** True when decode and encode are both the identity on bytes (lets the session skip framing work). */
  readonly passthrough: boolean;
  /**
   * Optional fast path for owners that forward frames unchanged (no handlers): move every complete frame at the
   * head of the buffer whose re-encoding would reproduce its received bytes exactly, as those bytes, into `out`
   * (zero-copy views where possible). Stops at the first frame that is incomplete, invalid or would re-encode
   * differently; `next()` then handles (or rejects) it as usual. Returns the number of frames forwarded.
   */
  forwardRaw?(out: Buffer[]): number;
}

/**
 * The limit every framer accepts. The largest frame is not a common option: each framer names its own limit in its
 * own terms (line, delimiter, netstring, cobs: `maxLength`; length-prefixed: `maxFrameLength`; fixed: `size`).
 */
export interface FramerLimits {
  /**
   * Most bytes a decoder may hold while waiting for a frame to complete; `push()` beyond it throws
   * SWY_BUFFER_OVERFLOW. Default: the framer's frame limit (plus its framing overhead: delimiter, header digits, …)
   * plus 64 KiB read headroom, so one socket read can be pushed on top of a nearly complete largest frame
   * (passthrough, which has no frame limit: 16 MiB).
   */
  maxBufferedBytes?: number;
}

/** Built once at config time from validated options; creates one fresh Framer per connection direction. */
export interface FramerFactory {
  readonly name: string;
  create(): Framer;
}

/** Convenience: decode a chunk fully (push + drain next()). */
export function decodeAll(framer: FrameDecoder, chunk: Buffer): Frame[] {
  framer.push(chunk);
  const out: Frame[] = [];
  for (let f = framer.next(); f !== null; f = framer.next()) out.push(f);
  return out;
}
