import type { Frame } from '../../framing/framer.js';
import type { Attributes } from '../protocol.js';
import type { HttpConnectionState, PendingRequest } from './connection-state.js';
import { CR, LF, TCHAR, lastRequestHead, malformed, parseRequestHead, type RequestHead } from './head.js';
import { HttpFramer, Mode, type HttpCodecOptions } from './message-framer.js';

/** Upper case without a new string when already upper case (the common case). */
function upper(method: string): string {
  for (let i = 0; i < method.length; i++) {
    const c = method.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) return method.toUpperCase();
  }
  return method;
}

/** Client → server. */
export class HttpRequestFramer extends HttpFramer {
  #current: PendingRequest | undefined;

  constructor(state: HttpConnectionState, options: HttpCodecOptions) {
    super(state, options, 'request');
  }

  protected decodeOne(): Frame | null {
    if (this.state.opaque) return this.opaqueFrame();
    switch (this.mode) {
      case Mode.Head:
        return this.#head();
      case Mode.Length:
        return this.lengthFrame();
      case Mode.Chunked:
        return this.chunkedFrame();
      default:
        return null;
    }
  }

  protected override bodyDone(): void {
    super.bodyDone();
    if (this.#current) this.#current.bodyDone = true;
  }

  #head(): Frame | null {
    const buf = this.buf;
    if (buf.length === 0) return null;
    if (this.state.switchWait) {
      // bytes after an Upgrade/CONNECT request: tunnel data or the next request, known once the answer arrives
      if (this.ended) throw this.truncated('exchange: bytes after an Upgrade/CONNECT request that was not answered yet');
      return null;
    }
    // empty lines before a request line are ignored (RFC 9112 §2.2); they travel in the head frame
    let lead = 0;
    while (lead + 1 < buf.length && buf.byteAt(lead) === CR && buf.byteAt(lead + 1) === LF) lead += 2;
    if (lead < buf.length && TCHAR[buf.byteAt(lead)] !== 1 && buf.byteAt(lead) !== CR) {
      throw malformed(`request does not start with a method (first byte 0x${buf.byteAt(lead).toString(16).padStart(2, '0')})`);
    }
    // The same head as the last one parsed (a keep-alive client repeats its heads): taken without searching for its
    // end, and not parsed again.
    const known = lead === 0 ? lastRequestHead.head : undefined;
    let h = known !== undefined ? this.takeKnownHead(known) : null;
    let r: Readonly<RequestHead>;
    if (h !== null) r = lastRequestHead.parsed!;
    else {
      h = this.takeHead(lead);
      if (h === null) return null;
      r = parseRequestHead(h, lead);
    }
    const f = r.fields;
    if (f.hasTransferEncoding && !f.chunked) throw malformed('request Transfer-Encoding does not end in chunked (body length unknown)');
    const method = r.method;
    const connect = method === 'CONNECT';
    const keepAlive = r.minor === 1 ? !f.close : f.keepAlive && !f.close;
    const req: PendingRequest = {
      method,
      minor: r.minor,
      keepAlive,
      switching: connect || (f.upgrade && f.connectionUpgrade),
      expectContinue: f.expectContinue,
      bodyDone: false,
    };
    if (!keepAlive) this.state.keepAlive = false;
    this.state.pending.push(req);
    this.state.last = req;
    if (req.switching) this.state.switchWait = req;
    this.#current = req;
    let end = true;
    if (f.chunked) end = false;
    else if (f.contentLength > 0) end = false;
    if (!end) this.startBody(f.chunked, f.contentLength);
    else req.bodyDone = true;
    const attributes: Attributes = { method: upper(method), path: r.path, query: r.query, host: f.host, version: r.minor === 1 ? '1.1' : '1.0' };
    if (this.state.named) this.state.byAttributes.set(attributes, req);
    this.info = { start: true, end, attributes };
    return h;
  }
}
