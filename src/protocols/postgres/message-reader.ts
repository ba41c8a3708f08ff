import { ByteList } from '../../core/byte-list.js';
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { HEADER_LENGTH } from './messages.js';

/** Largest typed message {@link PgMessageReader} accepts by default (header included). */
export const MAX_AUTH_MESSAGE = 1024 * 1024;

/** Split a byte stream of typed PG messages (type + int32 length + payload) into whole messages. */
export class PgMessageReader {
  readonly #bytes = new ByteList();
  readonly #maxMessage: number;

  /** `maxMessage`: largest message accepted, header included (default 1 MiB). */
  constructor(options: { maxMessage?: number } = {}) {
    this.#maxMessage = options.maxMessage ?? MAX_AUTH_MESSAGE;
  }

  /** Bytes held, not yet returned. */
  get buffered(): number {
    return this.#bytes.length;
  }

  /** Append a chunk (kept by reference: do not mutate it afterwards). */
  push(chunk: Buffer): void {
    this.#bytes.append(chunk);
  }

  /**
   * One whole message including its header, or null when more bytes are needed. Throws SWY_FRAME_MALFORMED for a
   * length field below 4 and SWY_FRAME_TOO_LARGE above the limit (the stream cannot be resynchronised after that).
   */
  next(): Buffer | null {
    if (this.#bytes.length < HEADER_LENGTH) return null;
    const type = this.#bytes.byteAt(0);
    const len = Number(this.#bytes.readUIntBE(1, 4));
    if (len < 4) {
      throw new SwitchyardError(ErrorCodes.FRAME_MALFORMED, `postgres: message type 0x${type.toString(16).padStart(2, '0')} declares length ${len}, below the minimum 4`, {
        details: { type, length: len },
      });
    }
    if (len + 1 > this.#maxMessage) {
      throw new SwitchyardError(ErrorCodes.FRAME_TOO_LARGE, `postgres: message type 0x${type.toString(16).padStart(2, '0')} declares ${len + 1} bytes, above the limit ${this.#maxMessage}`, {
        details: { type, length: len + 1, limit: this.#maxMessage },
      });
    }
    if (this.#bytes.length < len + 1) return null;
    return this.#bytes.consume(len + 1);
  }
}
