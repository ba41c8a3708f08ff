/** One connection's memcached codec: the two framers over one shared state, and the error reply. */
import type { Attributes, ErrorReply, ErrorReplyRequest, ProtocolCodec, RefusalReason } from '../protocol.js';
import type { MemcacheCodecOptions } from './framer-base.js';
import { MemcacheRequestFramer } from './request-framer.js';
import { MemcacheResponseFramer } from './response-framer.js';
import { MemcacheState } from './state.js';

const ERROR_PREFIXES = new Set(['SERVER_ERROR', 'CLIENT_ERROR', 'ERROR']);
/** Refusals caused by the client's input: `CLIENT_ERROR` (the upstream's: `SERVER_ERROR`). */
const CLIENT_FAULTS: ReadonlySet<RefusalReason> = new Set<RefusalReason>(['malformed', 'too_large', 'header_timeout', 'request_timeout', 'too_slow']);

export class MemcacheCodec implements ProtocolCodec {
  readonly toUpstream: MemcacheRequestFramer;
  readonly toDownstream: MemcacheResponseFramer;
  readonly #state = new MemcacheState();

  constructor(options: MemcacheCodecOptions) {
    this.toUpstream = new MemcacheRequestFramer(this.#state, options);
    this.toDownstream = new MemcacheResponseFramer(this.#state, options);
  }

  /** The router will never see the answer to the request with these start attributes: drop its pending reply. */
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
        if (last.entry.kind === 'watch') st.watchRequested = false;
      }
    }
    // noreply / quiet / quit: the client reads no reply, so none is sent (one would be taken for the next reply)
    if (responses === 0) return { frames: [], close: false };
    const status =
      typeof request.status === 'string' && ERROR_PREFIXES.has(request.status)
        ? request.status
        : request.status === undefined && request.reason !== undefined && CLIENT_FAULTS.has(request.reason)
          ? 'CLIENT_ERROR'
          : 'SERVER_ERROR';
    const message = request.message.replace(/[\r\n]+/g, ' ');
    const line = status === 'ERROR' ? (message ? `ERROR ${message}` : 'ERROR') : `${status} ${message}`;
    return { frames: [Buffer.from(`${line}\r\n`, 'utf8')], close: false };
  }
}
