/** The decode machinery both PostgreSQL framers share: typed message headers, limits, cutting large messages into bounded pieces. */
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { BufferedFramer, READ_HEADROOM } from '../../framing/buffered-framer.js';
import type { Frame } from '../../framing/framer.js';
import type { Attributes, MessageInfo, ProtocolFramer } from '../protocol.js';
import type { PgState, PostgresCodecOptions } from './codec-state.js';
import { HEADER_LENGTH, MAX_STARTUP_LENGTH, isBackendType, isFrontendType, typeName } from './messages.js';

// ---- shared MessageInfo constants: index = start·4 + end·2 + unsolicited ----
const INFOS: readonly MessageInfo[] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) =>
  Object.freeze({ start: (i & 4) !== 0, end: (i & 2) !== 0, ...((i & 1) !== 0 ? { unsolicited: true } : {}) }),
);
export const infoFor = (start: boolean, end: boolean, unsolicited = false): MessageInfo => INFOS[(start ? 4 : 0) + (end ? 2 : 0) + (unsolicited ? 1 : 0)]!;
const CONT = infoFor(false, false);
const CONT_END = infoFor(false, true);
const OPAQUE: MessageInfo = Object.freeze({ start: true, end: true, opaque: true });

export function malformed(message: string, details?: Record<string, unknown>): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_MALFORMED, `postgres: ${message}`, details === undefined ? undefined : { details });
}

/** A PostgreSQL framer: one direction of a connection. */
export abstract class PgFramer extends BufferedFramer implements ProtocolFramer {
  readonly name = 'postgres';
  readonly passthrough = false;
  protected readonly maxFrame: number;
  readonly #maxLength: number;
  protected lastInfo: MessageInfo | undefined;
  /** Bytes of the current (split) message not yet returned. */
  #remaining = 0;
  #pieceType = 0;
  #pieceTotal = 0;
  #midInfo: MessageInfo = CONT;
  #endInfo: MessageInfo = CONT_END;
  // classification result of the message being decoded
  protected mStart = false;
  protected mEnd = false;
  protected mUnsolicited = false;
  protected mAttributes: Attributes | undefined;
  protected mResponses: number | undefined;
  readonly #from: 'client' | 'server';

  protected constructor(
    protected readonly state: PgState,
    from: 'client' | 'server',
    options: PostgresCodecOptions,
  ) {
    super(options.maxBufferedBytes ?? Math.max(options.maxMessageFrame, MAX_STARTUP_LENGTH) + READ_HEADROOM);
    this.#from = from;
    this.maxFrame = options.maxMessageFrame;
    this.#maxLength = options.maxMessageLength;
  }

  get info(): MessageInfo | undefined {
    return this.lastInfo;
  }

  encode(frame: Frame): Buffer {
    return frame;
  }

  protected override resetDecodeState(): void {
    this.#remaining = 0;
  }

  /** Classify a typed message from its bytes (the whole message, or its first piece when `whole` is false). */
  protected abstract classify(type: number, frame: Buffer, whole: boolean): void;

  protected truncated(what: string, have: number, need: number): SwitchyardError {
    return new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `postgres: ${this.#from} connection ended inside ${what} (${have} of ${need} bytes)`, {
      details: { have, need },
    });
  }

  protected opaqueChunk(): Frame | null {
    if (this.buf.length === 0) return null;
    this.lastInfo = OPAQUE;
    return this.buf.consumeChunk();
  }

  /** The next piece of a split message, when one is in progress (else undefined). */
  protected piece(): Frame | null | undefined {
    if (this.#remaining === 0) return undefined;
    const n = Math.min(this.buf.length, this.#remaining, this.maxFrame);
    if (n === 0) {
      if (this.ended) {
        const total = this.#pieceTotal;
        throw this.truncated(typeName(this.#pieceType, this.#from), total - this.#remaining, total);
      }
      return null;
    }
    this.#remaining -= n;
    this.lastInfo = this.#remaining === 0 ? this.#endInfo : this.#midInfo;
    return this.buf.consume(n);
  }

  /** Decode one typed message (or its first piece). */
  protected typed(): Frame | null {
    const buf = this.buf;
    if (buf.length < HEADER_LENGTH) {
      if (this.ended && buf.length > 0) throw this.truncated('a message header', buf.length, HEADER_LENGTH);
      return null;
    }
    const type = buf.byteAt(0);
    if (!(this.#from === 'client' ? isFrontendType(type) : isBackendType(type))) {
      throw malformed(`${this.#from} sent ${typeName(type, this.#from)}`, { type });
    }
    const len = buf.readUIntBE(1, 4);
    if (len < 4) throw malformed(`${typeName(type, this.#from)} declares length ${len} (at least 4)`, { type, length: len });
    if (len > this.#maxLength) {
      throw new SwitchyardError(
        ErrorCodes.FRAME_TOO_LARGE,
        `postgres: ${typeName(type, this.#from)} declares length ${len}, above maxMessageLength ${this.#maxLength}`,
        { details: { type, length: len, limit: this.#maxLength } },
      );
    }
    const total = len + 1;
    if (total <= this.maxFrame) {
      if (buf.length < total) {
        if (this.ended) throw this.truncated(typeName(type, this.#from), buf.length, total);
        return null;
      }
      const frame = buf.consume(total);
      this.classify(type, frame, true);
      this.lastInfo = this.makeInfo(this.mEnd);
      return frame;
    }
    // a large message: a first piece of exactly maxFrame bytes (attributes never depend on chunking), then pieces
    if (buf.length < this.maxFrame) {
      if (this.ended) throw this.truncated(typeName(type, this.#from), buf.length, total);
      return null;
    }
    const frame = buf.consume(this.maxFrame);
    this.#remaining = total - this.maxFrame;
    this.#pieceType = type;
    this.#pieceTotal = total;
    this.classify(type, frame, false);
    this.lastInfo = this.makeInfo(false);
    this.#midInfo = infoFor(false, false, this.mUnsolicited);
    this.#endInfo = infoFor(false, this.mEnd, this.mUnsolicited);
    return frame;
  }

  protected makeInfo(end: boolean): MessageInfo {
    if (this.mAttributes === undefined && this.mResponses === undefined) return infoFor(this.mStart, end, this.mUnsolicited);
    const info: { start: boolean; end: boolean; unsolicited?: boolean; responses?: number; attributes?: Attributes } = { start: this.mStart, end };
    if (this.mUnsolicited) info.unsolicited = true;
    if (this.mResponses !== undefined) info.responses = this.mResponses;
    if (this.mAttributes !== undefined) info.attributes = this.mAttributes;
    return info;
  }

  protected set(start: boolean, end: boolean, attributes?: Attributes, responses?: number, unsolicited = false): void {
    this.mStart = start;
    this.mEnd = end;
    this.mAttributes = attributes;
    this.mResponses = responses;
    this.mUnsolicited = unsolicited;
  }
}
