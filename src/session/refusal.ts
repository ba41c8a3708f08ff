import type { Socket } from 'node:net';
import type { Attributes, ErrorReply, ProtocolCodec, RefusalReason } from '../protocols/protocol.js';
import { ErrorCodes, errorCode, type ErrorCode } from '../core/errors.js';

/**
 * Refusals: the proxy answers a request in the listener's protocol itself (HTTP 502, RESP -ERR, PostgreSQL
 * ErrorResponse, ...) and closes, instead of a bare close or reset. Protocol-neutral: the codec builds the answer.
 */

/** The code each refusal is counted as (besides the code of its cause). */
export const REFUSAL_CODES: Readonly<Record<RefusalReason, ErrorCode>> = {
  malformed: ErrorCodes.REFUSED_MALFORMED,
  too_large: ErrorCodes.REFUSED_TOO_LARGE,
  upstream_refused: ErrorCodes.REFUSED_UPSTREAM_UNAVAILABLE,
  upstream_timeout: ErrorCodes.REFUSED_UPSTREAM_TIMEOUT,
  upstream_lost: ErrorCodes.REFUSED_UPSTREAM_LOST,
  header_timeout: ErrorCodes.REFUSED_HEADER_TIMEOUT,
  request_timeout: ErrorCodes.REFUSED_REQUEST_TIMEOUT,
  too_slow: ErrorCodes.REFUSED_TOO_SLOW,
};

/** How long a refused client may keep sending (read and discarded) after the answer before it is destroyed. */
export const LINGER_MS = 2000;

/** The refusal for a client-side decoding error, or undefined when the error is not the client's input. */
export function inputRefusal(err: unknown): RefusalReason | undefined {
  const code = errorCode(err);
  if (code === ErrorCodes.FRAME_MALFORMED) return 'malformed';
  if (code === ErrorCodes.FRAME_TOO_LARGE || code === ErrorCodes.BUFFER_OVERFLOW) return 'too_large';
  return undefined;
}

/** The refusal for a failed upstream connect. */
export function connectRefusal(err: unknown): RefusalReason {
  return errorCode(err) === ErrorCodes.UPSTREAM_TIMEOUT ? 'upstream_timeout' : 'upstream_refused';
}

/** The codec's answer for a refusal (always closing), or undefined when the protocol has none for this moment. */
export function refusalReply(codec: ProtocolCodec, reason: RefusalReason, message: string, request?: Attributes): ErrorReply | undefined {
  const reply = codec.errorReply({ message, reason, close: true, request });
  return reply !== undefined && reply.frames.length > 0 ? reply : undefined;
}

/**
 * Write `frames` to the client, FIN, and keep reading (discarding) until the client closes, for at most
 * {@link LINGER_MS}: closing a socket with unread input makes the kernel send an RST, and the client could lose the
 * answer. The caller has removed its own `data`/`end` listeners.
 */
export function answerAndClose(client: Socket, frames: readonly Buffer[]): void {
  if (client.destroyed) return;
  client.on('data', discard);
  client.once('end', () => client.destroy());
  for (const f of frames) client.write(f);
  client.end();
  client.resume();
  setTimeout(() => client.destroy(), LINGER_MS).unref();
}

function discard(): void {}

/**
 * Before any upstream exists (the connect failed): a server-speaks-first protocol gets the refusal at once, as its
 * greeting; otherwise the client's first request is read (until its head, or `waitMs`, or its FIN) and then refused,
 * so the answer matches it (HTTP HEAD gets no body; PostgreSQL answers an SSLRequest as such).
 * Calls `answered(true)` once the refusal was written, `answered(false)` when the protocol has none.
 */
export function refuseBeforeUpstream(client: Socket, codec: ProtocolCodec, reason: RefusalReason, message: string, waitMs: number, answered: (sent: boolean) => void): void {
  let done = false;
  const answer = (request?: Attributes): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    client.removeListener('data', onData);
    client.removeListener('end', onEnd);
    const reply = refusalReply(codec, reason, message, request);
    answered(reply !== undefined);
    if (reply) answerAndClose(client, reply.frames);
    else client.destroy();
  };
  const decoder = codec.toUpstream;
  const onData = (chunk: Buffer): void => {
    try {
      decoder.push(chunk);
      for (let f = decoder.next(); f !== null; f = decoder.next()) {
        if (decoder.info?.start === true) return answer(decoder.info.attributes);
      }
    } catch {
      answer();
    }
  };
  const onEnd = (): void => answer();
  const timer = setTimeout(() => answer(), codec.serverSpeaksFirst === true ? 0 : waitMs);
  timer.unref();
  if (codec.serverSpeaksFirst === true) {
    answer();
    return;
  }
  client.on('data', onData);
  client.on('end', onEnd);
  client.resume();
}
