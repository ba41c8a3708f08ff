/**
 * The HTTP error reply: a complete `text/plain` response the proxy sends instead of forwarding a request.
 */
import type { Attributes, ErrorReply, ErrorReplyRequest, RefusalReason } from '../protocol.js';
import type { HttpConnectionState } from './connection-state.js';

export const DEFAULT_ERROR_STATUS = 503;

/** What an injected error without a configured status picks from at random (Vaurien's 500-503). */
export const RANDOM_ERROR_STATUSES: readonly number[] = Object.freeze([500, 501, 502, 503]);

/** {@link RANDOM_ERROR_STATUSES} for an HTTP request (one with a method and a version), else undefined. */
export function randomErrorStatuses(request: Attributes | undefined): readonly number[] | undefined {
  return request?.['method'] !== undefined && request['version'] !== undefined ? RANDOM_ERROR_STATUSES : undefined;
}

/** Reason phrases (IANA HTTP Status Code Registry, RFC 9110 wording). */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  203: 'Non-Authoritative Information',
  206: 'Partial Content',
  207: 'Multi-Status',
  208: 'Already Reported',
  226: 'IM Used',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  305: 'Use Proxy',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  418: "I'm a Teapot",
  421: 'Misdirected Request',
  422: 'Unprocessable Content',
  423: 'Locked',
  424: 'Failed Dependency',
  425: 'Too Early',
  426: 'Upgrade Required',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
  506: 'Variant Also Negotiates',
  507: 'Insufficient Storage',
  508: 'Loop Detected',
  510: 'Not Extended',
  511: 'Network Authentication Required',
};

/** The reason phrase for a status: registered phrase, else the class name ("Client Error", "Server Error", ...). */
export function reasonPhrase(status: number): string {
  const known = REASON_PHRASES[status];
  if (known !== undefined) return known;
  if (status >= 500) return 'Server Error';
  if (status >= 400) return 'Client Error';
  if (status >= 300) return 'Redirection';
  return 'Success';
}

/**
 * The status an error reply uses: an integer (or a string of digits) from 200 to 599 other than the bodyless 204,
 * 205 and 304; anything else (missing, SQLSTATE-like strings, 1xx) gives 503.
 */
export function replyStatus(status: number | string | undefined): number {
  const n = typeof status === 'number' ? status : typeof status === 'string' && /^\d{3}$/.test(status) ? Number(status) : NaN;
  if (!Number.isInteger(n) || n < 200 || n > 599 || n === 204 || n === 205 || n === 304) return DEFAULT_ERROR_STATUS;
  return n;
}

/** The status of a refusal by the proxy itself (`head`: the oversize message was still in its head). */
export function refusalStatus(reason: RefusalReason, head: boolean): number {
  switch (reason) {
    case 'malformed':
      return 400;
    case 'too_large':
      return head ? 431 : 413;
    case 'upstream_refused':
    case 'upstream_lost':
      return 502;
    case 'upstream_timeout':
      return 504;
    case 'header_timeout':
    case 'request_timeout':
    case 'too_slow':
      return 408;
    case 'no_route':
      return 404;
  }
}

/**
 * Build the reply for the request named by `request.request` (the attributes of its start frame), else the one whose
 * start frame was returned last, and forget that request (the server never
 * sees it, so the response framer must not wait for its answer).
 */
export function buildErrorReply(state: HttpConnectionState, request: ErrorReplyRequest, readingHead = false): ErrorReply {
  // The request named by its start attributes (pipelined requests may have been framed since), else the last one.
  const req = (request.request !== undefined ? state.byAttributes.get(request.request) : undefined) ?? state.last;
  const status = request.status === undefined && request.reason !== undefined ? refusalStatus(request.reason, readingHead) : replyStatus(request.status);
  const json = request.reason === 'no_route' && request.status === undefined;
  const body = Buffer.from(json ? `${noRouteBody(request, req?.method)}\n` : `${request.message}\n`, 'utf8');
  // a client that sent `Expect: 100-continue` may or may not send the body after a final answer: only closing is safe
  // a later pipelined request asking to close does not close before it is answered: only this request's own wish
  // (or the server's) counts when the request is known
  const close =
    request.close === true || (req !== undefined ? !req.keepAlive || (req.expectContinue && !req.bodyDone) || state.serverClose : !state.keepAlive);
  let head = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\nContent-Type: ${json ? 'application/json' : 'text/plain; charset=utf-8'}\r\nContent-Length: ${body.length}\r\n`;
  if (close) head += 'Connection: close\r\n';
  else if (req !== undefined && req.minor === 0) head += 'Connection: keep-alive\r\n';
  head += '\r\n';
  const isHead = req?.method === 'HEAD';
  const bytes = isHead ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), body]);
  if (req !== undefined) {
    state.drop(req);
    if (state.last === req) state.last = undefined;
    if (request.request !== undefined) state.byAttributes.delete(request.request);
  }
  if (close) state.keepAlive = false;
  return { frames: [bytes], close };
}

/** The JSON body of a `no_route` refusal: `{"error":"no route","listener":"web","method":"GET","host":...,"path":...,"message":...}`. */
function noRouteBody(request: ErrorReplyRequest, method: string | undefined): string {
  const attrs = request.request;
  const out: Record<string, unknown> = { error: 'no route' };
  if (request.listener !== undefined) out['listener'] = request.listener;
  const m = attrs?.['method'] ?? method;
  if (m !== undefined) out['method'] = m;
  for (const k of ['host', 'path'] as const) if (attrs?.[k] !== undefined) out[k] = attrs[k];
  out['message'] = request.message;
  return JSON.stringify(out);
}
