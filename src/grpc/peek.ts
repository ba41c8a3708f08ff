/**
 * Read the first length-prefixed message of a client stream (a director's `peek()`): bytes are held, not forwarded,
 * until the destinations are open; the stream is paused again once the message is whole.
 */
import type { ServerHttp2Stream } from 'node:http2';
import { GrpcStatusError } from './status.js';

/** Largest first message `peek()` buffers. */
export const MAX_PEEK = 64 * 1024 * 1024;

export interface Peeked {
  /** The compressed flag as sent. */
  readonly flag: number;
  readonly payload: Buffer;
  /** Bytes read after the message (the start of the next ones), to forward next. */
  readonly rest: Buffer[];
  /** The client ended its stream right after (known when it happened during the read). */
  readonly ended: boolean;
}

/** Resolves with the first message; rejects when the client ends or goes away first, or the message is too large. */
export function readFirstMessage(client: ServerHttp2Stream, onBytes: (n: number) => void): Promise<Peeked> {
  return new Promise<Peeked>((resolve, reject) => {
    let held: Buffer[] = [];
    const tryParse = (): void => {
      const all = held.length === 1 ? held[0]! : Buffer.concat(held);
      held = all.length > 0 ? [all] : [];
      if (all.length < 5) return;
      const len = all.readUInt32BE(1);
      if (len > MAX_PEEK) {
        done(new GrpcStatusError('RESOURCE_EXHAUSTED', `first message of ${len} bytes is over the ${MAX_PEEK}-byte peek limit`));
        return;
      }
      if (all.length < 5 + len) return;
      const rest = all.subarray(5 + len);
      done(undefined, { flag: all[0]!, payload: Buffer.from(all.subarray(5, 5 + len)), rest: rest.length > 0 ? [rest] : [], ended: false });
    };
    const onData = (chunk: Buffer): void => {
      onBytes(chunk.length);
      held.push(chunk);
      tryParse();
    };
    const onEnd = (): void => done(new GrpcStatusError('INTERNAL', 'the client ended its stream before a whole first message'));
    const onClose = (): void => done(new GrpcStatusError('CANCELLED', 'the client went away before a whole first message'));
    const done = (err: GrpcStatusError | undefined, result?: Peeked): void => {
      client.pause();
      client.off('data', onData);
      client.off('end', onEnd);
      client.off('close', onClose);
      if (err) reject(err);
      else resolve(result!);
    };
    if (client.readableEnded) return onEnd();
    if (client.destroyed) return onClose();
    client.on('data', onData);
    client.on('end', onEnd);
    client.on('close', onClose);
    client.resume();
  });
}
