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
  no_route: ErrorCodes.NO_ROUTE,
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
export function refusalReply(codec: ProtocolCodec, reason: RefusalReason, message: string, request?: Attributes, listener?: string): ErrorReply | undefined {
  const reply = codec.errorReply({ message, reason, close: true, request, listener });
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

/** How long a refused client that may go on sending requests (the reply did not close) gets to send the next one. */
export const NEXT_REQUEST_MS = 200;

/**
 * Before any upstream exists (the connect failed): a server-speaks-first protocol gets the refusal at once, as its
 * greeting; otherwise the client's first request is read (until its head, or `waitMs`, or its FIN) and then refused,
 * so the answer matches it (HTTP HEAD gets no body; PostgreSQL answers an SSLRequest as such). When the protocol
 * does not close after such an answer (RESP, memcache), every further request the client sends soon after is
 * refused the same way (a client's opening — ioredis's `CLIENT SETINFO` then its `INFO` ready check — and a
 * pipeline each get their answer, so the client reports the refusal's message rather than a closed connection);
 * the connection is closed once the client has been quiet for {@link NEXT_REQUEST_MS}, or after {@link LINGER_MS}.
 * Calls `answered(true)` once the first refusal was written, `answered(false)` when the protocol has none.
 * `listener` is named in replies that carry it (HTTP's `no_route` JSON body).
 */
export function refuseBeforeUpstream(
  client: Socket,
  codec: ProtocolCodec,
  reason: RefusalReason,
  message: string,
  waitMs: number,
  answered: (sent: boolean) => void,
  listener?: string,
): void {
  let answeredOnce = false;
  let closing = false;
  const started = Date.now();
  const finish = (frames: readonly Buffer[]): void => {
    if (closing) return;
    closing = true;
    clearTimeout(timer);
    client.removeListener('data', onData);
    client.removeListener('end', onEnd);
    answerAndClose(client, frames);
  };
  /** Answer one request; false when the connection is to close now. */
  const answer = (request?: Attributes): boolean => {
    const reply = refusalReply(codec, reason, message, request, listener);
    if (!answeredOnce) {
      answeredOnce = true;
      answered(reply !== undefined);
    }
    if (reply === undefined) {
      closing = true;
      clearTimeout(timer);
      client.destroy();
      return false;
    }
    if (reply.close || codec.serverSpeaksFirst === true) {
      finish(reply.frames);
      return false;
    }
    for (const f of reply.frames) client.write(f);
    return true;
  };
  const decoder = codec.toUpstream;
  const onData = (chunk: Buffer): void => {
    if (closing) return;
    try {
      decoder.push(chunk);
      for (let f = decoder.next(); f !== null; f = decoder.next()) {
        if (decoder.info?.start === true && !answer(decoder.info.attributes)) return;
      }
    } catch {
      if (!answeredOnce) answer();
      finish([]);
      return;
    }
    // Wait a little for the client's next request (never past the linger bound), then close.
    if (answeredOnce) rearm(Math.max(0, Math.min(NEXT_REQUEST_MS, started + waitMs + LINGER_MS - Date.now())));
  };
  const onEnd = (): void => {
    if (!answeredOnce && !answer()) return;
    finish([]);
  };
  let timer: NodeJS.Timeout | undefined;
  const rearm = (ms: number): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!answeredOnce && !answer()) return;
      finish([]);
    }, ms);
    timer.unref();
  };
  if (codec.serverSpeaksFirst === true) {
    answer();
    return;
  }
  rearm(waitMs);
  client.on('data', onData);
  client.on('end', onEnd);
  client.resume();
}
