/**
 * The client side of one call: response headers once, DATA with backpressure, and the end — the primary's own
 * trailers passed on unchanged, or a status of the proxy's (as trailers, or Trailers-Only when no headers went out).
 * Plain HTTP/2 calls get the primary's end, a mirrored reset, or a 502/504 text answer.
 */
import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { passHeaders, statusTrailers } from './headers.js';
import { GrpcCode, type GrpcStatusError } from './status.js';

export class ClientReply {
  readonly #client: ServerHttp2Stream;
  readonly #grpc: boolean;
  readonly #contentType: string;
  #responded = false;
  #finalTrailers: OutgoingHttpHeaders | undefined;

  constructor(client: ServerHttp2Stream, grpc: boolean, contentType: string | undefined) {
    this.#client = client;
    this.#grpc = grpc;
    this.#contentType = contentType ?? 'application/grpc';
    client.on('wantTrailers', () => {
      try {
        client.sendTrailers(this.#finalTrailers ?? {});
      } catch {
        // the client went away meanwhile
      }
    });
  }

  /** Response headers went out (the end then comes as trailers). */
  get responded(): boolean {
    return this.#responded;
  }

  /** Send the primary's response headers (trailers follow at the end). */
  respond(headers: IncomingHttpHeaders): void {
    this.#responded = true;
    this.#client.respond(passHeaders(headers, true), { waitForTrailers: true });
  }

  /** Pass the primary's own trailers (or Trailers-Only headers) on unchanged. */
  pass(trailers: IncomingHttpHeaders): void {
    const client = this.#client;
    if (client.destroyed) return;
    if (this.#responded) {
      this.#finalTrailers = passHeaders(trailers, false);
      client.end();
      return;
    }
    const h = passHeaders(trailers, true);
    if (h[':status'] === undefined) h[':status'] = 200;
    try {
      client.respond(h, { endStream: true });
    } catch {
      client.close(constants.NGHTTP2_INTERNAL_ERROR);
    }
  }

  /** Answer with a status of the proxy's own. `primaryRst`: the primary's reset code (plain HTTP/2 mirrors it). */
  answer(status: GrpcStatusError, primaryRst: number | undefined): void {
    const client = this.#client;
    if (client.destroyed) return;
    if (!this.#grpc) {
      if (this.#responded) {
        if (status.code === GrpcCode.OK) client.end();
        else client.close(primaryRst || constants.NGHTTP2_INTERNAL_ERROR);
        return;
      }
      const http = status.code === GrpcCode.DEADLINE_EXCEEDED ? 504 : status.code === GrpcCode.OK ? 200 : 502;
      try {
        client.respond({ ':status': http, 'content-type': 'text/plain; charset=utf-8' });
        client.end(status.code === GrpcCode.OK ? '' : `${status.message}\n`);
      } catch {
        client.close(constants.NGHTTP2_INTERNAL_ERROR);
      }
      return;
    }
    const trailers = statusTrailers(status);
    if (this.#responded) {
      this.#finalTrailers = trailers;
      client.end();
      return;
    }
    try {
      client.respond({ ':status': 200, 'content-type': this.#contentType, ...trailers }, { endStream: true });
    } catch {
      client.close(constants.NGHTTP2_INTERNAL_ERROR);
    }
  }
}
