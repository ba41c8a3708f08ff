import type { Frame } from '../../framing/framer.js';
import type { MessageInfo } from '../protocol.js';
import type { HttpConnectionState } from './connection-state.js';
import { lastResponseHead, malformed, parseResponseHead, type ResponseHead } from './head.js';
import { HttpFramer, Mode, type HttpCodecOptions } from './message-framer.js';

const RESP_HEAD: MessageInfo = { start: true, end: false };
const RESP_WHOLE: MessageInfo = { start: true, end: true };
const UNSOL_HEAD: MessageInfo = { start: true, end: false, unsolicited: true };
const UNSOL_WHOLE: MessageInfo = { start: true, end: true, unsolicited: true };

/** Server → client. */
export class HttpResponseFramer extends HttpFramer {
  constructor(state: HttpConnectionState, options: HttpCodecOptions) {
    super(state, options, 'response');
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
      case Mode.Close:
        return this.closeFrame();
      default:
        return null;
    }
  }

  #head(): Frame | null {
    const buf = this.buf;
    if (buf.length === 0) return null;
    if (buf.byteAt(0) !== 0x48) throw malformed(`response does not start with "HTTP/" (first byte 0x${buf.byteAt(0).toString(16).padStart(2, '0')})`);
    // The same head as the last one parsed (the variants of a replicate route, a server's repeated answers): taken
    // without searching for its end, and not parsed again.
    const known = lastResponseHead.head;
    let h = known !== undefined ? this.takeKnownHead(known) : null;
    let r: ResponseHead;
    if (h !== null) r = lastResponseHead.parsed!;
    else {
      h = this.takeHead(0);
      if (h === null) return null;
      r = parseResponseHead(h);
    }
    const f = r.fields;
    const state = this.state;
    const status = r.status;
    if (status < 200) {
      if (status === 101) {
        // Switching Protocols: the final answer to an Upgrade request; a tunnel from here on
        const req = state.pending.shift();
        state.opaque = true;
        state.releaseSwitch();
        this.info = req ? RESP_WHOLE : UNSOL_WHOLE;
        return h;
      }
      this.info = UNSOL_WHOLE; // 100 Continue, 102, 103 Early Hints: interim, the request still waits
      return h;
    }
    const req = state.pending.shift();
    const unsolicited = req === undefined;
    this.unsolicitedMessage = unsolicited;
    if (req?.method === 'CONNECT' && status < 300) {
      state.opaque = true;
      state.releaseSwitch();
      this.info = RESP_WHOLE;
      return h;
    }
    // A final answer other than a switch (e.g. 200 to an Upgrade): the bytes held behind the request are HTTP again
    if (req !== undefined && req === state.switchWait) state.releaseSwitch();
    if (f.close || (r.minor === 0 && !f.keepAlive) || (req !== undefined && req.minor === 0 && !f.keepAlive)) {
      state.keepAlive = false;
      state.serverClose = true;
    }
    let end = false;
    if (req?.method === 'HEAD' || status === 204 || status === 304) end = true;
    else if (f.hasTransferEncoding) {
      if (f.chunked) this.startBody(true, 0);
      else this.#closeDelimited();
    } else if (f.contentLength >= 0) {
      if (f.contentLength === 0) end = true;
      else this.startBody(false, f.contentLength);
    } else this.#closeDelimited();
    this.info = unsolicited ? (end ? UNSOL_WHOLE : UNSOL_HEAD) : end ? RESP_WHOLE : RESP_HEAD;
    return h;
  }

  #closeDelimited(): void {
    this.mode = Mode.Close;
    this.state.keepAlive = false;
    this.state.serverClose = true;
  }
}
