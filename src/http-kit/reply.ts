/**
 * Responses: JSON in each server's style (content type, indentation), text, or nothing. A HEAD request gets the
 * headers (content length included) without the body.
 */
import type { ServerResponse } from 'node:http';

/** How one server writes JSON. */
export interface JsonStyle {
  /** e.g. `application/json; charset=utf-8`. */
  readonly contentType: string;
  /** Spaces per level (pretty-printed) or undefined (compact). */
  readonly indent?: number;
  /** End the text with a newline. */
  readonly newline?: boolean;
}

/** A complete answer: status, body text (none = empty body) and headers. */
export interface Reply {
  readonly status: number;
  readonly contentType?: string;
  readonly text?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** `value` as a JSON reply in `style`. */
export function jsonReply(status: number, value: unknown, style: JsonStyle, headers?: Readonly<Record<string, string>>): Reply {
  const text = JSON.stringify(value, null, style.indent) + (style.newline ? '\n' : '');
  return { status, contentType: style.contentType, text, ...(headers ? { headers } : {}) };
}

/** Write a reply: content type and length first, then the reply's own headers. */
export function sendReply(res: ServerResponse, reply: Reply): void {
  const { status, contentType, text, headers = {} } = reply;
  if (text === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  res.writeHead(status, { ...(contentType === undefined ? {} : { 'content-type': contentType }), 'content-length': Buffer.byteLength(text), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
