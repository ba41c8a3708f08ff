import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { BufferedFramer } from '../../framing/buffered-framer.js';
import type { Frame } from '../../framing/framer.js';
import type { AttributeValue, MessageInfo, ProtocolFramer } from '../protocol.js';
import { MAX_PAYLOAD } from './constants.js';
import type { MysqlState } from './state.js';

/** Frame infos without attributes, indexed by start(4) | end(2) | unsolicited(1); shared by every codec. */
const INFOS: readonly MessageInfo[] = Array.from({ length: 8 }, (_, i) =>
  Object.freeze({ start: (i & 4) !== 0, end: (i & 2) !== 0, ...((i & 1) !== 0 ? { unsolicited: true } : {}) }),
);
const OPAQUE: MessageInfo = Object.freeze({ start: true, end: true, opaque: true });

export function malformed(message: string, details: Record<string, unknown> = {}): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_MALFORMED, `mysql: ${message}`, { details: { framer: 'mysql', ...details } });
}

/**
 * One direction of MySQL packets: 3-byte little-endian length + sequence id + payload. A packet of at most
 * `maxPacketFrame` bytes (header included) is one frame; a larger one is cut into a first frame of exactly
 * `maxPacketFrame` bytes (so what is parsed does not depend on chunking) and then pieces of whatever arrived, each at
 * most `maxPacketFrame`. A payload of 0xFFFFFF bytes continues the same logical packet in the next packet.
 *
 * The subclass classifies each logical packet from the payload prefix in its first frame: whether it starts / ends
 * a message, and the request's attributes.
 */
export abstract class MysqlFramer extends BufferedFramer implements ProtocolFramer {
  readonly name = 'mysql';
  readonly passthrough = false;
  info: MessageInfo | undefined;
  protected readonly maxFrame: number;
  readonly #maxLogical: number;
  /** Bytes of the current physical packet not yet returned. */
  #left = 0;
  /** The last packet had a 0xFFFFFF payload: the next packet continues the same logical packet. */
  #contLogical = false;
  #logicalLen = 0;
  /** Classification of the current logical packet. */
  protected pStart = false;
  protected pEnd = false;
  protected pUnsolicited = false;
  /** Request start info (with attributes) for the current logical packet, when it starts a request. */
  /** The request the current packet starts; `setup`: the login (HandshakeResponse / SSLRequest), `MessageInfo.setup`. */
  protected pRequest: { responses: number; attributes: Record<string, AttributeValue>; setup?: boolean } | undefined;
  #pWholeInfo: MessageInfo | undefined;
  readonly #direction: 'client' | 'server';

  constructor(
    protected readonly s: MysqlState,
    direction: 'client' | 'server',
  ) {
    super(s.options.maxBufferedBytes);
    this.#direction = direction;
    this.maxFrame = s.options.maxPacketFrame;
    this.#maxLogical = s.options.maxPacketLength;
  }

  /** Classify a new logical packet; `p` is the payload prefix held in its first frame, `len` its first packet's length. */
  protected abstract classify(p: Buffer, len: number, seq: number): void;

  /** Called once all bytes were framed after end(): throw when the protocol state says a message was cut. */
  protected checkEndOfInput(): void {}

  encode(frame: Frame): Buffer {
    return frame;
  }

  encodeTo(frame: Frame, out: Buffer[]): void {
    out.push(frame);
  }

  protected override resetDecodeState(): void {
    this.#left = 0;
    this.#contLogical = false;
    this.#logicalLen = 0;
  }

  protected decodeOne(): Frame | null {
    const buf = this.buf;
    if (this.s.opaque) {
      this.#left = 0;
      this.#contLogical = false;
      if (buf.length === 0) return null;
      this.info = OPAQUE;
      return buf.consumeAll();
    }
    if (this.#left > 0) {
      const n = Math.min(buf.length, this.#left, this.maxFrame);
      if (n === 0) {
        if (this.ended) throw this.truncated(`${this.#left} bytes of a packet missing`);
        return null;
      }
      this.#left -= n;
      const piece = buf.consume(n);
      this.info = this.#frameInfo(false, this.#left === 0 && !this.#contLogical);
      return piece;
    }
    const held = buf.length;
    if (held < 4) {
      if (this.ended) {
        if (held > 0) throw this.truncated(`${held} bytes of a 4-byte packet header`);
        if (this.#contLogical) throw this.truncated('the packet after a 0xFFFFFF-byte packet is missing');
        this.checkEndOfInput();
      }
      return null;
    }
    const len = buf.readUIntLE(0, 3);
    const continuing = this.#contLogical;
    const logical = (continuing ? this.#logicalLen : 0) + len;
    if (logical > this.#maxLogical) {
      throw new SwitchyardError(
        ErrorCodes.FRAME_TOO_LARGE,
        `mysql: ${this.#direction} packet of ${logical}+ bytes, maxPacketLength is ${this.#maxLogical}`,
        { details: { framer: 'mysql', length: logical, limit: this.#maxLogical } },
      );
    }
    const total = len + 4;
    const take = total <= this.maxFrame ? total : this.maxFrame;
    if (held < take) {
      if (this.ended) throw this.truncated(`packet of ${len} bytes, ${held - 4} received`);
      return null;
    }
    const seq = buf.byteAt(3);
    const frame = buf.consume(take);
    this.#left = total - take;
    this.#logicalLen = logical;
    this.#contLogical = len === MAX_PAYLOAD;
    if (!continuing) {
      this.pRequest = undefined;
      this.#pWholeInfo = undefined;
      this.pUnsolicited = false;
      this.classify(frame.subarray(4), len, seq);
    }
    this.info = this.#frameInfo(!continuing, this.#left === 0 && !this.#contLogical);
    return frame;
  }

  #frameInfo(first: boolean, last: boolean): MessageInfo {
    const start = first && this.pStart;
    const end = last && this.pEnd;
    const req = this.pRequest;
    if (start && req) {
      const setup = req.setup === true ? { setup: true } : {};
      if (end) return (this.#pWholeInfo ??= { start: true, end: true, responses: req.responses, attributes: req.attributes, ...setup });
      return { start: true, end: false, responses: req.responses, attributes: req.attributes, ...setup };
    }
    return INFOS[(start ? 4 : 0) | (end ? 2 : 0) | (this.pUnsolicited ? 1 : 0)]!;
  }

  protected truncated(what: string): SwitchyardError {
    return new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `mysql: ${this.#direction} input ended inside a packet (${what})`, {
      details: { framer: 'mysql', buffered: this.buf.length },
    });
  }
}
