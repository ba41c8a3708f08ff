import type { Socket } from 'node:net';
import { memoryOf, offsetOf, viewOf } from '../core/byte-list.js';
import type { Frame, Framer } from '../framing/framer.js';
import type { MessageInfo, ProtocolCodec } from '../protocols/protocol.js';
import type { ConnectionFraming } from '../routing/engine.js';

/** Frames written together are copied into one buffer up to this size (above it, each is written as is). */
export const COALESCE_LIMIT = 64 * 1024;

/** A frame that is a whole message by itself (plain framers: one request frame gets one response frame). */
export const WHOLE: MessageInfo = Object.freeze({ start: true, end: true });

/**
 * One socket of a replication engine with its framing, from the engine's point of view:
 * - role `client` = a socket the proxy accepted (a client, or a variant calling a merged backend): we parse
 *   requests from it and write responses to it;
 * - role `server` = a socket the proxy opened (a variant, a backend, a shadow): we write requests, parse responses.
 * With a protocol codec, everything we write is also fed through the codec's other framer so its shared state
 * (HEAD responses, PostgreSQL startup and transaction status, MySQL sequence ids) stays right; frames are wire-exact.
 * With plain framers, frames are payloads and writes are encoded.
 */
export class Peer {
  readonly codec: ProtocolCodec | undefined;
  readonly #parse: Framer;
  readonly #writer: Framer;
  readonly #track: boolean;

  constructor(
    readonly role: 'client' | 'server',
    framing: ConnectionFraming,
    readonly socket: Socket,
  ) {
    if (framing.codec) {
      const codec = framing.codec.create();
      this.codec = codec;
      this.#parse = role === 'client' ? codec.toUpstream : codec.toDownstream;
      this.#writer = role === 'client' ? codec.toDownstream : codec.toUpstream;
      this.#track = true;
    } else {
      this.#parse = (role === 'client' ? framing.toUpstream : framing.toDownstream).create();
      this.#writer = (role === 'client' ? framing.toDownstream : framing.toUpstream).create();
      this.#track = false;
    }
  }

  /** True when frames carry no message boundaries (raw passthrough bytes). */
  get unframed(): boolean {
    return !this.codec && this.#parse.passthrough;
  }

  push(chunk: Buffer): void {
    this.#parse.push(chunk);
  }

  /** Bytes pushed and not yet returned in a frame. */
  get buffered(): number {
    return this.#parse.bufferedBytes;
  }

  /** End of input: the parser may release a final frame (HTTP body read until close) or throw SWY_FRAME_TRUNCATED. */
  endInput(): void {
    this.#parse.end();
  }

  /** The message info of the frame {@link nextFrame} returned last. */
  info: MessageInfo = WHOLE;

  /**
   * Next parsed frame, or null; its message info is then in {@link info} (no object per frame, for the per-request
   * path). Throws the framer's typed error on garbage.
   */
  nextFrame(): Frame | null {
    const frame = this.#parse.next();
    if (frame === null) return null;
    this.info = this.codec ? ((this.#parse as unknown as { info: MessageInfo | undefined }).info ?? WHOLE) : WHOLE;
    return frame;
  }

  /** Next parsed frame with its message info, or null. Throws the framer's typed error on garbage. */
  next(): { frame: Frame; info: MessageInfo } | null {
    const frame = this.#parse.next();
    if (frame === null) return null;
    const info = this.codec ? ((this.#parse as unknown as { info: MessageInfo | undefined }).info ?? WHOLE) : WHOLE;
    return { frame, info };
  }

  /** True when frames are wire bytes of a protocol codec (written as they are, tracked by the codec's other framer). */
  get tracked(): boolean {
    return this.#track;
  }

  /**
   * Write frames (in order). Returns socket.write's answer for the last one. Throws a typed framing error if a frame
   * cannot be encoded. `untracked` (protocol codecs only): the codec's other framer does not see them, because the
   * caller told the codec what they are another way (a request's expectation handed over from the codec that framed
   * it, an answer handed over to the client's codec): no second parse of the same bytes.
   */
  write(frames: readonly Frame[], untracked = false): boolean {
    if (this.#track) {
      let total = 0;
      for (const f of frames) {
        if (!untracked) this.#trackOut(f);
        total += f.length;
      }
      // Several small frames (an HTTP head and its body) leave in one write: one syscall, not one each.
      if (frames.length > 1 && total <= COALESCE_LIMIT) return this.socket.write(joinFrames(frames, total));
      let ok = true;
      for (const f of frames) ok = this.socket.write(f);
      return ok;
    }
    let ok = true;
    for (const f of frames) {
      const bytes = this.#writer.encode(f);
      ok = this.socket.write(bytes);
    }
    return ok;
  }

  /** Feed bytes that go out through the tracking framer without writing them (already written by someone else). */
  #trackOut(frame: Frame): void {
    const w = this.#writer;
    w.push(frame);
    while (w.next() !== null) {
      /* state only */
    }
  }

  /** Wire bytes for raw writes that bypass framing (error replies built by the codec are already wire bytes). */
  writeRaw(bytes: readonly Buffer[]): boolean {
    let ok = true;
    for (const b of bytes) {
      if (this.#track) this.#trackOut(b);
      ok = this.socket.write(b);
    }
    return ok;
  }
}

/**
 * The frames as one Buffer of `total` bytes: a view over their memory when they lie back to back in one chunk (an
 * HTTP head and its body read together: no copy, no allocation of bytes), else one copy.
 */
export function joinFrames(frames: readonly Buffer[], total: number): Buffer {
  const first = frames[0]!;
  const ab = memoryOf(first);
  const start = offsetOf(first);
  let end = start + first.length;
  let adjacent = true;
  for (let i = 1; adjacent && i < frames.length; i++) {
    const f = frames[i]!;
    if (memoryOf(f) !== ab || offsetOf(f) !== end) adjacent = false;
    else end += f.length;
  }
  return adjacent ? viewOf(ab, start, total) : Buffer.concat(frames, total);
}

/** Compare two frame lists byte for byte without concatenating them. */
export function sameBytes(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  // Lists cut the same way (each answer's head, then its body): whole frames compared, by Buffer.equals — cheaper than
  // compare() with ranges, whose arguments are checked in JS on every call.
  if (a.length === b.length) {
    let aligned = true;
    for (let i = 0; aligned && i < a.length; i++) aligned = a[i]!.length === b[i]!.length;
    if (aligned) {
      for (let i = 0; i < a.length; i++) if (!a[i]!.equals(b[i]!)) return false;
      return true;
    }
  }
  let ia = 0;
  let ib = 0;
  let oa = 0;
  let ob = 0;
  for (;;) {
    while (ia < a.length && oa >= a[ia]!.length) {
      ia++;
      oa = 0;
    }
    while (ib < b.length && ob >= b[ib]!.length) {
      ib++;
      ob = 0;
    }
    if (ia >= a.length || ib >= b.length) return ia >= a.length && ib >= b.length;
    const fa = a[ia]!;
    const fb = b[ib]!;
    const n = Math.min(fa.length - oa, fb.length - ob);
    if (fa.compare(fb, ob, ob + n, oa, oa + n) !== 0) return false;
    oa += n;
    ob += n;
  }
}
