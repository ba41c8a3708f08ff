/** One connection's Redis codec: the two framers over one shared state, and the error reply. */
import type { Attributes, ErrorReply, ErrorReplyRequest, ProtocolCodec } from '../protocol.js';
import type { RedisCodecOptions } from './framer-base.js';
import { RedisRequestFramer } from './request-framer.js';
import { RedisResponseFramer } from './response-framer.js';
import { RedisState } from './state.js';

export class RedisCodec implements ProtocolCodec {
  readonly toUpstream: RedisRequestFramer;
  readonly toDownstream: RedisResponseFramer;
  readonly #state = new RedisState();

  constructor(options: RedisCodecOptions) {
    this.toUpstream = new RedisRequestFramer(this.#state, options);
    this.toDownstream = new RedisResponseFramer(this.#state, options);
  }

  /** Forget the pending answer of the request whose start frame carried `attributes` (a router answers it elsewhere). */
  forget(attributes: Attributes): void {
    const st = this.#state;
    const rec = st.byAttributes.get(attributes);
    if (rec?.entry === undefined) return;
    const i = st.queue.lastIndexOf(rec.entry);
    if (i >= 0) st.queue.splice(i, 1);
    rec.entry = undefined;
  }

  errorReply(request: ErrorReplyRequest): ErrorReply {
    const st = this.#state;
    // the request named by its start attributes (later ones may have been framed since), else the last one
    const last = (request.request !== undefined ? st.byAttributes.get(request.request) : undefined) ?? st.last;
    let responses = 1;
    if (last !== undefined && !last.replaced) {
      last.replaced = true;
      responses = last.responses;
      if (last.entry) {
        const i = st.queue.lastIndexOf(last.entry);
        if (i >= 0) st.queue.splice(i, 1);
      }
    }
    // the client expects no reply (CLIENT REPLY OFF/SKIP, MONITOR mode, an empty command): sending one would shift
    // every later reply, so the request is just not answered
    if (responses === 0) return { frames: [], close: false };
    const prefix = String(request.status ?? 'ERR').replace(/[^\x21-\x7e]/g, '') || 'ERR';
    const message = request.message.replace(/[\r\n]+/g, ' ');
    return { frames: [Buffer.from(`-${prefix} ${message}\r\n`, 'utf8')], close: false };
  }
}
