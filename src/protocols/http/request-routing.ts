/** HTTP's per-request routing hooks: idempotent methods, Upgrade/CONNECT pinning, head rewrite, direct answers. */
import type { AnswerAfter, Attributes, DirectAnswer, MessageInfo, ProtocolCodec, RequestRewrite, RequestRoutingHooks, RoutedRequestFacts, RoutedResponseFacts } from '../protocol.js';
import type { HttpCodec } from './codec.js';
import { reasonPhrase } from './error-reply.js';
import { CR, LF, SP } from './head.js';

/** RFC 9110 §9.2.2 idempotent methods: retried when their first attempt failed before any answer byte. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

const PLAIN: RoutedRequestFacts = {};
const RETRYABLE: RoutedRequestFacts = { idempotent: true };
const PIN: RoutedRequestFacts = { pin: true };
const KEEP: RoutedResponseFacts = {};

/** Header fields the proxy sets itself on a direct answer (a configured value would break the framing). */
const OWN_FIELDS = new Set(['content-length', 'transfer-encoding', 'connection']);

function state(codec: ProtocolCodec): HttpCodec['state'] {
  return (codec as HttpCodec).state;
}

export const httpRequestRouting: RequestRoutingHooks = {
  facts(codec: ProtocolCodec, _head: Buffer, info: MessageInfo): RoutedRequestFacts {
    const req = state(codec).last;
    if (req?.switching === true) return PIN;
    const method = info.attributes?.['method'];
    return typeof method === 'string' && IDEMPOTENT.has(method) ? RETRYABLE : PLAIN;
  },

  forget(codec: ProtocolCodec, attributes: Attributes): void {
    const st = state(codec);
    const req = st.byAttributes.get(attributes);
    if (req === undefined) return;
    st.byAttributes.delete(attributes);
    const i = st.pending.indexOf(req);
    if (i >= 0) st.pending.splice(i, 1);
    if (st.last === req) st.last = undefined;
  },

  attributes(head: Buffer, info: MessageInfo, wanted: readonly string[]): Attributes {
    const out: Record<string, string> = {};
    let params: URLSearchParams | undefined;
    let text: string | undefined;
    for (const name of wanted) {
      if (name.startsWith('query.')) {
        const q = info.attributes?.['query'];
        params ??= new URLSearchParams(typeof q === 'string' ? q : '');
        const v = params.get(name.slice(6));
        if (v !== null) out[name] = v;
      } else if (name.startsWith('header.')) {
        text ??= head.toString('latin1');
        const v = headerValue(text, name.slice(7));
        if (v !== undefined) out[name] = v;
      }
    }
    return out;
  },

  expect(from: ProtocolCodec, to: ProtocolCodec, attributes: Attributes): void {
    const req = state(from).byAttributes.get(attributes);
    if (req === undefined) return;
    const st = state(to);
    st.pending.push({ method: req.method, minor: req.minor, keepAlive: req.keepAlive, switching: req.switching, expectContinue: req.expectContinue, bodyDone: true });
  },

  adopt(from: ProtocolCodec, to: ProtocolCodec, attributes: Attributes): void {
    const req = state(from).byAttributes.get(attributes);
    if (req === undefined) return;
    // the same record: the session's framer marks its body done, which the router's answers read
    const st = state(to);
    st.pending.push(req);
    st.last = req;
    st.byAttributes.set(attributes, req);
    if (!req.keepAlive) st.keepAlive = false;
  },

  handOver(codec: ProtocolCodec, attributes: Attributes, after: AnswerAfter): boolean {
    const st = state(codec);
    const req = st.byAttributes.get(attributes);
    // an Upgrade/CONNECT answer may switch the connection (and release the bytes held behind it): framed as usual
    if (after === 'switch' || req === undefined || req.switching || st.pending[0] !== req || st.opaque) return false;
    // what the response framer records for a final answer it frames whole (see response-framer.ts)
    st.pending.shift();
    if (after === 'close') {
      st.keepAlive = false;
      st.serverClose = true;
    }
    return true;
  },

  after(codec: ProtocolCodec): AnswerAfter {
    const st = state(codec);
    return st.opaque ? 'switch' : st.serverClose ? 'close' : 'keep';
  },

  response(codec: ProtocolCodec, head: Buffer): RoutedResponseFacts {
    const status = (head[9]! - 48) * 100 + (head[10]! - 48) * 10 + (head[11]! - 48);
    const close = state(codec).serverClose;
    return status >= 500 || close ? { status, close } : KEEP;
  },

  rewrite(head: Buffer, rewrite: RequestRewrite, prefix: string | undefined): Buffer {
    let lead = 0;
    while (head[lead] === CR && head[lead + 1] === LF) lead += 2;
    const sp1 = head.indexOf(SP, lead);
    const sp2 = head.indexOf(SP, sp1 + 1);
    const eol = head.indexOf(LF, lead);
    let target = head.toString('latin1', sp1 + 1, sp2);
    const newPrefix = rewrite.pathPrefix;
    if (newPrefix !== undefined) {
      if (prefix !== undefined && target.toLowerCase().startsWith(prefix.toLowerCase())) target = newPrefix + target.slice(prefix.length);
      else target = newPrefix.endsWith('/') && target.startsWith('/') ? newPrefix + target.slice(1) : newPrefix + target;
      if (!target.startsWith('/') && !target.includes('://')) target = `/${target}`;
    }
    let fields = head.toString('latin1', eol + 1);
    const host = rewrite.host;
    if (host !== undefined) {
      const m = /(^|\r\n)host[ \t]*:[^\r\n]*/i.exec(fields);
      if (m) fields = `${fields.slice(0, m.index)}${m[1]}Host: ${host}${fields.slice(m.index + m[0].length)}`;
      else fields = `Host: ${host}\r\n${fields}`;
    }
    return Buffer.from(`${head.toString('latin1', 0, sp1 + 1)}${target}${head.toString('latin1', sp2, eol + 1)}${fields}`, 'latin1');
  },

  answer(codec: ProtocolCodec, attributes: Attributes, answer: DirectAnswer): { bytes: Buffer; close: boolean } {
    const st = state(codec);
    const req = st.byAttributes.get(attributes) ?? st.last;
    const close = req !== undefined ? !req.keepAlive || (req.expectContinue && !req.bodyDone) : !st.keepAlive;
    const body = Buffer.from(answer.body, 'utf8');
    let head = `HTTP/1.1 ${answer.status} ${reasonPhrase(answer.status)}\r\n`;
    for (const [name, value] of Object.entries(answer.headers ?? {})) {
      if (OWN_FIELDS.has(name.toLowerCase())) continue;
      head += `${name}: ${value.replace(/[\r\n]+/g, ' ')}\r\n`;
    }
    const bodyless = answer.status === 204 || answer.status === 304;
    if (!bodyless) head += `Content-Length: ${body.length}\r\n`;
    if (close) head += 'Connection: close\r\n';
    else if (req !== undefined && req.minor === 0) head += 'Connection: keep-alive\r\n';
    head += '\r\n';
    const bytes = req?.method === 'HEAD' || bodyless ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), body]);
    return { bytes, close };
  },
};

/** The first value of header `name` (lower case) in a head's text, trimmed; undefined when absent. */
function headerValue(text: string, name: string): string | undefined {
  let pos = text.indexOf('\r\n');
  while (pos >= 0 && pos + 2 < text.length) {
    const start = pos + 2;
    const end = text.indexOf('\r\n', start);
    if (end < 0 || end === start) return undefined;
    const colon = text.indexOf(':', start);
    if (colon > start && colon < end && colon - start === name.length && text.slice(start, colon).toLowerCase() === name) return text.slice(colon + 1, end).trim();
    pos = end;
  }
  return undefined;
}
