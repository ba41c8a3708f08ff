/** One request as a handler sees it: the request, its path parameters, and the server's body and JSON rules. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readJson, readText, type BodyRules } from './body.js';
import { jsonReply, sendReply, type JsonStyle } from './reply.js';

export class RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  /** Path parameters of the matched route (`:id` → `params.id`), percent-decoded as the server's path rules say. */
  params: Readonly<Record<string, string>> = {};
  readonly #body: BodyRules;
  readonly #json: JsonStyle;
  #url: URL | undefined;

  constructor(req: IncomingMessage, res: ServerResponse, body: BodyRules, json: JsonStyle) {
    this.req = req;
    this.res = res;
    this.method = req.method ?? 'GET';
    this.#body = body;
    this.#json = json;
  }

  /** The request target as a URL (parsed on first use): pathname and query. */
  get url(): URL {
    return (this.#url ??= new URL(this.req.url ?? '/', 'http://localhost'));
  }

  /** A path parameter the route pattern declares. */
  param(name: string): string {
    const value = this.params[name];
    if (value === undefined) throw new TypeError(`route has no parameter '${name}'`);
    return value;
  }

  /** The body as text, within the server's byte limit. */
  text(): Promise<string> {
    return readText(this.req, this.#body);
  }

  /** The body parsed as JSON by the server's rules (content type, limit, empty and invalid bodies). */
  json(): Promise<unknown> {
    return readJson(this.req, this.#body);
  }

  /** Answer `value` as JSON in the server's style. */
  send(status: number, value: unknown, headers?: Readonly<Record<string, string>>): void {
    sendReply(this.res, jsonReply(status, value, this.#json, headers));
  }

  /** Answer text with the given content type. */
  sendText(status: number, text: string, contentType: string, headers?: Readonly<Record<string, string>>): void {
    sendReply(this.res, { status, contentType, text, ...(headers ? { headers } : {}) });
  }

  /** Answer with an empty body. */
  sendEmpty(status: number): void {
    sendReply(this.res, { status });
  }
}
