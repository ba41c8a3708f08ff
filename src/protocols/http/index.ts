import { httpRouteAttributes } from './route-attributes.js';
import { z } from 'zod';
import { sizeOption } from '../../core/units.js';
import type { ProtocolCodecFactory, ProtocolModule } from '../protocol.js';
import { HttpCodec } from './codec.js';
import { createHttpLifter } from './normalize.js';
import { httpRequestRouting } from './request-routing.js';
import { httpAnswerSummary } from '../answer-summary.js';

export { HttpCodec } from './codec.js';
export { HttpConnectionState } from './connection-state.js';
export type { PendingRequest } from './connection-state.js';
export type { HttpCodecOptions } from './message-framer.js';
export { HttpRequestFramer } from './request-framer.js';
export { HttpResponseFramer } from './response-framer.js';
export { DEFAULT_ERROR_STATUS, REASON_PHRASES, reasonPhrase, replyStatus } from './error-reply.js';

export const httpOptionsSchema = z.strictObject({
  /** Largest message head (start line + header fields + blank line) and largest trailer section. */
  maxHeaderSize: sizeOption(1).default(64 * 1024),
  /** Largest body frame emitted. */
  maxBodyFrame: sizeOption(1).default(64 * 1024),
});
export type HttpOptions = z.output<typeof httpOptionsSchema>;

export const HTTP_ATTRIBUTES: Readonly<Record<string, string>> = {
  method: "request method, upper case (e.g. 'GET', 'POST')",
  path: "request target without the query string (e.g. '/users/7'; absolute-form targets stay whole: 'http://h/x')",
  query: "raw query string without '?' ('' when none), e.g. 'a=1&b=2'",
  host: "Host header value, lower case, port kept (e.g. 'api.example.com:8080'; '' when absent)",
  version: "HTTP version of the request: '1.0' or '1.1'",
};

export const httpProtocol: ProtocolModule<HttpOptions> = {
  answerSummary: httpAnswerSummary,
  name: 'http',
  description: 'HTTP/1.0 and HTTP/1.1: requests and responses paired in order (pipelining, keep-alive, chunked, 100-continue, Upgrade/CONNECT tunnels).',
  optionsSchema: httpOptionsSchema,
  attributes: HTTP_ATTRIBUTES,
  routing: { perRequest: true, maps: { headers: 'header', query: 'query' }, answers: true },
  requestAttributes: httpRouteAttributes,
  factory(options: HttpOptions): ProtocolCodecFactory {
    const opts = { maxHeaderSize: options.maxHeaderSize, maxBodyFrame: options.maxBodyFrame };
    return { name: 'http', create: () => new HttpCodec(opts) };
  },
  lifter: createHttpLifter,
  requestRouting: httpRequestRouting,
};
