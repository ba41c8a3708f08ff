/**
 * HTTP/2 framing (RFC 9113 §4, §6): frame types, flags, error codes, the frame header, and builders of the frames
 * the frame-level engine sends. A frame is built as a 9-octet header buffer plus its payload (never copied).
 */

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const DEFAULT_WINDOW = 65_535;
export const DEFAULT_MAX_FRAME = 16_384;
export const MAX_WINDOW = 0x7fff_ffff;

/** A connection error (GOAWAY with `code`) or, with `stream`, a stream error (RST_STREAM). */
export class H2Error extends Error {
  readonly code: number;
  readonly stream: number;
  constructor(code: number, message: string, stream = 0) {
    super(message);
    this.name = 'H2Error';
    this.code = code;
    this.stream = stream;
  }
}

/** The 9-octet frame header. */
export function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = (length >>> 16) & 0xff;
  b[1] = (length >>> 8) & 0xff;
  b[2] = length & 0xff;
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream & MAX_WINDOW, 5);
  return b;
}

/** SETTINGS (id, value pairs) or a SETTINGS ack (no pairs, `ack`). */
export function settingsFrame(pairs: readonly (readonly [number, number])[], ack = false): Buffer {
  const b = Buffer.allocUnsafe(9 + pairs.length * 6);
  frameHeader(pairs.length * 6, FrameType.SETTINGS, ack ? Flag.ACK : 0, 0).copy(b, 0);
  pairs.forEach(([id, v], i) => {
    b.writeUInt16BE(id, 9 + i * 6);
    b.writeUInt32BE(v, 11 + i * 6);
  });
  return b;
}

export function pingFrame(payload: Buffer, ack: boolean): Buffer {
  return Buffer.concat([frameHeader(8, FrameType.PING, ack ? Flag.ACK : 0, 0), payload]);
}

export function windowUpdateFrame(stream: number, increment: number): Buffer {
  const b = frameHeader(4, FrameType.WINDOW_UPDATE, 0, stream);
  const out = Buffer.allocUnsafe(13);
  b.copy(out, 0);
  out.writeUInt32BE(increment, 9);
  return out;
}

export function rstFrame(stream: number, code: number): Buffer {
  const out = Buffer.allocUnsafe(13);
  frameHeader(4, FrameType.RST_STREAM, 0, stream).copy(out, 0);
  out.writeUInt32BE(code, 9);
  return out;
}

export function goawayFrame(lastStream: number, code: number, debug = ''): Buffer {
  const d = Buffer.from(debug, 'utf8');
  const out = Buffer.allocUnsafe(17 + d.length);
  frameHeader(8 + d.length, FrameType.GOAWAY, 0, 0).copy(out, 0);
  out.writeUInt32BE(lastStream & MAX_WINDOW, 9);
  out.writeUInt32BE(code, 13);
  d.copy(out, 17);
  return out;
}

/** A field block as HEADERS (+ CONTINUATION frames when it is larger than `maxFrame`). */
export function headersFrames(stream: number, block: Buffer, endStream: boolean, maxFrame: number, out: Buffer[]): void {
  const es = endStream ? Flag.END_STREAM : 0;
  if (block.length <= maxFrame) {
    out.push(frameHeader(block.length, FrameType.HEADERS, es | Flag.END_HEADERS, stream), block);
    return;
  }
  let off = 0;
  let type: number = FrameType.HEADERS;
  while (off < block.length) {
    const n = Math.min(maxFrame, block.length - off);
    const last = off + n >= block.length;
    out.push(frameHeader(n, type, (type === FrameType.HEADERS ? es : 0) | (last ? Flag.END_HEADERS : 0), stream), block.subarray(off, off + n));
    off += n;
    type = FrameType.CONTINUATION;
  }
}

/** One parsed frame (the payload is a view into the received bytes). */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
}

/**
 * Cuts a byte stream into frames. `maxFrame` is our SETTINGS_MAX_FRAME_SIZE: a longer frame is a FRAME_SIZE_ERROR
 * (thrown as {@link H2Error}) before its payload is buffered.
 */
export class FrameReader {
  #buf: Buffer | undefined;
  maxFrame = DEFAULT_MAX_FRAME;

  /** Calls `onFrame` for every whole frame in `chunk` (plus what was held); throws H2Error. */
  push(chunk: Buffer, onFrame: (f: Frame) => void): void {
    let buf = this.#buf === undefined ? chunk : Buffer.concat([this.#buf, chunk]);
    this.#buf = undefined;
    let off = 0;
    while (buf.length - off >= 9) {
      const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
      if (len > this.maxFrame) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, `frame of ${len} octets is over the maximum frame size ${this.maxFrame}`);
      if (buf.length - off < 9 + len) break;
      const type = buf[off + 3]!;
      const flags = buf[off + 4]!;
      const stream = buf.readUInt32BE(off + 5) & MAX_WINDOW;
      const payload = buf.subarray(off + 9, off + 9 + len);
      off += 9 + len;
      onFrame({ type, flags, stream, payload });
      if (this.#buf !== undefined) return; // (stopped: see stop())
    }
    if (off < buf.length) {
      buf = buf.subarray(off);
      // Keep a copy of a small tail (not a view pinning the whole chunk).
      this.#buf = buf.length < 4096 ? Buffer.from(buf) : buf;
    }
  }

  /** Drop what is held and stop the current push (after a connection error). */
  stop(): void {
    this.#buf = Buffer.alloc(0);
  }
}

/** The payload of a PADDED frame without its padding (`prefix` octets of priority etc. follow the pad length). */
export function unpad(f: Frame): Buffer {
  if (!(f.flags & Flag.PADDED)) return f.payload;
  if (f.payload.length < 1) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'a padded frame without its pad length');
  const pad = f.payload[0]!;
  if (pad >= f.payload.length) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `padding (${pad} octets) as long as the frame payload`);
  return f.payload.subarray(1, f.payload.length - pad);
}
